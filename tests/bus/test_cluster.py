"""One collector, several API replicas, over a real NATS JetStream (API.md section 9): the split
works, replicas answer byte-identical JSON at the same version, and the faults of the issue
(NATS restarted, collector killed, replica started alone, undecodable values) leave replicas
serving honestly and resuming by themselves."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import grpc
import msgspec
import nats
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.api.gen.openinterest.v1 import open_interest_pb2_grpc as pb_grpc
from server.app import App
from server.bus.codec import FORMAT
from server.config import Config
from server.core.sources import SourceState
from server.history.model import Candle, Interval
from server.history.postgres import PostgresStore
from tests.bus.conftest import OwnNats
from tests.history.conftest import postgres_url

SOURCES = ("binance", "bybit", "okx")
ROOT = Path(__file__).resolve().parents[2]
IDENTICAL_PATHS = (
    "/v1/open-interest",
    "/v1/open-interest?symbol=BTC",
    "/v1/symbols",
    "/v1/symbols?symbol=ETH&explain=1",
    "/v1/markets?symbol=BTC",
    "/v1/signals?window=1m",
)


def collector_config(bus: str, bucket: str, interval_s: float = 1.0) -> Config:
    return Config(
        grpc_port=0,
        http_port=0,
        simulate=True,
        sources=SOURCES,
        poll_interval_s=interval_s,
        sim_seed=5,
        request_timeout_s=1.0,
        role="collector",
        bus=bus,
        bus_bucket=bucket,
    )


def replica_config(bus: str, bucket: str, interval_s: float = 1.0, history: str = "none") -> Config:
    return Config(
        grpc_port=0,
        http_port=0,
        poll_interval_s=interval_s,
        role="api",
        bus=bus,
        bus_bucket=bucket,
        history=history,
    )


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> float:
    """Wait until ``check`` holds; how long it took."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < timeout_s, f"not within {timeout_s} s: {what}"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def get(session: aiohttp.ClientSession, app: App, path: str) -> tuple[int, bytes]:
    async with session.get(f"http://127.0.0.1:{app.http_port}{path}") as response:
        return response.status, await response.read()


@contextlib.asynccontextmanager
async def running(config: Config) -> AsyncIterator[App]:
    app = App(config)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def health(app: App) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
        answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        return int(answer.status)


async def test_collector_and_two_replicas_answer_the_same_bytes(shared_nats: str, bucket: str) -> None:
    async with (
        running(replica_config(shared_nats, bucket, interval_s=2.0)) as first,
        running(replica_config(shared_nats, bucket, interval_s=2.0)) as second,
        aiohttp.ClientSession() as session,
    ):
        # replicas started before their collector: nothing on the bus yet, so not ready
        assert (await get(session, first, "/readyz"))[0] == 503
        assert await health(first) == health_pb2.HealthCheckResponse.NOT_SERVING
        collector = App(collector_config(shared_nats, bucket, interval_s=2.0))
        await collector.start()
        try:
            await eventually(
                lambda: _all_sources(first, collector), 20, "the first replica holds every source"
            )
            await eventually(
                lambda: _same_version(first, second, collector), 20, "replicas at the collector's version"
            )
            watched = await _watch_one_update(first)
            assert watched.exchanges, "a watch on a replica delivers updates"

            # the collector serves operations only, and says where the data is
            status, body = await get(session, collector, "/v1/open-interest")
            assert status == 404 and b"api replicas" in body
            assert (await get(session, collector, "/readyz"))[0] == 200
            metrics = (await get(session, collector, "/metrics"))[1].decode()
            assert "oi_bus_connected 1.0" in metrics
            assert _value(metrics, "oi_bus_messages_published_total") > 0
        finally:
            await collector.stop()  # no new versions from here: both replicas hold the last one

        await eventually(lambda: _same_version(first, second, None), 10, "both replicas at the last version")
        prepared = collector.hub.latest
        for path in IDENTICAL_PATHS:
            (status_a, body_a), (status_b, body_b) = [await get(session, r, path) for r in (first, second)]
            assert status_a == status_b == 200, (path, body_a[:200])
            assert body_a == body_b, f"{path}: replicas at one version differ"
        # and the very bytes the collector had prepared for that version
        assert (await get(session, first, "/v1/symbols"))[1] == prepared.symbols_json(None)
        replica_metrics = (await get(session, first, "/metrics"))[1].decode()
        assert _value(replica_metrics, "oi_bus_lag_seconds_count") > 0
        assert _value(replica_metrics, "oi_snapshot_version") == collector.hub.version
        assert await health(first) == health_pb2.HealthCheckResponse.SERVING


async def test_nats_restarted_replicas_keep_serving_then_resume_within_five_seconds(
    own_nats: OwnNats,
) -> None:
    await own_nats.start()
    bucket = "oi_restart"
    async with (
        running(collector_config(own_nats.url, bucket)) as collector,
        running(replica_config(own_nats.url, bucket)) as replica,
        aiohttp.ClientSession() as session,
    ):
        await eventually(lambda: _all_sources(replica, collector), 20, "replica holds every source")
        updates: list[float] = []
        stream_error: list[BaseException] = []
        watch = asyncio.create_task(_watch(replica, updates, stream_error))
        await eventually(lambda: _true(len(updates) >= 2), 10, "watch updates before the outage")

        own_nats.stop()
        stopped_at = time.monotonic()
        held = replica.follower.state.version if replica.follower else 0
        status, body = await get(session, replica, "/v1/open-interest?symbol=BTC")
        assert status == 200 and json.loads(body)["data"]["total_oi_usd"] > 0, "the last snapshot is served"
        # the data ages by its fetch time: after 3 poll intervals the sources are stale, never old-as-fresh
        await eventually(
            lambda: _states(session, replica, {SourceState.STALE}), 10, "sources stale in the outage"
        )
        assert time.monotonic() - stopped_at >= 2.0
        assert (await get(session, replica, "/readyz"))[0] == 200  # it still holds its snapshot

        await own_nats.start()
        back = time.monotonic()
        await eventually(
            lambda: _true(replica.follower is not None and replica.follower.state.version > held),
            5,
            "new versions",
        )
        await eventually(lambda: _states(session, replica, {SourceState.OK}), 5, "sources ok again")
        took = time.monotonic() - back
        count = len(updates)
        await eventually(lambda: _true(len(updates) > count), 5, "the watch stream carries on")
        assert not stream_error, stream_error
        assert not watch.done()
        assert took < 5.0
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)


async def test_a_killed_collector_is_taken_over_where_the_bus_left_off(shared_nats: str, bucket: str) -> None:
    async with running(replica_config(shared_nats, bucket)) as replica, aiohttp.ClientSession() as session:
        first = await _collector_process(shared_nats, bucket)
        try:
            await eventually(
                lambda: _true(replica.follower is not None and replica.follower.built), 20, "replica built"
            )
            await eventually(lambda: _states(session, replica, {SourceState.OK}), 20, "every source ok")
        finally:
            first.kill()
            await first.wait()
        assert replica.follower is not None
        left_at = replica.follower.state.version
        status, body = await get(session, replica, "/v1/open-interest")
        assert status == 200 and json.loads(body)["data"], "served after the collector died"
        await eventually(lambda: _states(session, replica, {SourceState.STALE}), 10, "aged out honestly")
        await eventually(lambda: _serving(replica, False), 5, "health NOT_SERVING")
        assert json.loads((await get(session, replica, "/v1/open-interest"))[1])["data"] == {}

        second = await _collector_process(shared_nats, bucket)
        try:
            await eventually(
                lambda: _states(session, replica, {SourceState.OK}), 20, "the new collector's data"
            )
            assert replica.follower.state.version > left_at, "versions continue, never go back"
            await eventually(lambda: _serving(replica, True), 5, "health SERVING again")
        finally:
            second.kill()
            await second.wait()


async def test_a_replica_started_while_the_collector_is_down_serves_what_the_bus_holds(
    shared_nats: str, bucket: str
) -> None:
    async with aiohttp.ClientSession() as session:
        async with running(collector_config(shared_nats, bucket, interval_s=2.0)) as collector:
            await eventually(
                lambda: _true(
                    collector.publisher is not None and bool(collector.publisher.published_version)
                ),
                20,
                "published",
            )
            await eventually(
                lambda: _true(len(collector.readings.counted()) == len(SOURCES)), 20, "all counted"
            )
            await asyncio.sleep(0.5)  # the publisher's next wake sends the last of them
            fetched = {s: r.fetched_at_ms for s, r in collector.readings.counted().items()}
        async with running(replica_config(shared_nats, bucket, interval_s=2.0)) as replica:
            await eventually(lambda: _ready(session, replica), 10, "ready from what the bus holds")
            body = json.loads((await get(session, replica, "/v1/open-interest?symbol=BTC"))[1])
            served = {s: v["updated_at"] for s, v in body["data"]["exchanges"].items()}
            assert served.items() <= {s: fetched[s] for s in served}.items(), (
                "true fetch times, not the replica's"
            )
            await eventually(lambda: _states(session, replica, {SourceState.STALE}), 10, "then ages out")
            assert (await get(session, replica, "/readyz"))[0] == 200


async def test_undecodable_values_are_counted_logged_once_and_skipped(
    shared_nats: str, bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        running(collector_config(shared_nats, bucket)) as collector,
        running(replica_config(shared_nats, bucket)) as replica,
        aiohttp.ClientSession() as session,
    ):
        await eventually(lambda: _all_sources(replica, collector), 20, "replica holds every source")
        nc = await nats.connect(shared_nats)
        try:
            newer = {"format": FORMAT + 1, "version": 10**9, "built_at_ms": 0, "published_at_ms": 0,
                     "counted": {}, "stale_after_ms": {}, "symbols": 0}  # fmt: skip
            # distinct keys: the bucket keeps one value per key, a replica may see only the last
            for key in ("reading.bybit", "reading.okx", "status.binance"):
                await nc.publish(f"$KV.{bucket}.{key}", b"\xc1 not msgpack")
            await nc.publish(f"$KV.{bucket}.snapshot", msgspec.msgpack.encode(newer))
            await nc.flush()
        finally:
            await nc.close()
        assert replica.follower is not None
        await eventually(
            lambda: _true(replica.follower is not None and replica.follower.skipped >= 4), 10, "skipped"
        )
        before = replica.follower.state.version
        await eventually(
            lambda: _true(replica.follower is not None and replica.follower.state.version > before),
            10,
            "follows on",
        )
        assert replica.follower.state.version < 10**9
        metrics = (await get(session, replica, "/metrics"))[1].decode()
        assert _value(metrics, "oi_bus_messages_skipped_total") >= 4
        logged = [r for r in caplog.records if "cannot be decoded" in r.getMessage()]
        # once per kind of key (reading, status, snapshot), however many values of that kind
        assert len(logged) == 3, [r.getMessage() for r in logged]
        assert (await get(session, replica, "/v1/open-interest"))[0] == 200


# --- helpers ----------------------------------------------------------------------------------


async def _true(value: bool) -> bool:
    return value


async def _serving(app: App, serving: bool) -> bool:
    wanted = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    return bool(await health(app) == wanted)


async def _ready(session: aiohttp.ClientSession, app: App) -> bool:
    return (await get(session, app, "/readyz"))[0] == 200


async def _all_sources(replica: App, collector: App) -> bool:
    follower = replica.follower
    return (
        follower is not None
        and follower.built
        and len(follower.state.fresh_sources(int(time.time() * 1000))) == len(SOURCES)
        and bool(collector.hub.latest.rows)
    )


async def _same_version(first: App, second: App, collector: App | None) -> bool:
    versions = {first.snapshot_version(), second.snapshot_version()}
    if collector is not None:
        versions.add(collector.hub.version)
    return len(versions) == 1 and 0 not in versions


async def _states(session: aiohttp.ClientSession, app: App, states: set[SourceState]) -> bool:
    status, body = await get(session, app, "/v1/sources")
    if status != 200:
        return False
    data = json.loads(body)["data"]
    return len(data) == len(SOURCES) and {SourceState(v["state"]) for v in data.values()} <= states


async def _watch_one_update(app: App) -> pb.SymbolOpenInterest:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
        call = pb_grpc.OpenInterestServiceStub(channel).WatchOpenInterest(
            pb.WatchOpenInterestRequest(symbols=["BTC"])
        )
        async for message in call:
            call.cancel()
            first: pb.SymbolOpenInterest = message.symbols[0]
            return first
    raise AssertionError("the watch ended without a message")


async def _watch(app: App, updates: list[float], errors: list[BaseException]) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
        call = pb_grpc.OpenInterestServiceStub(channel).WatchOpenInterest(pb.WatchOpenInterestRequest())
        try:
            async for _ in call:
                updates.append(time.monotonic())
        except grpc.aio.AioRpcError as error:
            errors.append(error)


def _value(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


async def _collector_process(bus: str, bucket: str) -> asyncio.subprocess.Process:
    """A collector in its own process (to be killed, not stopped)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        "--role",
        "collector",
        "--bus",
        bus,
        "--bus-bucket",
        bucket,
        "--simulate",
        "--sources",
        ",".join(SOURCES),
        "--poll-interval",
        "1",
        "--http-port",
        "0",
        "--history",
        "none",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=ROOT,
    )


# --- history from the shared PostgreSQL ---------------------------------------------------------


def minute_candle(t: int, oi_usd: float) -> Candle:
    return Candle(
        symbol="BTC",
        source="",
        interval=Interval.M1,
        t=t,
        oi_usd_open=oi_usd,
        oi_usd_high=oi_usd,
        oi_usd_low=oi_usd,
        oi_usd_close=oi_usd,
        close_at_ms=t + 59_000,
        oi_coins=None,
        price_usd=None,
        exchange_count=3,
        funding_8h_sum=0.0,
        funding_samples=0,
        samples=12,
    )


@contextlib.asynccontextmanager
async def scratch_database() -> AsyncIterator[str]:
    """A database of the test's own on the machine's PostgreSQL (``--history`` uses schema ``oi``
    in whatever database it names), dropped afterwards."""
    admin = postgres_url()
    name = f"oi_test_{os.urandom(6).hex()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def test_replicas_read_the_collectors_postgresql_history_and_503_when_it_is_down(
    shared_nats: str, bucket: str
) -> None:
    async with scratch_database() as url:
        store = PostgresStore(url)  # what a collector with --history URL writes through
        await store.open()
        minute = 60_000 * (int(time.time()) // 60 - 3)
        candles = [minute_candle(minute + i * 60_000, 1e9 + i) for i in range(3)]
        await store.upsert(candles)
        await store.close()
        async with (
            running(collector_config(shared_nats, bucket)) as collector,
            running(replica_config(shared_nats, bucket, history=url)) as reader,
            running(
                replica_config(shared_nats, bucket, history="postgresql://oi@127.0.0.1:9/gone")
            ) as cut_off,
            aiohttp.ClientSession() as session,
        ):
            await eventually(lambda: _all_sources(reader, collector), 20, "replica holds every source")
            status, body = await get(session, reader, "/v1/history?symbol=BTC&interval=1m")
            assert status == 200, body
            rows = json.loads(body)["data"]["candles"]
            assert [r["t"] for r in rows] == [c.t for c in candles]
            status_body = json.loads((await get(session, reader, "/v1/history/status"))[1])["data"]
            assert status_body["role"] == "reader" and status_body["state"] == "ok"

            await eventually(lambda: _all_sources(cut_off, collector), 20, "the other replica too")
            status, body = await get(session, cut_off, "/v1/history?symbol=BTC&interval=1m")
            assert status == 503 and json.loads(body)["status"] == "error"
            assert (await get(session, cut_off, "/v1/open-interest?symbol=BTC"))[
                0
            ] == 200  # live keeps serving
            async with grpc.aio.insecure_channel(f"127.0.0.1:{cut_off.grpc_port}") as channel:
                with pytest.raises(grpc.aio.AioRpcError) as raised:
                    await pb_grpc.OpenInterestServiceStub(channel).GetHistory(
                        pb.GetHistoryRequest(symbol="BTC", interval="1m"), timeout=10
                    )
                assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
