"""One connection to NATS and the key-value bucket the roles share.

nats-py reconnects by itself once connected, but not on the first attempt: ``run`` keeps trying
until the server answers (a collector or replica started before NATS waits for it rather than
failing), then opens the bucket, creating it if it does not exist. Every (re)connection bumps
``epoch``: a replica recreates its watcher and a collector republishes everything on a new epoch,
because a restarted server may have lost consumers and what was sent while it was away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final, cast
from urllib.parse import urlsplit

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue

log = logging.getLogger("oi.bus")

DEFAULT_BUCKET: Final = "oi_latest"
RECONNECT_WAIT_S: Final = 0.25  # between attempts after a disconnect (nats-py's own loop)
FIRST_CONNECT_BACKOFF_S: Final = (0.25, 2.0)  # before the first connection: doubling, capped
REQUEST_TIMEOUT_S: Final = 2.0


def check_bus_url(text: str) -> str:
    """``nats://HOST:PORT`` (or ``tls://``); ValueError with the reason otherwise."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("nats", "tls") or not parts.hostname:
        raise ValueError(f"{text!r} is not a NATS URL (nats://HOST:PORT)")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError(f"{text!r} has a port that is not a number") from None
    return text.strip()


def bucket_config(bucket: str) -> KeyValueConfig:
    """Latest value per key only, on disk (a restarted NATS still has the last state for a
    replica started while the collector is down)."""
    return KeyValueConfig(bucket=bucket, history=1, storage=StorageType.FILE)


class BusConnection:
    def __init__(self, url: str, *, bucket: str = DEFAULT_BUCKET, name: str = "oi-service") -> None:
        self.url = url
        self.bucket = bucket
        self.subject_prefix = f"$KV.{bucket}."
        self._name = name
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.kv: KeyValue | None = None
        self.epoch = 0
        self._connected = asyncio.Event()
        self._closing = False
        self._last_error: str | None = None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def _set(self, connected: bool) -> None:
        if connected:
            self.epoch += 1
            self._connected.set()
        else:
            self._connected.clear()

    async def run(self) -> None:
        """Connect (retrying until NATS answers) and open the bucket; then nats-py keeps it."""
        delay, cap = FIRST_CONNECT_BACKOFF_S
        while not self._closing:
            try:
                await self._connect()
                return
            except Exception as error:
                text = f"{type(error).__name__}: {error}".rstrip(": ")
                if text != self._last_error:
                    log.error("bus %s unreachable, retrying: %s", self.url, text)
                    self._last_error = text
                await self._drop()
            await asyncio.sleep(delay)
            delay = min(cap, delay * 2)

    async def _connect(self) -> None:
        self.nc = await nats.connect(
            self.url,
            name=self._name,
            connect_timeout=REQUEST_TIMEOUT_S,
            reconnect_time_wait=RECONNECT_WAIT_S,
            max_reconnect_attempts=-1,
            allow_reconnect=True,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )
        self.js = self.nc.jetstream(timeout=REQUEST_TIMEOUT_S)
        try:
            self.kv = await self.js.key_value(self.bucket)
        except (BucketNotFoundError, NotFoundError):
            self.kv = await self.js.create_key_value(bucket_config(self.bucket))
        self._last_error = None
        log.info("bus connected", extra={"bus": self.url, "bucket": self.bucket})
        self._set(True)

    async def _on_error(self, error: Exception) -> None:
        text = f"{type(error).__name__}: {error}".rstrip(": ")
        if text != self._last_error:
            log.warning("bus %s: %s", self.url, text)
            self._last_error = text

    async def _on_disconnected(self) -> None:
        if not self._closing and self.connected:
            log.warning("bus disconnected; reconnecting", extra={"bus": self.url})
        self._set(False)

    async def _on_reconnected(self) -> None:
        log.info("bus reconnected", extra={"bus": self.url})
        self._last_error = None
        self._set(True)

    async def _drop(self) -> None:
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.close()
        self.nc = None
        self.js = None
        self.kv = None

    async def close(self) -> None:
        self._closing = True
        self._connected.clear()
        await self._drop()


async def next_entry(watcher: KeyValue.KeyWatcher, timeout_s: float) -> KeyValue.Entry | None:
    """The watcher's next entry (None: the state at start is all delivered); nats-py's
    ``TimeoutError`` after ``timeout_s``. (Typed here once: nats-py's watcher is not.)"""
    entry = await watcher.updates(timeout_s)  # type: ignore[no-untyped-call]
    return cast("KeyValue.Entry | None", entry)


async def stop_watcher(watcher: KeyValue.KeyWatcher) -> None:
    with contextlib.suppress(Exception):
        await watcher.stop()  # type: ignore[no-untyped-call]
