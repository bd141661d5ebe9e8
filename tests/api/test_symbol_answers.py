"""What both front doors answer for an alias (XBT is BTC), a bundle name (1000PEPE) and a symbol
asked for before any source delivered: the same on REST and gRPC, with the API.md status codes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import aiohttp
import grpc
import pytest
from aiohttp import web

from server.api.convert import PreparedSnapshot
from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.api.gen.openinterest.v1 import open_interest_pb2_grpc as pb_grpc
from server.api.grpc_service import OpenInterestService, add_open_interest_service
from server.api.rest import RestRunner, build_app
from server.core.hub import SnapshotHub
from server.core.model import Snapshot
from server.core.sources import SourceStatusView
from server.poll.status import SourceStatus
from tests.api.conftest import NOW, snapshot


@dataclass
class Doors:
    """Both front doors over one hub and one source board."""

    rest: str
    stub: pb_grpc.OpenInterestServiceStub

    async def rest_get(self, query: str, path: str = "/v1/open-interest") -> tuple[int, dict[str, object]]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.rest}{path}?{query}") as response,
        ):
            assert response.content_type == "application/json"
            body: dict[str, object] = await response.json()
            return response.status, body

    async def grpc_not_found(self, symbol: str) -> str:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await self.stub.GetOpenInterest(pb.GetOpenInterestRequest(symbol=symbol))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        return caught.value.details() or ""

    async def rest_not_found(self, symbol: str, path: str = "/v1/open-interest") -> str:
        status, body = await self.rest_get(f"symbol={symbol}", path)
        error = body["error"]
        assert status == 404 and isinstance(error, dict) and error["code"] == "NOT_FOUND"
        message: str = error["message"]
        return message


class Board:
    """A source board a test can change: what /v1/sources and ListSources would show."""

    def __init__(self) -> None:
        self.statuses = [SourceStatus("okx", poll_interval_s=1.0)]

    def __call__(self) -> Sequence[SourceStatusView]:
        return [s.view(now_ms=NOW, stale_after_ms=3_000) for s in self.statuses]


async def serve(hub: SnapshotHub[PreparedSnapshot], board: Board) -> AsyncIterator[Doors]:
    runner = RestRunner(build_app(hub, board))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    server = grpc.aio.server()
    add_open_interest_service(server, OpenInterestService(hub, board))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Doors(
                f"http://127.0.0.1:{runner.addresses[0][1]}", pb_grpc.OpenInterestServiceStub(channel)
            )
    finally:
        hub.close()
        await server.stop(0.5)
        await runner.cleanup()


@pytest.fixture
def board() -> Board:
    return Board()


@pytest.fixture
async def with_data(board: Board) -> AsyncIterator[Doors]:
    async for doors in serve(SnapshotHub(PreparedSnapshot(snapshot())), board):
        yield doors


@pytest.fixture
async def no_data(board: Board) -> AsyncIterator[Doors]:
    async for doors in serve(SnapshotHub(PreparedSnapshot(Snapshot(built_at_ms=NOW))), board):
        yield doors


@pytest.mark.parametrize("alias", ["XBT", "xbt", "Xbt"])
async def test_an_alias_answers_as_its_canonical_symbol_on_rest(with_data: Doors, alias: str) -> None:
    status, body = await with_data.rest_get(f"symbol={alias}")
    assert status == 200
    assert body == (await with_data.rest_get("symbol=BTC"))[1]
    data = body["data"]
    assert isinstance(data, dict) and data["symbol"] == "BTC" and len(data["exchanges"]) == 3


async def test_an_alias_answers_as_its_canonical_symbol_on_grpc(with_data: Doors) -> None:
    response = await with_data.stub.GetOpenInterest(pb.GetOpenInterestRequest(symbol="xbt"))
    assert [s.symbol for s in response.symbols] == ["BTC"]
    assert response == await with_data.stub.GetOpenInterest(pb.GetOpenInterestRequest(symbol="BTC"))


async def test_watch_resolves_aliases_and_merges_them_with_the_canonical_name(with_data: Doors) -> None:
    for symbols, expected in (
        (["XBT", "eth"], [("BTC", 3, 3), ("ETH", 2, 2)]),
        (["xbt", "BTC"], [("BTC", 3, 3)]),
    ):
        call = with_data.stub.WatchOpenInterest(pb.WatchOpenInterestRequest(symbols=symbols))
        first = await asyncio.wait_for(call.read(), 5)
        assert isinstance(first, pb.WatchOpenInterestResponse)
        assert [(s.symbol, s.exchange_count, len(s.exchanges)) for s in first.symbols] == expected
        call.cancel()


async def test_a_bundle_name_is_not_found_and_points_at_its_coin(with_data: Doors) -> None:
    for message in (await with_data.rest_not_found("1000pepe"), await with_data.grpc_not_found("1000PEPE")):
        assert message == (
            "unknown symbol '1000PEPE': no exchange reports it; 1000PEPE is a bundle of 1000 PEPE: "
            "ask for PEPE (oi_contracts in PEPE coins)"
        )


async def test_an_unknown_symbol_with_data_is_not_found(with_data: Doors) -> None:
    expected = "unknown symbol 'DOGE': no exchange reports it"
    assert await with_data.rest_not_found("doge") == expected
    assert await with_data.grpc_not_found("doge") == expected


async def test_before_any_source_delivered_the_answer_says_so(no_data: Doors) -> None:
    expected = (
        "no data for 'BTC': no source has delivered data yet; "
        "see GET /v1/sources (gRPC ListSources) for each source's error"
    )
    assert await no_data.rest_not_found("btc") == expected
    assert await no_data.grpc_not_found("btc") == expected
    assert await no_data.grpc_not_found("XBT") == expected  # the alias, resolved, in the message too


async def test_once_every_source_went_stale_the_answer_says_so(no_data: Doors, board: Board) -> None:
    board.statuses[0].succeeded(at_ms=NOW - 60_000, markets=1, skipped_rows=0, duration_ms=1)
    for message in (await no_data.rest_not_found("BTC"), await no_data.grpc_not_found("BTC")):
        assert message.startswith("no data for 'BTC': no source has fresh data; see GET /v1/sources")


async def test_every_symbol_query_says_alike_that_no_source_delivered(no_data: Doors) -> None:
    """/v1/markets and /v1/symbols (ListMarkets, GetSymbolStats) answer as /v1/open-interest."""
    expected = (
        "no data for 'BTC': no source has delivered data yet; "
        "see GET /v1/sources (gRPC ListSources) for each source's error"
    )
    for path in ("/v1/markets", "/v1/symbols"):
        assert await no_data.rest_not_found("xbt", path) == expected
    for call in (
        no_data.stub.ListMarkets(pb.ListMarketsRequest(symbol="XBT")),
        no_data.stub.GetSymbolStats(pb.GetSymbolStatsRequest(symbol="btc")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert (caught.value.code(), caught.value.details()) == (grpc.StatusCode.NOT_FOUND, expected)


async def test_markets_and_stats_resolve_aliases(with_data: Doors) -> None:
    status, body = await with_data.rest_get("symbol=XBT", "/v1/markets")
    assert status == 200 and body == (await with_data.rest_get("symbol=BTC", "/v1/markets"))[1]
    stats = await with_data.stub.GetSymbolStats(pb.GetSymbolStatsRequest(symbol="xbt"))
    assert [(s.symbol, s.exchange_count) for s in stats.symbols] == [("BTC", 3)]
    assert stats == await with_data.stub.GetSymbolStats(pb.GetSymbolStatsRequest(symbol="BTC"))
