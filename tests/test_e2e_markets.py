"""Sections 4 and 5 end to end: every simulated source, its markets summing to the seed endpoint."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from server.app import App
from server.config import Config
from server.venues import REGISTRY


@pytest.fixture
async def app() -> AsyncIterator[App]:
    service = App(
        Config(
            grpc_port=0,
            http_port=0,
            simulate=True,
            sources=tuple(REGISTRY),
            poll_interval_s=1.0,
            sim_seed=5,
            request_timeout_s=2.0,
        )
    )
    await service.start()
    yield service
    await service.stop()


async def get_json(session: aiohttp.ClientSession, url: str) -> dict[str, object]:
    async with session.get(url) as response:
        assert response.status == 200, await response.text()
        document: dict[str, object] = await response.json()
        return document


def cents(value: object) -> int:
    assert isinstance(value, float | int)
    return round(value * 100)


async def test_every_source_explained_and_summing_to_the_cent(app: App) -> None:
    base = f"http://127.0.0.1:{app.http_port}"
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + 30
        while True:
            assert time.monotonic() < deadline, "not every source listed BTC within 30 s"
            prepared = app.hub.latest
            btc = prepared.snapshot.symbols.get("BTC")
            if btc is not None and {v.source for v in btc.venues} == set(REGISTRY):
                break
            await asyncio.sleep(0.2)
        app.readings.close()  # hold the figures still: the three answers below must share one snapshot
        for task in app._tasks:
            task.cancel()
        seed = await get_json(session, f"{base}/v1/open-interest?symbol=BTC")
        markets = await get_json(session, f"{base}/v1/markets?symbol=BTC")
        stats = await get_json(session, f"{base}/v1/symbols?symbol=BTC")
    assert seed["timestamp"] == markets["timestamp"] == stats["timestamp"]
    exchanges = seed["data"]["exchanges"]  # type: ignore[index]
    listed = markets["data"]["markets"]  # type: ignore[index]
    assert {m["source"] for m in listed} == set(REGISTRY)
    for source, figures in exchanges.items():
        mine = [m for m in listed if m["source"] == source]
        assert sum(cents(m["oi_usd"]) for m in mine) == cents(figures["oi_usd"]), source
        assert all(m["raw"] is not None and m["convention"] for m in mine), source
    btc = stats["data"]["BTC"]  # type: ignore[index]
    total = cents(btc["total_oi_usd"])
    assert total == cents(seed["data"]["total_oi_usd"])  # type: ignore[index]
    assert sum(cents(v) for v in btc["by_margin"].values()) == total
    assert sum(cents(v) for v in btc["by_venue_type"].values()) == total
    assert btc["by_venue_type"]["dex"] > 0 and btc["by_margin"]["coin"] > 0
    assert 0 < btc["funding_coverage"] <= 1 and btc["funding_8h"] is not None
