from __future__ import annotations

import asyncio

import pytest

from server.core.hub import HubClosed, SnapshotHub


async def test_wait_newer_returns_latest_only() -> None:
    hub: SnapshotHub[str] = SnapshotHub("v0")
    for value in ("v1", "v2", "v3"):
        hub.publish(value)
    # a watcher that last saw version 1 gets version 3 at once, never 2 (conflation)
    assert await hub.wait_newer(1) == (3, "v3")


async def test_wait_newer_sleeps_until_publish() -> None:
    hub: SnapshotHub[str] = SnapshotHub("v0")
    waiter = asyncio.create_task(hub.wait_newer(0))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    hub.publish("v1")
    assert await asyncio.wait_for(waiter, 1) == (1, "v1")


async def test_cancelled_waiter_does_not_break_others() -> None:
    hub: SnapshotHub[int] = SnapshotHub(0)
    doomed = asyncio.create_task(hub.wait_newer(0))
    survivor = asyncio.create_task(hub.wait_newer(0))
    await asyncio.sleep(0)
    doomed.cancel()
    await asyncio.sleep(0)
    hub.publish(1)
    assert await asyncio.wait_for(survivor, 1) == (1, 1)


async def test_close_wakes_everyone() -> None:
    hub: SnapshotHub[int] = SnapshotHub(0)
    waiters = [asyncio.create_task(hub.wait_newer(0)) for _ in range(100)]
    await asyncio.sleep(0)
    hub.close()
    for waiter in waiters:
        with pytest.raises(HubClosed):
            await asyncio.wait_for(waiter, 1)
