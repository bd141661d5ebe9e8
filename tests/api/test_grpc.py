"""The gRPC front door through a real channel: unary, watch (first message, changes, conflation),
status codes and reflection."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import descriptor_pool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from server.api.convert import PreparedSnapshot
from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.api.gen.openinterest.v1 import open_interest_pb2_grpc as pb_grpc
from server.api.grpc_service import OpenInterestService, add_open_interest_service
from server.core.hub import SnapshotHub
from tests.api.conftest import NOW, snapshot


async def test_get_all(stub: pb_grpc.OpenInterestServiceStub) -> None:
    response = await stub.GetOpenInterest(pb.GetOpenInterestRequest())
    assert response.timestamp == NOW
    assert [(s.symbol, s.exchange_count) for s in response.symbols] == [("BTC", 3), ("ETH", 2), ("PEPE", 1)]
    assert response.symbols[0].total_oi_usd == 8_301_000_000.01


async def test_get_one(stub: pb_grpc.OpenInterestServiceStub) -> None:
    response = await stub.GetOpenInterest(pb.GetOpenInterestRequest(symbol="btc"))
    (btc,) = response.symbols
    assert btc.symbol == "BTC"
    assert [(e.exchange, e.oi_usd, e.HasField("oi_contracts")) for e in btc.exchanges] == [
        ("binance", 5_200_000_000.0, True),
        ("bybit", 3_100_000_000.0, False),
        ("okx", 1_000_000.01, True),
    ]
    assert btc.exchanges[0].updated_at == NOW - 100_000


@pytest.mark.parametrize(
    ("symbol", "code", "fragment"),
    [
        ("DOGE", grpc.StatusCode.NOT_FOUND, "DOGE"),
        ("BTC-USD", grpc.StatusCode.INVALID_ARGUMENT, "malformed"),
        ("x" * 21, grpc.StatusCode.INVALID_ARGUMENT, "1-20"),
        (" ", grpc.StatusCode.INVALID_ARGUMENT, "malformed"),
        ("\u00e9\u0000", grpc.StatusCode.INVALID_ARGUMENT, "malformed"),
    ],
)
async def test_get_errors(
    stub: pb_grpc.OpenInterestServiceStub, symbol: str, code: grpc.StatusCode, fragment: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetOpenInterest(pb.GetOpenInterestRequest(symbol=symbol))
    assert caught.value.code() == code
    assert fragment in (caught.value.details() or "")


async def test_watch_invalid_symbol(stub: pb_grpc.OpenInterestServiceStub) -> None:
    call = stub.WatchOpenInterest(pb.WatchOpenInterestRequest(symbols=["BTC", "no/pe"]))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call.read()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_watch_first_message_then_changes_only(
    stub: pb_grpc.OpenInterestServiceStub, hub: SnapshotHub[PreparedSnapshot]
) -> None:
    call = stub.WatchOpenInterest(pb.WatchOpenInterestRequest(symbols=["btc"]))
    first = await asyncio.wait_for(call.read(), 2)
    assert isinstance(first, pb.WatchOpenInterestResponse)
    assert [s.symbol for s in first.symbols] == ["BTC"] and len(first.symbols[0].exchanges) == 3

    # a snapshot where nothing about BTC changed sends nothing ...
    hub.publish(PreparedSnapshot(snapshot(now=NOW + 1)))
    # ... a change to BTC does
    hub.publish(PreparedSnapshot(snapshot(now=NOW + 2, btc_binance_usd=42.0)))
    second = await asyncio.wait_for(call.read(), 2)
    assert isinstance(second, pb.WatchOpenInterestResponse)
    assert second.timestamp == NOW + 2
    assert (
        second.symbols[0].exchanges[-1].exchange == "binance"
        and second.symbols[0].exchanges[-1].oi_usd == 42.0
    )
    call.cancel()


async def test_watch_all_is_totals_only(stub: pb_grpc.OpenInterestServiceStub) -> None:
    call = stub.WatchOpenInterest(pb.WatchOpenInterestRequest())
    first = await asyncio.wait_for(call.read(), 2)
    assert isinstance(first, pb.WatchOpenInterestResponse)
    assert [s.symbol for s in first.symbols] == ["BTC", "ETH", "PEPE"] and not first.symbols[0].exchanges
    call.cancel()


async def test_slow_reader_gets_latest_not_backlog(
    stub: pb_grpc.OpenInterestServiceStub, hub: SnapshotHub[PreparedSnapshot]
) -> None:
    call = stub.WatchOpenInterest(pb.WatchOpenInterestRequest(symbols=["BTC"]))
    await asyncio.wait_for(call.read(), 2)
    for i in range(1, 201):  # 200 versions while the reader is not reading
        hub.publish(PreparedSnapshot(snapshot(now=NOW + i, btc_binance_usd=float(i))))
    received: list[int] = []
    while True:
        try:
            message = await asyncio.wait_for(call.read(), 0.5)
        except TimeoutError:
            break
        assert isinstance(message, pb.WatchOpenInterestResponse)
        received.append(message.timestamp)
    assert received[-1] == NOW + 200  # the newest state arrives
    assert len(received) < 20  # conflated: not one message per version
    call.cancel()


async def test_watch_ends_cleanly_at_shutdown(
    stub: pb_grpc.OpenInterestServiceStub, hub: SnapshotHub[PreparedSnapshot]
) -> None:
    call = stub.WatchOpenInterest(pb.WatchOpenInterestRequest())
    await asyncio.wait_for(call.read(), 2)
    hub.close()
    assert await asyncio.wait_for(call.read(), 2) is grpc.aio.EOF
    assert await call.code() == grpc.StatusCode.OK


def reflect(target: str) -> tuple[set[str], set[str], bool]:
    """What a grpcurl-style client learns with no proto files: services, methods, field presence."""
    with grpc.insecure_channel(target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        pool = descriptor_pool.DescriptorPool(database)
        service = pool.FindServiceByName("openinterest.v1.OpenInterestService")
        exchange = pool.FindMessageTypeByName("openinterest.v1.ExchangeOpenInterest")
        return (
            services,
            {m.name for m in service.methods},
            exchange.fields_by_name["oi_contracts"].has_presence,
        )


async def test_reflection_lists_and_describes(grpc_target: str) -> None:
    # the blocking reflection client runs in a thread, so the server's event loop keeps serving
    services, methods, has_presence = await asyncio.to_thread(reflect, grpc_target)
    assert {"openinterest.v1.OpenInterestService", "grpc.health.v1.Health"} <= services
    assert methods == {
        "GetOpenInterest",
        "WatchOpenInterest",
        "ListSources",
        "ListMarkets",
        "GetSymbolStats",
        "WatchSymbolStats",
        "GetHistory",
        "GetSignals",
        "WatchSignals",
    }
    assert has_presence


async def test_watch_stream_cap_is_resource_exhausted(hub: SnapshotHub[PreparedSnapshot]) -> None:
    server = grpc.aio.server()
    service = OpenInterestService(hub, max_watch_streams=3)
    add_open_interest_service(server, service)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.OpenInterestServiceStub(channel)
            calls = [stub.WatchOpenInterest(pb.WatchOpenInterestRequest()) for _ in range(3)]
            for call in calls:
                await asyncio.wait_for(call.read(), 2)
            extra = stub.WatchOpenInterest(pb.WatchOpenInterestRequest())
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await extra.read()
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            calls[0].cancel()
            deadline = asyncio.get_running_loop().time() + 2
            while service.watch_streams > 2:  # the cancelled stream frees its slot
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.01)
            again = stub.WatchOpenInterest(pb.WatchOpenInterestRequest())
            assert isinstance(await asyncio.wait_for(again.read(), 2), pb.WatchOpenInterestResponse)
    finally:
        await server.stop(0)


async def test_too_many_symbols_and_oversized_requests(stub: pb_grpc.OpenInterestServiceStub) -> None:
    call = stub.WatchOpenInterest(pb.WatchOpenInterestRequest(symbols=[f"S{i}" for i in range(1001)]))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call.read()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "too many symbols" in (
        caught.value.details() or ""
    )
    with pytest.raises(grpc.aio.AioRpcError) as too_big:
        await stub.GetOpenInterest(pb.GetOpenInterestRequest(symbol="x" * 200_000))
    assert too_big.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED)


async def test_list_sources(stub: pb_grpc.OpenInterestServiceStub) -> None:
    response = await stub.ListSources(pb.ListSourcesRequest())
    assert response.timestamp > 0 and list(response.sources) == []  # the bare fixture polls nothing
