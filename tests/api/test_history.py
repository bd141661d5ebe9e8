"""``GET /v1/history`` and gRPC ``GetHistory`` (API.md section 6) on real servers bound to port 0,
reading an in-memory store: the shape, order, limit and range, every 400, the 404, the 503 of a
failing store and of history switched off, the status endpoint, and hostile parameters."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

import aiohttp
import grpc
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.api.convert import PreparedSnapshot
from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.api.gen.openinterest.v1 import open_interest_pb2_grpc as pb_grpc
from server.api.grpc_service import OpenInterestService, add_open_interest_service
from server.api.history import HistoryAccess
from server.api.rest import RestRunner, build_app
from server.core.hub import SnapshotHub
from server.core.model import Snapshot
from server.history.model import Candle, Interval
from tests.api.test_openapi import validator
from tests.history.memory_store import MemoryStore

T0: Final = 1_709_636_400_000  # 11:00 UTC
HOUR: Final = 3_600_000
HOURS: Final = (0, 1, 2, 4, 5)  # hour 3 was never recorded: a gap


def candle(
    source: str, hour: int, *, usd: float, funded: bool = True, interval: Interval = Interval.H1
) -> Candle:
    return Candle(
        symbol="BTC",
        source=source,
        interval=interval,
        t=T0 + hour * HOUR,
        oi_usd_open=usd,
        oi_usd_high=usd + 200.004,
        oi_usd_low=usd - 100.0,
        oi_usd_close=usd + 100.0,
        close_at_ms=T0 + hour * HOUR + 3_599_000,
        oi_coins=157_000.25 if source == "" else None,
        price_usd=97_012.3,
        exchange_count=12 if source == "" else 1,
        funding_8h_sum=0.000336 if funded else 0.0,
        funding_samples=3 if funded else 0,
        samples=720,
    )


@dataclass
class Served:
    store: MemoryStore
    access: HistoryAccess
    rest: str
    session: aiohttp.ClientSession
    stub: pb_grpc.OpenInterestServiceStub


def filled_store() -> MemoryStore:
    store = MemoryStore()
    for hour in HOURS:
        for c in (
            candle("", hour, usd=15e9 + hour),
            candle("binance", hour, usd=5e9 + hour, funded=hour != 0),
            candle("", hour, usd=1.0, interval=Interval.M1),
        ):
            store.candles[(c.symbol, c.source, c.interval, c.t)] = c
    return store


async def serve(store: MemoryStore | None) -> AsyncIterator[Served]:
    hub: SnapshotHub[PreparedSnapshot] = SnapshotHub(PreparedSnapshot(Snapshot(built_at_ms=T0)))
    access = (
        HistoryAccess()
        if store is None
        else HistoryAccess(store, lambda: {"state": "ok", "store": "memory", "failures": 0})
    )
    runner = RestRunner(build_app(hub, history=access))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    server = grpc.aio.server()
    add_open_interest_service(server, OpenInterestService(hub, history=access))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with (
        aiohttp.ClientSession() as session,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        yield Served(
            store or MemoryStore(),
            access,
            f"http://127.0.0.1:{runner.addresses[0][1]}",
            session,
            pb_grpc.OpenInterestServiceStub(channel),
        )
    await server.stop(0.1)
    await runner.cleanup()


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    async for s in serve(filled_store()):
        yield s


@pytest.fixture
async def off() -> AsyncIterator[Served]:
    async for s in serve(None):
        yield s


async def get(served: Served, query: str) -> tuple[int, dict[str, object]]:
    async with served.session.get(f"{served.rest}/v1/history?{query}") as response:
        assert response.content_type == "application/json"
        return response.status, json.loads(await response.read())


def error_code(body: dict[str, object]) -> str:
    assert body["status"] == "error"
    error = body["error"]
    assert isinstance(error, dict)
    return str(error["code"])


async def test_the_shape_is_exactly_api_md(served: Served) -> None:
    status, body = await get(served, "symbol=btc&interval=1h")
    assert status == 200
    assert list(body) == ["status", "timestamp", "data"]
    assert body["status"] == "ok" and isinstance(body["timestamp"], int)
    data = body["data"]
    assert isinstance(data, dict)
    assert list(data) == ["symbol", "source", "interval", "candles"]
    assert (data["symbol"], data["source"], data["interval"]) == ("BTC", None, "1h")
    candles = data["candles"]
    assert isinstance(candles, list)
    assert [c["t"] for c in candles] == [T0 + h * HOUR for h in HOURS]  # ascending, the gap stays
    assert candles[0] == {
        "t": T0,
        "oi_usd": {"o": 15e9, "h": 15e9 + 200.0, "l": 15e9 - 100.0, "c": 15e9 + 100.0},
        "oi_coins": 157_000.25,
        "price_usd": 97_012.3,
        "funding_8h": pytest.approx(0.000112),
        "exchange_count": 12,
    }


async def test_a_source_an_alias_limit_and_range(served: Served) -> None:
    status, body = await get(served, "symbol=XBT&interval=1h&source=BINANCE")
    assert status == 200
    data = body["data"]
    assert isinstance(data, dict)
    assert (data["symbol"], data["source"]) == ("BTC", "binance")
    candles = data["candles"]
    assert isinstance(candles, list)
    assert candles[0]["funding_8h"] is None and candles[0]["oi_coins"] is None  # null, never 0
    assert candles[0]["exchange_count"] == 1

    _, body = await get(served, "symbol=BTC&interval=1h&limit=2")
    assert [c["t"] for c in body["data"]["candles"]] == [T0 + 4 * HOUR, T0 + 5 * HOUR]  # type: ignore[index]
    _, body = await get(served, f"symbol=BTC&interval=1h&start={T0 + HOUR}&end={T0 + 4 * HOUR}")
    assert [c["t"] for c in body["data"]["candles"]] == [T0 + h * HOUR for h in (1, 2, 4)]  # type: ignore[index]
    _, body = await get(served, f"symbol=BTC&interval=1h&start={T0 + HOUR}&end={T0 + HOUR}")
    assert len(body["data"]["candles"]) == 1  # type: ignore[index]
    # a huge range is fine: limit bounds the rows
    _, body = await get(served, "symbol=BTC&interval=1h&start=0&end=9999999999999999&limit=1000")
    assert len(body["data"]["candles"]) == 5  # type: ignore[index]
    # recorded symbol, nothing at this resolution or in this range: 200 with no candles
    status, body = await get(served, "symbol=BTC&interval=1d")
    assert status == 200 and body["data"]["candles"] == []  # type: ignore[index]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("interval=1h", "'symbol' is required"),
        ("symbol=BTC", "'interval' is required"),
        ("symbol=BTC&interval=2h", "unknown interval '2h'"),
        ("symbol=BTC&interval=1H", "unknown interval"),
        ("symbol=BT-C&interval=1h", "malformed symbol"),
        ("symbol=BTC&interval=1h&source=nasdaq", "unknown source 'nasdaq'"),
        ("symbol=BTC&interval=1h&start=5&end=4", "'start' (5) is after 'end' (4)"),
        ("symbol=BTC&interval=1h&start=abc", "'start' is not a whole number"),
        ("symbol=BTC&interval=1h&end=1.5", "'end' is not a whole number"),
        ("symbol=BTC&interval=1h&start=1e12", "'start' is not a whole number"),
        ("symbol=BTC&interval=1h&start=-1", "'start' must not be negative"),
        ("symbol=BTC&interval=1h&end=-1709636400000", "'end' must not be negative"),
        ("symbol=BTC&interval=1h&limit=1001", "'limit' must be 1-1000"),
        ("symbol=BTC&interval=1h&limit=1000000000", "'limit' must be 1-1000"),
        ("symbol=BTC&interval=1h&limit=0", "'limit' must be 1-1000"),
        ("symbol=BTC&interval=1h&limit=", "'limit' is not a whole number"),
        ("symbol=BTC&interval=1h&start=" + "9" * 40, "'start' is out of range"),
        ("symbol=BTC&interval=1h&interval=5m", "'interval' given more than once"),
        ("symbol=BTC&interval=1h&window=1h", "unknown query parameter 'window'"),
    ],
)
async def test_every_bad_request_is_a_400(served: Served, query: str, words: str) -> None:
    status, body = await get(served, query)
    assert status == 400
    assert error_code(body) == "INVALID_ARGUMENT"
    assert words in str(body["error"]["message"])  # type: ignore[index]


async def test_a_symbol_never_recorded_is_a_404(served: Served) -> None:
    status, body = await get(served, "symbol=DOGE&interval=1h")
    assert status == 404 and error_code(body) == "NOT_FOUND"
    assert "DOGE" in str(body["error"])


async def test_a_failing_store_is_a_503_and_the_rest_keeps_serving(served: Served) -> None:
    served.store.failing = "history store at 127.0.0.1:5432: connection refused"
    status, body = await get(served, "symbol=BTC&interval=1h")
    assert status == 503 and error_code(body) == "UNAVAILABLE"
    assert "connection refused" in str(body["error"])
    async with served.session.get(f"{served.rest}/v1/open-interest") as response:
        assert response.status == 200
    served.store.failing = None
    status, _ = await get(served, "symbol=BTC&interval=1h")
    assert status == 200


async def test_history_off_is_a_503_that_says_so(off: Served) -> None:
    status, body = await get(off, "symbol=BTC&interval=1h")
    assert status == 503 and error_code(body) == "UNAVAILABLE"
    assert "--history none" in str(body["error"])
    status, _ = await get(off, "symbol=BTC&interval=7h")
    assert status == 400  # validation first
    async with off.session.get(f"{off.rest}/v1/history/status") as response:
        body = json.loads(await response.read())
    assert body["data"] == {"state": "off", "store": "none"}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await off.stub.GetHistory(pb.GetHistoryRequest(symbol="BTC", interval="1h"))
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "--history none" in (caught.value.details() or "")


async def test_the_status_endpoint(served: Served) -> None:
    async with served.session.get(f"{served.rest}/v1/history/status") as response:
        assert response.status == 200
        body = json.loads(await response.read())
    assert body["status"] == "ok"
    assert body["data"] == {"state": "ok", "store": "memory", "failures": 0}
    async with served.session.get(f"{served.rest}/v1/history/status?x=1") as response:
        assert response.status == 400


async def test_grpc_get_history_matches_rest(served: Served) -> None:
    reply = await served.stub.GetHistory(
        pb.GetHistoryRequest(symbol="xbt", interval="1h", source="binance", start=T0 + HOUR, limit=2)
    )
    assert (reply.symbol, reply.source, reply.interval) == ("BTC", "binance", "1h")
    assert reply.HasField("source")
    assert [c.t for c in reply.candles] == [T0 + 4 * HOUR, T0 + 5 * HOUR]
    _, body = await get(served, f"symbol=xbt&interval=1h&source=binance&start={T0 + HOUR}&limit=2")
    for message, document in zip(reply.candles, body["data"]["candles"], strict=True):  # type: ignore[index]
        ohlc = document["oi_usd"]
        assert (message.oi_usd.o, message.oi_usd.h, message.oi_usd.l, message.oi_usd.c) == (
            ohlc["o"],
            ohlc["h"],
            ohlc["l"],
            ohlc["c"],
        )
        assert message.funding_8h == document["funding_8h"]
        assert not message.HasField("oi_coins") and document["oi_coins"] is None
        assert message.exchange_count == document["exchange_count"]
    aggregate = await served.stub.GetHistory(pb.GetHistoryRequest(symbol="BTC", interval="1h"))
    assert not aggregate.HasField("source") and len(aggregate.candles) == 5


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (pb.GetHistoryRequest(symbol="BTC", interval="3m"), grpc.StatusCode.INVALID_ARGUMENT),
        (pb.GetHistoryRequest(symbol="", interval="1h"), grpc.StatusCode.INVALID_ARGUMENT),
        (pb.GetHistoryRequest(symbol="BTC", interval="1h", start=-1), grpc.StatusCode.INVALID_ARGUMENT),
        (pb.GetHistoryRequest(symbol="BTC", interval="1h", start=9, end=8), grpc.StatusCode.INVALID_ARGUMENT),
        (pb.GetHistoryRequest(symbol="BTC", interval="1h", limit=1001), grpc.StatusCode.INVALID_ARGUMENT),
        (pb.GetHistoryRequest(symbol="BTC", interval="1h", limit=-5), grpc.StatusCode.INVALID_ARGUMENT),
        (pb.GetHistoryRequest(symbol="BTC", interval="1h", source="x"), grpc.StatusCode.INVALID_ARGUMENT),
        (pb.GetHistoryRequest(symbol="DOGE", interval="1h"), grpc.StatusCode.NOT_FOUND),
    ],
)
async def test_grpc_errors(served: Served, request_: pb.GetHistoryRequest, code: grpc.StatusCode) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.GetHistory(request_)
    assert caught.value.code() is code


async def test_grpc_unavailable_store(served: Served) -> None:
    served.store.failing = "database is locked"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.GetHistory(pb.GetHistoryRequest(symbol="BTC", interval="1h"))
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert caught.value.details() == "database is locked"


PARAM_NAMES: Final = ("symbol", "interval", "source", "start", "end", "limit", "x")
VALUES: Final = st.one_of(
    st.sampled_from(["BTC", "btc", "1m", "1h", "1d", "binance", "0", "-1", "1001", "1000000000", ""]),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.text(max_size=30),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.lists(st.tuples(st.sampled_from(PARAM_NAMES), VALUES), max_size=7))
async def test_hostile_parameters_get_json_answers(served: Served, params: list[tuple[str, str]]) -> None:
    query = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in params)
    status, body = await get(served, query)
    assert status in (200, 400, 404, 503)
    assert body["status"] == ("ok" if status == 200 else "error")
    if status == 200:
        assert len(body["data"]["candles"]) <= 1000  # type: ignore[index]


GRPC_ACCEPTABLE: Final = frozenset(
    {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE}
)
INT64: Final = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    symbol=st.sampled_from(["BTC", "xbt", "DOGE", ""]) | st.text(max_size=25),
    interval=st.sampled_from([i.value for i in Interval] + ["", "1H", "2h"]) | st.text(max_size=5),
    source=st.sampled_from(["", "binance", "okx"]) | st.text(max_size=15),
    start=st.none() | INT64,
    end=st.none() | INT64,
    limit=st.none() | st.integers(min_value=-(2**31), max_value=2**31 - 1),
)
async def test_hostile_grpc_requests_get_known_codes(
    served: Served,
    symbol: str,
    interval: str,
    source: str,
    start: int | None,
    end: int | None,
    limit: int | None,
) -> None:
    request = pb.GetHistoryRequest(symbol=symbol, interval=interval, source=source)
    for name, value in (("start", start), ("end", end), ("limit", limit)):
        if value is not None:
            setattr(request, name, value)
    try:
        reply = await served.stub.GetHistory(request, timeout=5)
    except grpc.aio.AioRpcError as error:
        assert error.code() in GRPC_ACCEPTABLE, (error.code(), error.details())
        assert "Traceback" not in (error.details() or "")
    else:
        assert len(reply.candles) <= 1000


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("symbol=BTC&interval=1h", "200"),
        ("symbol=BTC&interval=1h&source=binance&limit=2", "200"),
        ("symbol=BTC&interval=1d", "200"),
        ("symbol=DOGE&interval=1h", "404"),
        ("symbol=BTC&interval=1h&limit=0", "400"),
    ],
)
async def test_bodies_match_the_openapi_document(served: Served, query: str, status: str) -> None:
    got, body = await get(served, query)
    assert str(got) == status
    errors = [f"{e.instance_path}: {e.message}" for e in validator("/v1/history", status).iter_errors(body)]
    assert not errors, errors[:5]
    async with served.session.get(f"{served.rest}/v1/history/status") as response:
        status_body = json.loads(await response.read())
    assert validator("/v1/history/status").is_valid(status_body)
