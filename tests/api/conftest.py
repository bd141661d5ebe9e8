"""Both front doors over a hub with known figures, on real servers bound to port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from aiohttp import web

from server.api.convert import PreparedSnapshot
from server.api.gen.openinterest.v1 import open_interest_pb2_grpc as pb_grpc
from server.api.grpc_service import OpenInterestService, add_health_and_reflection, add_open_interest_service
from server.api.rest import RestRunner, build_app
from server.core.aggregate import aggregate
from server.core.hub import SnapshotHub
from server.core.model import MarketOI, Snapshot, VenueReading

NOW = 1_709_640_000_000


def reading(source: str, at: int, *markets: tuple[str, float | None, float]) -> VenueReading:
    return VenueReading(
        source=source,
        fetched_at_ms=at,
        markets=tuple(
            MarketOI(venue_symbol=f"{base}{i}", base=base, oi_base=coins, oi_usd=usd, price_usd=None)
            for i, (base, coins, usd) in enumerate(markets)
        ),
    )


def snapshot(now: int = NOW, btc_binance_usd: float = 5_200_000_000.004) -> Snapshot:
    readings = {
        "binance": reading(
            "binance", now - 100_000, ("BTC", 73_239.5, btc_binance_usd), ("ETH", 1_000.0, 3_000_000.0)
        ),
        "bybit": reading("bybit", now - 150_000, ("BTC", None, 3_100_000_000.0), ("ETH", 500.0, 1_500_000.0)),
        "okx": reading(
            "okx", now - 1_000, ("BTC", 10.123456789, 1_000_000.0055), ("PEPE", 1e12, 4_400_000.0)
        ),
    }
    return aggregate(readings, now_ms=now, stale_after_ms=dict.fromkeys(readings, 3_600_000))


@pytest.fixture
def hub() -> SnapshotHub[PreparedSnapshot]:
    return SnapshotHub(PreparedSnapshot(snapshot()))


@pytest.fixture
async def rest_url(hub: SnapshotHub[PreparedSnapshot]) -> AsyncIterator[str]:
    runner = RestRunner(build_app(hub))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
async def grpc_target(hub: SnapshotHub[PreparedSnapshot]) -> AsyncIterator[str]:
    server = grpc.aio.server()
    add_open_interest_service(server, OpenInterestService(hub))
    add_health_and_reflection(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    hub.close()
    await server.stop(0.5)


@pytest.fixture
async def stub(grpc_target: str) -> AsyncIterator[pb_grpc.OpenInterestServiceStub]:
    async with grpc.aio.insecure_channel(grpc_target) as channel:
        yield pb_grpc.OpenInterestServiceStub(channel)
