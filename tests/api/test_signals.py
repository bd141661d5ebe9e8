"""API.md section 7 over both front doors: ``changes`` in /v1/symbols (with ``?explain=1``), the
/v1/signals screener and its filters, GetSignals and the conflating WatchSignals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

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
from server.core.model import Funding, MarketOI, Snapshot, VenueReading
from server.core.signal_book import SignalBook
from server.core.signals import Settings
from tests.api.test_openapi import validator

T0 = 1_800_000_000_000
STEP = 10_000
# symbol → (OI factor, price factor per minute, funding per 8 h)
MOVES: Mapping[str, tuple[float, float, float | None]] = {
    "BTC": (1.05, 1.02, 0.002),  # new longs, crowded longs
    "ETH": (1.03, 0.98, -0.002),  # new shorts, crowded shorts
    "SOL": (0.96, 1.02, 0.002),  # short covering (OI falling: not crowded)
    "XRP": (0.98, 0.99, None),  # long liquidation
    "DOGE": (1.10, 1.0, 0.0001),  # neutral (price flat)
}


def reading(source: str, at: int, minutes: float) -> VenueReading:
    return VenueReading(
        source=source,
        fetched_at_ms=at,
        markets=tuple(
            MarketOI(
                venue_symbol=f"{symbol}USDT",
                base=symbol,
                oi_base=1000.0 * oi**minutes,
                oi_usd=1000.0 * oi**minutes * 10.0 * px**minutes,
                price_usd=10.0 * px**minutes,
                funding=None if funding is None else Funding(rate=funding, interval_hours=8),
            )
            for symbol, (oi, px, funding) in MOVES.items()
        ),
    )


def snapshot_at(t: int, minutes: float | None = None) -> Snapshot:
    """Every symbol as its move makes it ``minutes`` after T0 (by default: at ``t``)."""
    minutes = (t - T0) / 60_000 if minutes is None else minutes
    readings = {s: reading(s, t, minutes) for s in ("binance", "okx")}
    return aggregate(readings, now_ms=t, stale_after_ms=dict.fromkeys(readings, 60_000))


def prepared_minute() -> tuple[SnapshotHub[PreparedSnapshot], SignalBook]:
    book = SignalBook(Settings(poll_interval_ms=STEP))
    hub: SnapshotHub[PreparedSnapshot] = SnapshotHub(PreparedSnapshot(Snapshot(built_at_ms=T0)))
    for t in range(T0, T0 + 60_001, STEP):
        snap = snapshot_at(t)
        hub.publish(PreparedSnapshot(snap, previous=hub.latest, changes=book.observe(snap)))
    return hub, book


@pytest.fixture
def hub() -> SnapshotHub[PreparedSnapshot]:
    return prepared_minute()[0]


@pytest.fixture
async def rest_url(hub: SnapshotHub[PreparedSnapshot]) -> AsyncIterator[str]:
    runner = RestRunner(build_app(hub))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
async def stub(hub: SnapshotHub[PreparedSnapshot]) -> AsyncIterator[pb_grpc.OpenInterestServiceStub]:
    server = grpc.aio.server()
    add_open_interest_service(server, OpenInterestService(hub))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield pb_grpc.OpenInterestServiceStub(channel)
    hub.close()
    await server.stop(0.5)


async def get(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, json.loads(await response.read())


EXPECTED = {
    "BTC": ("new_longs", "longs"),
    "ETH": ("new_shorts", "shorts"),
    "SOL": ("short_covering", None),
    "XRP": ("long_liquidation", None),
    "DOGE": ("neutral", None),
}


async def test_screener_rows_ordered_by_oi_move(rest_url: str) -> None:
    status, body = await get(f"{rest_url}/v1/signals?window=1m")
    assert status == 200
    rows = body["data"]
    assert isinstance(rows, list)
    assert {r["symbol"]: (r["signal"], r["crowding"]) for r in rows} == EXPECTED
    assert [r["symbol"] for r in rows] == ["DOGE", "BTC", "SOL", "ETH", "XRP"]  # |oi_pct| descending
    btc = next(r for r in rows if r["symbol"] == "BTC")
    assert btc["oi_pct"] == pytest.approx(5.0) and btc["price_pct"] == pytest.approx(2.0)
    assert btc["oi_usd_pct"] == pytest.approx(7.1)
    assert btc["funding_8h"] == 0.002 and btc["total_oi_usd"] > 0
    assert set(btc) == {
        "symbol",
        "oi_pct",
        "oi_usd_pct",
        "price_pct",
        "signal",
        "crowding",
        "funding_8h",
        "total_oi_usd",
    }


async def test_screener_filters_and_limit(rest_url: str) -> None:
    _, body = await get(f"{rest_url}/v1/signals?window=1m&signal=new_shorts")
    assert [r["symbol"] for r in body["data"]] == ["ETH"]
    _, body = await get(f"{rest_url}/v1/signals?window=1m&crowding=longs")
    assert [r["symbol"] for r in body["data"]] == ["BTC"]
    _, body = await get(f"{rest_url}/v1/signals?window=1m&limit=2")
    assert [r["symbol"] for r in body["data"]] == ["DOGE", "BTC"]
    _, body = await get(f"{rest_url}/v1/signals?window=1h")
    assert body["data"] == []  # no symbol has an hour of history: nobody, never zeros


@pytest.mark.parametrize(
    "query",
    [
        "",
        "window=2m",
        "window=1m&signal=bullish",
        "window=1m&crowding=both",
        "window=1m&limit=0",
        "window=1m&limit=x",
        "window=1m&window=5m",
        "window=1m&sort=oi",
    ],
)
async def test_screener_refuses_bad_queries(rest_url: str, query: str) -> None:
    status, body = await get(f"{rest_url}/v1/signals?{query}")
    assert status == 400
    assert body["status"] == "error" and body["error"]["code"] == "INVALID_ARGUMENT"


async def test_symbols_carry_changes_and_explain_on_request(rest_url: str) -> None:
    _, body = await get(f"{rest_url}/v1/symbols?symbol=BTC")
    changes = body["data"]["BTC"]["changes"]
    assert list(changes) == ["1m"]
    assert changes["1m"]["signal"] == "new_longs" and "explain" not in changes["1m"]
    _, body = await get(f"{rest_url}/v1/symbols?symbol=BTC&explain=1")
    explain = body["data"]["BTC"]["changes"]["1m"]["explain"]
    assert explain["now"] == T0 + 60_000 and explain["then"] == T0 and explain["oldest"] == T0
    assert explain["oi_coins"] == [pytest.approx(2000.0), pytest.approx(2100.0)]
    assert explain["price_usd"] == [pytest.approx(10.0), pytest.approx(10.2)]
    assert explain["coverage"] == 1.0 and explain["sources"] == 2
    status, _ = await get(f"{rest_url}/v1/symbols?explain=maybe")
    assert status == 400


@pytest.mark.parametrize("query", ["/v1/signals?window=1m", "/v1/symbols?explain=1", "/v1/symbols"])
async def test_bodies_match_the_openapi_schemas(rest_url: str, query: str) -> None:
    status, body = await get(rest_url + query)
    assert status == 200
    errors = [
        f"{e.instance_path}: {e.message}"
        for e in validator(query.split("?", maxsplit=1)[0]).iter_errors(body)
    ]
    assert not errors, errors[:5]


async def test_grpc_stats_carry_changes(stub: pb_grpc.OpenInterestServiceStub) -> None:
    response = await stub.GetSymbolStats(pb.GetSymbolStatsRequest(symbol="ETH"))
    (change,) = response.symbols[0].changes
    assert change.window == "1m" and change.signal == pb.SIGNAL_NEW_SHORTS
    assert change.crowding == pb.CROWDING_SHORTS
    assert change.then == T0 and change.now == T0 + 60_000 and change.sources == 2
    assert change.oi_coins_then == pytest.approx(2000.0) and change.coverage == 1.0
    sol = (await stub.GetSymbolStats(pb.GetSymbolStatsRequest(symbol="SOL"))).symbols[0].changes[0]
    assert not sol.HasField("crowding")


async def test_grpc_get_signals_and_errors(stub: pb_grpc.OpenInterestServiceStub) -> None:
    response = await stub.GetSignals(pb.GetSignalsRequest(window="1m"))
    assert {r.symbol: r.signal for r in response.signals} == {
        "BTC": pb.SIGNAL_NEW_LONGS,
        "ETH": pb.SIGNAL_NEW_SHORTS,
        "SOL": pb.SIGNAL_SHORT_COVERING,
        "XRP": pb.SIGNAL_LONG_LIQUIDATION,
        "DOGE": pb.SIGNAL_NEUTRAL,
    }
    assert response.timestamp == T0 + 60_000
    crowded = await stub.GetSignals(pb.GetSignalsRequest(window="1m", crowding=pb.CROWDING_LONGS))
    assert [r.symbol for r in crowded.signals] == ["BTC"]
    for bad in (
        pb.GetSignalsRequest(window="7m"),
        pb.GetSignalsRequest(),
        pb.GetSignalsRequest(window="1m", signal=pb.Signal.ValueType(42)),  # an enum value we never defined
    ):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.GetSignals(bad)
        assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_watch_signals_sends_when_a_label_changes_only() -> None:
    hub, book = prepared_minute()
    server = grpc.aio.server()
    add_open_interest_service(server, OpenInterestService(hub))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stream = pb_grpc.OpenInterestServiceStub(channel).WatchSignals(
                pb.WatchSignalsRequest(window="1m", symbols=["BTC", "DOGE"])
            )
            first = await asyncio.wait_for(stream.read(), 5)
            assert {r.symbol for r in first.signals} == {"BTC", "DOGE"}
            # the same moves go on: numbers change, labels do not, so nothing is sent ...
            snap = snapshot_at(T0 + 70_000)
            hub.publish(PreparedSnapshot(snap, previous=hub.latest, changes=book.observe(snap)))
            await asyncio.sleep(0.2)  # time for a wrongly sent message to be on its way
            # ... until a label changes: back to the figures of a minute ago, BTC is neutral
            flat = snapshot_at(T0 + 80_000, minutes=20_000 / 60_000)
            hub.publish(PreparedSnapshot(flat, previous=hub.latest, changes=book.observe(flat)))
            second = await asyncio.wait_for(stream.read(), 5)
            assert second.timestamp == T0 + 80_000
            labels = {r.symbol: r.signal for r in second.signals}
            assert labels == {"BTC": pb.SIGNAL_NEUTRAL, "DOGE": pb.SIGNAL_NEUTRAL}
            stream.cancel()
    finally:
        hub.close()
        await server.stop(0.5)
