"""An API replica's side of the bus: load the bucket's current state, then follow every update.

A JetStream key-value watcher first delivers the latest value of every key, then a ``None``
marker, then each new value as it is put (in the order the collector put them). The replica
builds its first snapshot at the marker, if what it holds is complete (``ReplicaState``), and a
new one at every later ``snapshot`` record of a version it has not built.

The watcher is recreated, from the current state again, whenever the connection is remade (a
restarted NATS forgets the consumer behind it) and when nothing at all has arrived for
``silence_s`` (the collector heartbeats every 2 s, so silence that long means a watcher that
stopped delivering, a known failure of KV watchers across server restarts); recreations back
off from 0.25 s to 5 s. A value that cannot be decoded is counted, logged once per kind of
failure, and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Final

from nats.errors import TimeoutError as NatsTimeout
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from server.bus.codec import SIGNALS, SnapshotMessage, Undecodable, decode
from server.bus.connection import BusConnection, next_entry, stop_watcher
from server.bus.replica import Built, ReplicaState
from server.core.metrics import Metrics

log = logging.getLogger("oi.bus")

SILENCE_S: Final = 10.0
RECREATE_BACKOFF_S: Final = (0.25, 5.0)
POLL_S: Final = 0.5  # how often the follower looks up from the watcher (connection changes)


def take(state: ReplicaState, key: str, value: bytes, operation: str | None) -> SnapshotMessage | None:
    """One entry of the bucket into ``state``; the ``snapshot`` record when it is one.
    Raises ``Undecodable``."""
    if operation in (KV_DEL, KV_PURGE):
        if key.startswith(SIGNALS):
            symbol = key.removeprefix(SIGNALS)
            state.changes.pop(bytes.fromhex(symbol[2:]).decode() if symbol.startswith("x.") else symbol, None)
        return None
    return state.apply(decode(key, value))


async def load_state(connection: BusConnection) -> ReplicaState:
    """Everything the bucket holds now (undecodable values skipped)."""
    kv = connection.kv
    state = ReplicaState()
    if kv is None:
        return state
    watcher = await kv.watchall()
    try:
        while (entry := await next_entry(watcher, 5.0)) is not None:
            with contextlib.suppress(Undecodable):
                take(state, entry.key, entry.value or b"", entry.operation)
    finally:
        await stop_watcher(watcher)
    return state


class BusFollower:
    def __init__(
        self,
        connection: BusConnection,
        *,
        clock_ms: Callable[[], int],
        on_built: Callable[[Built], None],
        metrics: Metrics,
        silence_s: float = SILENCE_S,
    ) -> None:
        self._bus = connection
        self._clock_ms = clock_ms
        self._on_built = on_built
        self._metrics = metrics
        self._silence_s = silence_s
        self.state = ReplicaState()
        self.loaded = False  # the bucket's state at start has been read (the watcher's marker)
        self.built = False  # a complete snapshot has been built
        self.skipped = 0
        self._logged: set[str] = set()

    async def run(self) -> None:
        delay, cap = RECREATE_BACKOFF_S
        while True:
            await self._bus.wait_connected()
            kv = self._bus.kv
            if kv is None:
                await asyncio.sleep(delay)
                continue
            started = asyncio.get_running_loop().time()
            try:
                await self._follow(kv, self._bus.epoch)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("bus watcher ended (recreating): %s: %s", type(error).__name__, error)
            if asyncio.get_running_loop().time() - started > cap:
                delay = RECREATE_BACKOFF_S[0]  # it had been working: no backoff
            await asyncio.sleep(delay)
            delay = min(cap, delay * 2)

    async def _follow(self, kv: KeyValue, epoch: int) -> None:
        watcher = await kv.watchall()
        heard = asyncio.get_running_loop().time()
        try:
            while self._bus.epoch == epoch and self._bus.connected:
                try:
                    entry = await next_entry(watcher, POLL_S)
                except NatsTimeout:
                    if asyncio.get_running_loop().time() - heard > self._silence_s:
                        log.warning("bus silent for %g s; recreating the watcher", self._silence_s)
                        return
                    continue
                heard = asyncio.get_running_loop().time()
                if entry is None:  # the state at start is all here
                    self.loaded = True
                    self._build()
                    continue
                try:
                    meta = take(self.state, entry.key, entry.value or b"", entry.operation)
                except Undecodable as error:
                    self._skip(entry.key, error)
                    continue
                new = meta is not None and (meta.version != self.state.version or not self.built)
                if new and self.loaded and meta is not None:
                    self._metrics.observe_bus_lag(max(0.0, (self._clock_ms() - meta.published_at_ms) / 1000))
                    self._build()
        finally:
            await stop_watcher(watcher)

    def _build(self) -> None:
        built = self.state.build()
        if built is None:
            return
        self.built = True
        self._on_built(built)

    def _skip(self, key: str, error: Undecodable) -> None:
        self.skipped += 1
        self._metrics.bus_skipped()
        kind = key.split(".", 1)[0]
        if kind not in self._logged:  # once per kind of key: a bad writer would flood the log
            self._logged.add(kind)
            log.error("bus: skipped a value that cannot be decoded (%s); counting further ones", error)

    def expire(self) -> None:
        """Age counted readings out by this replica's clock (the collector may have stopped)."""
        built = self.state.expire(self._clock_ms())
        if built is not None:
            self._on_built(built)
