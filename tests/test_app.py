"""The whole service in-process against the simulator: health, data, a venue fault, shutdown."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.api.convert import PreparedSnapshot
from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.api.gen.openinterest.v1 import open_interest_pb2_grpc as pb_grpc
from server.api.grpc_service import OpenInterestService
from server.app import App
from server.config import Config
from server.core.hub import SnapshotHub
from server.core.model import Snapshot
from server.poll.poller import VenuePoller
from tests.support import simulated_app

SOURCES = ("binance", "bybit", "okx")
INTERVAL_S = 0.5


@pytest.fixture
async def app() -> AsyncIterator[App]:
    async with simulated_app(seed=3, sources=SOURCES, interval_s=INTERVAL_S) as service:
        yield service


async def until(condition: Callable[[], object], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def btc(session: aiohttp.ClientSession, app: App) -> dict[str, dict[str, float]]:
    async with session.get(f"http://127.0.0.1:{app.http_port}/v1/open-interest?symbol=BTC") as response:
        if response.status == 404:
            return {}
        body = await response.json()
        exchanges: dict[str, dict[str, float]] = body["data"]["exchanges"]
        return exchanges


async def test_health_turns_serving_with_data(app: App) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + 10
        while True:
            reply = await health.Check(
                health_pb2.HealthCheckRequest(service="openinterest.v1.OpenInterestService")
            )
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert app.readings.fresh_sources()


async def test_every_source_reports_btc_and_total_is_the_sum(app: App) -> None:
    async with aiohttp.ClientSession() as session:
        figures: dict[str, dict[str, float]] = {}

        async def refresh() -> None:
            figures.clear()
            figures.update(await btc(session, app))

        deadline = time.monotonic() + 10
        while set(figures) != set(SOURCES):
            assert time.monotonic() < deadline, figures
            await refresh()
            await asyncio.sleep(0.1)
        async with session.get(f"http://127.0.0.1:{app.http_port}/v1/open-interest?symbol=BTC") as response:
            data = (await response.json())["data"]
        assert round(data["total_oi_usd"] * 100) == sum(
            round(e["oi_usd"] * 100) for e in data["exchanges"].values()
        )
        assert all(e["oi_contracts"] > 0 for e in data["exchanges"].values())


async def test_a_failing_venue_keeps_its_last_good_figures_then_ages_out_and_recovers(app: App) -> None:
    assert app.sim is not None
    control = app.sim.control_url
    async with aiohttp.ClientSession() as session:
        figures: dict[str, dict[str, float]] = {}
        deadline = time.monotonic() + 10
        while set(figures) != set(SOURCES):
            assert time.monotonic() < deadline
            figures = await btc(session, app)
            await asyncio.sleep(0.1)

        async with session.post(
            f"{control}/faults", json={"venue": "bybit", "fault": "http_500"}
        ) as response:
            assert response.status == 200
        status = app.statuses["bybit"]
        await until(lambda: status.consecutive_failures >= 1)
        assert "HTTP 500" in (status.last_error or "") and "Traceback" not in (status.last_error or "")
        kept = app.readings.readings["bybit"]
        okx_before = app.readings.readings["okx"].fetched_at_ms
        await until(lambda: status.consecutive_failures >= 2)
        assert app.readings.readings["bybit"] is kept  # failed polls never replace the last good reading
        # the other venues carry on (waited for: on a loaded machine, okx's poll can take longer
        # than the gap between two of bybit's failed polls)
        await until(lambda: app.readings.readings["okx"].fetched_at_ms > okx_before)
        assert app.readings.readings["bybit"] is kept

        # stale after 3 intervals: bybit leaves BTC's exchanges and count
        deadline = time.monotonic() + 10
        while "bybit" in await btc(session, app):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        async with session.get(f"http://127.0.0.1:{app.http_port}/v1/open-interest") as response:
            assert (await response.json())["data"]["BTC"]["exchange_count"] == 2

        async with session.delete(f"{control}/faults/bybit") as response:
            assert response.status == 200
        cleared = time.monotonic()
        while "bybit" not in await btc(session, app):
            assert time.monotonic() < cleared + 10
            await asyncio.sleep(0.05)
        # back within two poll intervals (plus the 5xx retry backoff of the poll in flight)
        assert time.monotonic() - cleared < 2 * INTERVAL_S + 2.5


async def test_watch_streams_updates_and_ends_cleanly_on_stop() -> None:
    service = App(
        Config(grpc_port=0, http_port=0, simulate=True, sources=("okx",), poll_interval_s=0.3, sim_seed=1)
    )
    await service.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
            stub = pb_grpc.OpenInterestServiceStub(channel)
            call = stub.WatchOpenInterest(pb.WatchOpenInterestRequest(symbols=["BTC"]))
            stamps: list[int] = []
            while len(stamps) < 3:
                message = await asyncio.wait_for(call.read(), 5)
                assert isinstance(message, pb.WatchOpenInterestResponse)
                if message.symbols:
                    stamps.append(message.symbols[0].exchanges[0].updated_at)
            assert stamps == sorted(stamps) and len(set(stamps)) == 3  # moving values, in order
            stopping = asyncio.create_task(service.stop())
            assert await asyncio.wait_for(call.read(), 5) is grpc.aio.EOF
            assert await call.code() == grpc.StatusCode.OK
            await stopping
    finally:
        await service.stop()


async def test_watch_streams_send_their_end_before_grpc_shuts_down() -> None:
    """gRPC core closes a connection once its last stream is over after GOAWAY, which can cut off a
    status written at that moment (seen as UNAVAILABLE at 1 stream in 1,000 on a loaded machine):
    so every watch stream must have sent its final status before gRPC's shutdown starts."""
    async with simulated_app(seed=7, sources=("okx",), interval_s=0.3) as service:
        channels = [grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") for _ in range(4)]
        stubs = [pb_grpc.OpenInterestServiceStub(channel) for channel in channels]
        calls = [stubs[i % 4].WatchOpenInterest(pb.WatchOpenInterestRequest()) for i in range(40)]
        firsts = await asyncio.wait_for(asyncio.gather(*(call.read() for call in calls)), 10)
        assert all(isinstance(message, pb.WatchOpenInterestResponse) for message in firsts)
        assert service.service.unfinished_watches == 40
        server = service._grpc
        assert server is not None
        stop_grpc = server.stop
        unfinished_at_stop: list[int] = []

        async def recording_stop(grace: float | None) -> None:
            unfinished_at_stop.append(service.service.unfinished_watches)
            await stop_grpc(grace)

        server.stop = recording_stop
        await service.stop()
        assert unfinished_at_stop == [0]

        async def end(call: grpc.aio.UnaryStreamCall) -> grpc.StatusCode:
            while await call.read() is not grpc.aio.EOF:
                pass
            code: grpc.StatusCode = await call.code()
            return code

        codes = await asyncio.wait_for(asyncio.gather(*(end(call) for call in calls)), 10)
        assert set(codes) == {grpc.StatusCode.OK}
        for channel in channels:
            await channel.close()


class FakeContext:
    """The one part of a servicer context the watch bookkeeping uses."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[object], None]] = []

    def add_done_callback(self, callback: Callable[[object], None]) -> None:
        self.callbacks.append(callback)


async def test_waiting_for_watches_to_finish_is_bounded_and_counts_the_unfinished() -> None:
    hub: SnapshotHub[PreparedSnapshot] = SnapshotHub(PreparedSnapshot(Snapshot(built_at_ms=0)))
    service = OpenInterestService(hub)
    assert await service.watches_finished(0.01) == 0  # none open: at once
    contexts = [FakeContext(), FakeContext()]
    for context in contexts:
        service._watch_started(context)
    assert await service.watches_finished(0.05) == 2  # a stream that cannot end: the wait is bounded
    contexts[0].callbacks[0](contexts[0])
    assert await service.watches_finished(0.05) == 1
    waiting = asyncio.ensure_future(service.watches_finished(5))
    await asyncio.sleep(0.01)
    contexts[1].callbacks[0](contexts[1])
    assert await asyncio.wait_for(waiting, 1) == 0  # woken by the last end, not by the timeout


async def test_stop_completes_after_a_task_died_with_an_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def dying(self: VenuePoller) -> None:
        raise RuntimeError("poller bug")

    monkeypatch.setattr(VenuePoller, "run", dying)
    service = App(Config(grpc_port=0, http_port=0, sources=("okx",)))
    await service.start()
    try:
        # the dead task is reported when it dies, with its cause
        await until(lambda: any("poller bug" in r.getMessage() for r in caplog.records if r.name == "oi.app"))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
            stub = pb_grpc.OpenInterestServiceStub(channel)
            call = stub.WatchOpenInterest(pb.WatchOpenInterestRequest())
            assert isinstance(await asyncio.wait_for(call.read(), 5), pb.WatchOpenInterestResponse)
            await asyncio.wait_for(service.stop(), 10)  # does not re-raise the task's error
            assert await asyncio.wait_for(call.read(), 5) is grpc.aio.EOF
            assert await call.code() == grpc.StatusCode.OK  # the hub closed
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await pb_grpc.OpenInterestServiceStub(channel).GetOpenInterest(
                    pb.GetOpenInterestRequest(), timeout=2
                )
            assert failed.value.code() == grpc.StatusCode.UNAVAILABLE  # gRPC stopped
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientConnectionError):  # REST stopped
                await session.get(f"http://127.0.0.1:{service.http_port}/v1/open-interest")
    finally:
        await service.stop()


def test_numpy_is_imported_only_by_the_roles_that_compute_signals() -> None:
    # ~0.1 s of an api replica's start otherwise: it serves the collector's windows
    check = (
        "import sys; from server.app import App; from server.config import parse_config\n"
        "App(parse_config(['--role', 'api', '--bus', 'nats://127.0.0.1:4222'], environ={}))\n"
        "print('numpy' in sys.modules)\n"
        "app = App(parse_config([], environ={})); print('numpy' in sys.modules, app.signals is not None)\n"
    )
    root = Path(__file__).resolve().parents[1]
    run = [sys.executable, "-c", check]
    result = subprocess.run(run, capture_output=True, text=True, cwd=root, check=True)
    assert result.stdout.split() == ["False", "True", "True"]
