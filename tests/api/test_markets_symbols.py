"""API.md sections 4, 5 and 8 over both front doors: every market explained, symbol statistics."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import grpc
import pytest
from aiohttp import web

from server.api.convert import PreparedSnapshot
from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.api.gen.openinterest.v1 import open_interest_pb2_grpc as pb_grpc
from server.api.grpc_service import OpenInterestService, add_open_interest_service
from server.api.rest import RestRunner, build_app
from server.core.aggregate import aggregate
from server.core.hub import SnapshotHub
from server.core.model import (
    ContractKind,
    Convention,
    Funding,
    MarketOI,
    PriceKind,
    Raw,
    RawUnit,
    Snapshot,
    VenueReading,
    VenueType,
)
from server.core.sources import SOURCE_IDS
from server.venues import REGISTRY

NOW = 1_709_640_000_000


def explained_snapshot(now: int = NOW) -> Snapshot:
    """Two sources of BTC with full provenance, one coin-margined, one DEX, one bundled PEPE."""
    bybit = VenueReading(
        source="bybit",
        fetched_at_ms=now - 2_000,
        markets=(
            MarketOI(
                venue_symbol="BTCUSDT",
                base="BTC",
                oi_base=24034.7745,
                oi_usd=2_331_375_529.984,
                price_usd=97000.1,
                raw=Raw("openInterest", "48069.549", RawUnit.BASE),
                convention=Convention.TWO_SIDED_HALVED,
                price_kind=PriceKind.MARK,
                funding=Funding(rate=0.0001, interval_hours=8, next_at_ms=1_709_654_400_000),
            ),
            MarketOI(
                venue_symbol="BTCUSD",
                base="BTC",
                oi_base=1000.0,
                oi_usd=97_000_100.004,
                price_usd=97000.1,
                kind=ContractKind.INVERSE,
                margin_asset="BTC",
                raw=Raw("openInterest", "194000200", RawUnit.USD),
                convention=Convention.TWO_SIDED_HALVED,
                price_kind=PriceKind.MARK,
                funding=Funding(rate=0.0002, interval_hours=4),
            ),
            MarketOI(
                venue_symbol="1000PEPEUSDT",
                base="PEPE",
                oi_base=2e12,
                oi_usd=9_000_000.0,
                price_usd=0.0000045,
                base_factor=1000.0,
                raw=Raw("openInterest", "4000000000", RawUnit.BASE),
                convention=Convention.TWO_SIDED_HALVED,
                price_kind=PriceKind.MARK,
            ),
        ),
    )
    avantis = VenueReading(
        source="avantis",
        fetched_at_ms=now - 1_000,
        venue_type=VenueType.DEX,
        markets=(
            MarketOI(
                venue_symbol="BTC/USD",
                base="BTC",
                oi_base=None,
                oi_usd=50_000_000.006,
                price_usd=None,
                margin_asset="USDC",
                raw=Raw("openInterest", "50000000.006", RawUnit.USD),
                convention=Convention.POOL_LONG_PLUS_SHORT,
                borrow_rate_1h=0.000017,
            ),
        ),
    )
    readings = {"bybit": bybit, "avantis": avantis}
    return aggregate(readings, now_ms=now, stale_after_ms=dict.fromkeys(readings, 60_000))


@pytest.fixture
def explained_hub() -> SnapshotHub[PreparedSnapshot]:
    return SnapshotHub(PreparedSnapshot(explained_snapshot()))


@pytest.fixture
async def rest(
    explained_hub: SnapshotHub[PreparedSnapshot],
) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    runner = RestRunner(build_app(explained_hub))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    async with aiohttp.ClientSession() as session:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", session
    await runner.cleanup()


async def get(rest: tuple[str, aiohttp.ClientSession], path: str) -> tuple[int, dict[str, object]]:
    url, session = rest
    async with session.get(url + path) as response:
        assert response.content_type == "application/json"
        return response.status, json.loads(await response.text())


def cents(value: object) -> int:
    assert isinstance(value, float | int)
    return round(value * 100)


async def test_markets_explain_every_figure(rest: tuple[str, aiohttp.ClientSession]) -> None:
    status, body = await get(rest, "/v1/markets?symbol=btc")
    assert status == 200 and body["timestamp"] == NOW
    data = body["data"]
    assert isinstance(data, dict) and data["symbol"] == "BTC"
    markets = data["markets"]
    assert [(m["source"], m["venue_symbol"]) for m in markets] == [
        ("bybit", "BTCUSDT"),
        ("bybit", "BTCUSD"),
        ("avantis", "BTC/USD"),
    ]
    first = markets[0]
    assert first == {
        "source": "bybit",
        "venue_symbol": "BTCUSDT",
        "venue_type": "cex",
        "kind": "linear",
        "margin_asset": "USDT",
        "margin_type": "stablecoin",
        "contract_size": None,
        "raw": {"field": "openInterest", "value": "48069.549", "unit": "base"},
        "convention": "two_sided_halved",
        "oi_contracts": 24034.7745,
        "oi_usd": 2_331_375_529.98,
        "price": {"usd": 97000.1, "kind": "mark"},
        # rate 0.0001 per 8 h: rate_8h = 0.0001; apr = 0.0001 × 8760 / 8 = 0.1095
        "funding": {
            "rate": 0.0001,
            "interval_hours": 8,
            "rate_8h": 0.0001,
            "apr": 0.1095,
            "next_at": 1_709_654_400_000,
        },
        "updated_at": NOW - 2_000,
    }
    inverse = markets[1]
    assert inverse["margin_type"] == "coin" and inverse["kind"] == "inverse"
    # 0.0002 per 4 h: rate_8h = 0.0002 × 8 / 4 = 0.0004; apr = 0.0002 × 8760 / 4 = 0.438
    assert inverse["funding"]["rate_8h"] == 0.0004 and inverse["funding"]["apr"] == 0.438
    pool = markets[2]
    assert pool["venue_type"] == "dex" and pool["convention"] == "pool_long_plus_short"
    assert pool["price"] is None and pool["funding"] is None and pool["oi_contracts"] is None
    assert pool["borrow_rate_1h"] == 0.000017


async def test_markets_sum_to_the_seed_endpoint_to_the_cent(rest: tuple[str, aiohttp.ClientSession]) -> None:
    _, markets = await get(rest, "/v1/markets?symbol=BTC")
    _, seed = await get(rest, "/v1/open-interest?symbol=BTC")
    exchanges = seed["data"]["exchanges"]  # type: ignore[index]
    for source in ("bybit", "avantis"):
        listed = [m for m in markets["data"]["markets"] if m["source"] == source]  # type: ignore[index]
        assert sum(cents(m["oi_usd"]) for m in listed) == cents(exchanges[source]["oi_usd"])


async def test_markets_of_one_source_and_a_bundled_price(rest: tuple[str, aiohttp.ClientSession]) -> None:
    status, body = await get(rest, "/v1/markets?symbol=PEPE&source=BYBIT")
    assert status == 200
    (pepe,) = body["data"]["markets"]  # type: ignore[index]
    # the price as sent for one 1000PEPE: 0.0000045 × 1000 = 0.0045 USD, the factor said
    assert pepe["price"] == {"usd": 0.0045, "kind": "mark", "base_factor": 1000.0}
    _, only_avantis = await get(rest, "/v1/markets?symbol=BTC&source=avantis")
    assert [m["source"] for m in only_avantis["data"]["markets"]] == ["avantis"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/markets", 400),
        ("/v1/markets?symbol=BTC&source=nowhere", 400),
        ("/v1/markets?symbol=BTC&source=bybit&source=okx", 400),
        ("/v1/markets?symbol=B-TC", 400),
        ("/v1/markets?symbol=BTC&x=1", 400),
        ("/v1/markets?symbol=DOGE", 404),
        ("/v1/symbols?symbol=DOGE", 404),
        ("/v1/symbols?symbol=%00", 400),
        ("/v1/symbols?window=1h", 400),
    ],
)
async def test_bad_queries_get_json_errors(
    rest: tuple[str, aiohttp.ClientSession], path: str, status: int
) -> None:
    got, body = await get(rest, path)
    assert got == status and body["status"] == "error"
    assert body["error"]["code"] == ("NOT_FOUND" if status == 404 else "INVALID_ARGUMENT")  # type: ignore[index]


async def test_symbols_statistics(rest: tuple[str, aiohttp.ClientSession]) -> None:
    status, body = await get(rest, "/v1/symbols")
    assert status == 200
    data = body["data"]
    assert isinstance(data, dict) and list(data) == ["BTC", "PEPE"]
    _, seed = await get(rest, "/v1/open-interest")
    btc = data["BTC"]
    assert btc["total_oi_usd"] == seed["data"]["BTC"]["total_oi_usd"]  # type: ignore[index]
    assert btc["exchange_count"] == 2
    total = cents(btc["total_oi_usd"])
    assert sum(cents(v) for v in btc["by_margin"].values()) == total
    assert sum(cents(v) for v in btc["by_venue_type"].values()) == total
    assert cents(btc["by_margin"]["coin"]) == 9_700_010_000  # the inverse market: 97,000,100.00 USD
    assert cents(btc["by_venue_type"]["dex"]) == 5_000_000_001  # avantis: 50,000,000.01 USD
    assert btc["total_oi_coins"] == 25034.7745
    usd_with_funding = 2_331_375_529.984 + 97_000_100.004
    all_usd = usd_with_funding + 50_000_000.006
    assert btc["coins_coverage"] == round(usd_with_funding / all_usd, 6)
    assert btc["funding_coverage"] == round(usd_with_funding / all_usd, 6)
    # OI-weighted per 8 h: (0.0001 × 2,331,375,529.984 + 0.0004 × 97,000,100.004) / 2,428,375,630 ≈ 0.00011198
    expected = (0.0001 * 2_331_375_529.984 + 0.0004 * 97_000_100.004) / usd_with_funding
    assert btc["funding_8h"] == pytest.approx(expected, abs=1e-10)
    assert btc["funding_apr"] == pytest.approx(expected * 1095, abs=1e-9)
    assert btc["price_usd"] == 97000.1  # both priced markets at 97,000.1
    _, one = await get(rest, "/v1/symbols?symbol=pepe")
    assert list(one["data"]) == ["PEPE"]  # type: ignore[call-overload]
    assert one["data"]["PEPE"]["funding_8h"] is None  # type: ignore[index]


@pytest.fixture
async def stub(
    explained_hub: SnapshotHub[PreparedSnapshot],
) -> AsyncIterator[pb_grpc.OpenInterestServiceStub]:
    server = grpc.aio.server()
    add_open_interest_service(server, OpenInterestService(explained_hub))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield pb_grpc.OpenInterestServiceStub(channel)
    explained_hub.close()
    await server.stop(0.5)


async def test_grpc_list_markets(stub: pb_grpc.OpenInterestServiceStub) -> None:
    response = await stub.ListMarkets(pb.ListMarketsRequest(symbol="btc"))
    assert response.symbol == "BTC" and response.timestamp == NOW
    first = response.markets[0]
    assert first.venue_symbol == "BTCUSDT" and first.convention == pb.CONVENTION_TWO_SIDED_HALVED
    assert first.raw.value == "48069.549" and first.raw.unit == pb.RAW_UNIT_BASE
    assert first.price.kind == pb.PRICE_KIND_MARK and first.funding.apr == pytest.approx(0.1095)
    assert first.funding.next_at == 1_709_654_400_000
    pool = response.markets[2]
    assert not pool.HasField("price") and not pool.HasField("funding") and not pool.HasField("oi_contracts")
    assert pool.venue_type == pb.VENUE_TYPE_DEX and pool.borrow_rate_1h == pytest.approx(0.000017)
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.ListMarkets(pb.ListMarketsRequest(symbol="DOGE"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await stub.ListMarkets(pb.ListMarketsRequest(symbol="BTC", source="nowhere"))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_grpc_symbol_stats_and_watch(
    stub: pb_grpc.OpenInterestServiceStub, explained_hub: SnapshotHub[PreparedSnapshot]
) -> None:
    everything = await stub.GetSymbolStats(pb.GetSymbolStatsRequest())
    assert [s.symbol for s in everything.symbols] == ["BTC", "PEPE"]
    btc = everything.symbols[0]
    assert btc.oi_usd_stablecoin_margined + btc.oi_usd_coin_margined == pytest.approx(
        btc.total_oi_usd, abs=0.001
    )
    assert btc.oi_usd_dex == pytest.approx(50_000_000.01)
    assert not everything.symbols[1].HasField("funding_8h")
    call = stub.WatchSymbolStats(pb.WatchSymbolStatsRequest(symbols=["BTC"]))
    first = await asyncio.wait_for(call.read(), 5)
    assert isinstance(first, pb.WatchSymbolStatsResponse) and [s.symbol for s in first.symbols] == ["BTC"]
    explained_hub.publish(PreparedSnapshot(explained_snapshot(NOW + 500)))  # same figures, new time
    explained_hub.publish(PreparedSnapshot(Snapshot(built_at_ms=NOW + 1_000)))  # BTC gone
    second = await asyncio.wait_for(call.read(), 5)
    assert isinstance(second, pb.WatchSymbolStatsResponse)
    assert second.timestamp == NOW + 1_000 and list(second.symbols) == []
    call.cancel()


def test_source_ids_are_the_registry() -> None:
    assert set(SOURCE_IDS) == set(REGISTRY)
