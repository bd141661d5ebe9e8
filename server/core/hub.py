"""The conflation point: the newest published value, its version, and a wake-up for watchers.

Watchers remember only the version they last saw. ``wait_newer(seen)`` returns at once when a
newer version exists, else sleeps until the next publish: a slow watcher that wakes at version
n+5 sees n+5 only, never a backlog (the shape of grpc health's ``Watch``). One ``asyncio.Event``
per version: publishing sets it and installs a fresh one, so waking N watchers costs O(N) and no
lock. ``close()`` wakes everyone for shutdown.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")


class HubClosed(Exception):
    """The hub is shutting down: watchers should end their streams."""


class SnapshotHub(Generic[T]):
    def __init__(self, initial: T) -> None:
        self._version = 0
        self._value = initial
        self._published = asyncio.Event()
        self._closed = False

    @property
    def version(self) -> int:
        return self._version

    @property
    def latest(self) -> T:
        return self._value

    @property
    def closed(self) -> bool:
        return self._closed

    def skip_to(self, version: int) -> None:
        """Continue numbering after ``version`` (a collector taking over from what the bus holds),
        without waking anyone."""
        self._version = max(self._version, version)

    def publish(self, value: T) -> int:
        """Make ``value`` the newest and wake every watcher; returns its version."""
        self._version += 1
        self._value = value
        published, self._published = self._published, asyncio.Event()
        published.set()
        return self._version

    async def wait_newer(self, seen_version: int) -> tuple[int, T]:
        """The newest (version, value) with version > ``seen_version``; raises HubClosed at shutdown."""
        while self._version <= seen_version:
            if self._closed:
                raise HubClosed
            await self._published.wait()
        if self._closed:
            raise HubClosed
        return self._version, self._value

    def close(self) -> None:
        self._closed = True
        self._published.set()
