"""The collector's side of the bus: every new snapshot version, and what it refers to, put in the
bucket in an order a replica can rely on.

One task publishes. ``offer`` hands it the newest frame (a frame it has not sent yet is replaced,
never queued: like a watch stream, the bus carries the newest state, not a backlog). Per wake it
sends, in this order: the source records that changed, the readings the frame counted that were
not sent yet, the signal windows that changed (a symbol gone is deleted), and last the
``snapshot`` record, the one message awaited for JetStream's acknowledgement; the others are
plain publishes on the same connection, so they are stored before it. Only changes are sent;
after a failure or a reconnection everything is sent again (what was put while NATS was away
may be lost). The ``snapshot`` record is re-sent every ``heartbeat_s`` even when nothing
changed: replicas see the collector alive and how far behind they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Final

from server.bus.codec import (
    Frame,
    ReadingMessage,
    SignalsMessage,
    StatusMessage,
    encode,
    key_of,
    symbol_key,
)
from server.bus.connection import BusConnection
from server.bus.follower import load_state
from server.bus.replica import ReplicaState
from server.core.metrics import Metrics
from server.core.model import VenueReading
from server.core.signals import Changes
from server.core.sources import SourceRecord

log = logging.getLogger("oi.bus")

HEARTBEAT_S: Final = 2.0
DELETE: Final = {"KV-Operation": "DEL"}


class BusPublisher:
    def __init__(
        self,
        connection: BusConnection,
        *,
        clock_ms: Callable[[], int],
        records: Callable[[], Iterable[SourceRecord]],
        metrics: Metrics,
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        self._bus = connection
        self._clock_ms = clock_ms
        self._records = records
        self._metrics = metrics
        self._heartbeat_s = heartbeat_s
        self._frame: Frame | None = None
        self._wake = asyncio.Event()
        self._epoch = 0
        self._sent_records: dict[str, SourceRecord] = {}
        self._sent_readings: dict[str, VenueReading] = {}
        self._sent_changes: dict[str, Changes] = {}
        self._failing: str | None = None
        self.published_version: int | None = None  # the last version JetStream acknowledged

    def offer(self, frame: Frame) -> None:
        self._frame = frame
        self._wake.set()

    async def load(self, timeout_s: float = 3.0) -> ReplicaState | None:
        """What the bus holds now (a collector taking over), or None when NATS does not answer
        within ``timeout_s`` (the collector then starts from nothing, as a single process does)."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._bus.wait_connected()
                return await load_state(self._bus)
        except TimeoutError:
            log.warning("bus: no state loaded within %g s; starting from nothing", timeout_s)
            return None

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._heartbeat_s):
                    await self._wake.wait()
            self._wake.clear()
            if not self._bus.connected:
                self._forget()
                continue
            if self._bus.epoch != self._epoch:
                self._epoch = self._bus.epoch
                self._forget()
            try:
                await self._publish()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._metrics.bus_publish_failed()
                self._forget()
                text = f"{type(error).__name__}: {error}".rstrip(": ")
                if text != self._failing:
                    log.error("bus publish failed (retrying): %s", text)
                    self._failing = text
                continue
            if self._failing is not None:
                log.info("bus publishing again")
                self._failing = None

    def _forget(self) -> None:
        """Send everything again on the next wake."""
        self._sent_records.clear()
        self._sent_readings.clear()
        self._sent_changes.clear()

    async def _publish(self) -> None:
        nc, js = self._bus.nc, self._bus.js
        if nc is None or js is None:
            return
        prefix = self._bus.subject_prefix
        sent = 0
        for record in self._records():
            if self._sent_records.get(record.source) != record:
                message = StatusMessage(record=record)
                await nc.publish(prefix + key_of(message), encode(message))
                self._sent_records[record.source] = record
                sent += 1
        frame = self._frame
        if frame is None:
            return
        for source, reading in frame.readings.items():
            if self._sent_readings.get(source) is not reading:
                message_r = ReadingMessage(reading=reading, stale_after_ms=frame.stale_after_ms[source])
                await nc.publish(prefix + key_of(message_r), encode(message_r))
                self._sent_readings[source] = reading
                sent += 1
        for symbol, changes in frame.changes.items():
            if self._sent_changes.get(symbol) is not changes:
                message_s = SignalsMessage(symbol=symbol, changes=changes)
                await nc.publish(prefix + key_of(message_s), encode(message_s))
                self._sent_changes[symbol] = changes
                sent += 1
        for symbol in [s for s in self._sent_changes if s not in frame.changes]:
            await nc.publish(prefix + symbol_key(symbol), b"", headers=DELETE)
            del self._sent_changes[symbol]
        # every wake ends with the snapshot record: a new version, or the heartbeat
        snapshot = frame.snapshot_message(self._clock_ms())
        await js.publish(prefix + key_of(snapshot), encode(snapshot))
        self._metrics.bus_published(sent + 1)
        self.published_version = frame.version
