"""The simulator's scenarios: set, listed and cleared over its control API; the drift compounds per
real-time minute on every venue listing the coin, and funding is held at the level asked for."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from server.sim.market import CORE_ASSETS, MarketWorld, Scenario
from server.sim.render import SIM_VENUES
from server.sim.server import SimCluster


@pytest.fixture
async def cluster() -> AsyncIterator[SimCluster]:
    sim = SimCluster(venues=["okx", "bybit", "hyperliquid"], seed=5)
    sim.frozen = True  # the test drives time itself
    await sim.start()
    yield sim
    await sim.stop()


def world() -> MarketWorld:
    assets = {a.symbol: a for a in CORE_ASSETS}
    result = MarketWorld(assets=assets, rng=random.Random(1))
    for venue in ("binance", "okx"):
        result.add_venue(
            venue, SIM_VENUES[venue].listings(CORE_ASSETS), venue_share=SIM_VENUES[venue].venue_share
        )
    return result


def btc(market: MarketWorld) -> list[tuple[float, float, float]]:
    return [
        (s.oi_base, s.price_usd, s.funding_8h)
        for states in market.venues.values()
        for s in states
        if s.listing.asset == "BTC"
    ]


def test_drift_compounds_per_minute_whatever_the_tick() -> None:
    market = world()
    market.set_scenario(Scenario(symbol="BTC", oi_pct_per_min=5, price_pct_per_min=-2, funding_8h=0.002))
    before = btc(market)
    assert before and all(f == 0.002 for _, _, f in before)  # funding set on every listing at once
    for _ in range(240):  # two minutes of half-second ticks
        market.drift(0.5)
        market.step()
    for (oi0, px0, _), (oi1, px1, funding) in zip(before, btc(market), strict=True):
        assert oi1 / oi0 == pytest.approx(1.05**2, rel=1e-9)
        assert px1 / px0 == pytest.approx(0.98**2, rel=1e-9)
        assert funding == 0.002  # held, not walked


def test_a_cleared_scenario_keeps_the_level_and_walks_again() -> None:
    market = world()
    market.set_scenario(Scenario(symbol="ETH", price_pct_per_min=10))
    market.drift(60)
    level = market.log_price["ETH"]
    assert market.clear_scenario("ETH") and not market.clear_scenario("ETH")
    market.step()
    assert market.log_price["ETH"] != level  # walking again ...
    assert abs(market.log_price["ETH"] - level) < 0.01  # ... around the level the drift reached


async def test_control_api_sets_lists_and_clears(cluster: SimCluster) -> None:
    async with aiohttp.ClientSession() as session:
        url = f"{cluster.control_url}/scenario"
        async with session.post(url, json={"symbol": "btc", "oi_pct_per_min": 5, "funding_8h": -0.002}) as r:
            assert r.status == 200
            assert await r.json() == {
                "symbol": "BTC",
                "oi_pct_per_min": 5.0,
                "price_pct_per_min": None,
                "funding_8h": -0.002,
            }
        async with session.post(url, json={"symbol": "ETH", "price_pct_per_min": 1}) as r:
            assert r.status == 200
        async with session.get(url) as r:
            assert [s["symbol"] for s in (await r.json())["scenarios"]] == ["BTC", "ETH"]
        before = {m["venue_symbol"]: m["oi_base"] for m in await markets(session, cluster, "okx")}
        cluster.world.drift(60)
        after = await markets(session, cluster, "okx")
        for m in after:
            if m["base"] == "BTC":  # in the venue's own listing, whatever its units
                assert m["oi_base"] / before[m["venue_symbol"]] == pytest.approx(1.05)
                assert m["funding_8h"] == -0.002
        async with session.delete(f"{url}/BTC") as r:
            assert r.status == 200 and await r.json() == {"cleared": ["BTC"]}
        async with session.delete(f"{url}/BTC") as r:
            assert r.status == 404
        async with session.delete(url) as r:
            assert await r.json() == {"cleared": ["ETH"]}
        async with session.get(url) as r:
            assert (await r.json())["scenarios"] == []


async def markets(session: aiohttp.ClientSession, cluster: SimCluster, venue: str) -> list[dict[str, Any]]:
    async with session.get(f"{cluster.control_url}/venues/{venue}/markets") as r:
        result: list[dict[str, Any]] = (await r.json())["markets"]
        return result


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        '{"symbol": "NOPE"}',
        '{"symbol": "BTC", "oi_pct_per_min": "5"}',
        '{"symbol": "BTC", "oi_pct_per_min": 500}',
        '{"symbol": "BTC", "funding_8h": 1}',
        '{"symbol": "BTC", "oi_pct_per_min": true}',
        '{"symbol": "BTC", "speed": 1}',
    ],
)
async def test_bad_scenarios_are_refused_with_one_line(cluster: SimCluster, body: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{cluster.control_url}/scenario", data=body) as r,
    ):
        assert r.status == 400
        assert isinstance((await r.json())["error"], str)
    assert cluster.world.scenarios == {}
