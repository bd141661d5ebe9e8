"""`oi-server --simulate` as a user runs it: a real process, real clients, a real SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import grpc
import pytest

from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.api.gen.openinterest.v1 import open_interest_pb2_grpc as pb_grpc
from server.history.model import Interval
from server.history.sqlite import SqliteStore
from server.sim.market import CORE_ASSETS
from server.sim.render import SIM_VENUES
from server.venues import REGISTRY


@dataclass
class Running:
    process: asyncio.subprocess.Process
    grpc_port: int
    http_port: int
    control_url: str
    log: list[dict[str, object]]


async def start_server(*args: str) -> Running:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        "--grpc-port",
        "0",
        "--http-port",
        "0",
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        # history goes to its default (SQLite under --data-dir), in a folder of the test's own
        env={"OI_DATA_DIR": tempfile.mkdtemp(prefix="oi-e2e-"), **os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    log: list[dict[str, object]] = []
    deadline = time.monotonic() + 20
    while True:
        line = await asyncio.wait_for(process.stderr.readline(), max(0.1, deadline - time.monotonic()))
        assert line, f"server exited early: {log}"
        entry = json.loads(line)  # every log line is one JSON object
        log.append(entry)
        if entry["msg"] == "oi-server ready":
            break

    async def drain() -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            log.append(json.loads(raw))

    asyncio.get_running_loop().create_task(drain())
    return Running(process, int(entry["grpc_port"]), int(entry["http_port"]), str(entry["sim_control"]), log)


@pytest.fixture
async def server() -> AsyncIterator[Running]:
    running = await start_server("--simulate", "--poll-interval", "1", "--sim-seed", "11")
    yield running
    if running.process.returncode is None:
        running.process.kill()
        await running.process.wait()


async def test_all_sources_within_ten_seconds_then_sigterm(server: Running) -> None:
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        sources: set[str] = set()
        while sources != set(REGISTRY):
            assert time.monotonic() - started < 10, f"only {sorted(sources)} after 10 s"
            async with session.get(
                f"http://127.0.0.1:{server.http_port}/v1/open-interest?symbol=BTC"
            ) as response:
                if response.status == 200:
                    sources = set((await response.json())["data"]["exchanges"])
            await asyncio.sleep(0.2)
        async with session.get(f"http://127.0.0.1:{server.http_port}/v1/open-interest") as response:
            assert (await response.json())["data"]["BTC"]["exchange_count"] == len(REGISTRY)
        # ETH likewise, for every venue that lists ETH
        listing_eth = {
            v.id for v in SIM_VENUES.values() if any(x.asset == "ETH" for x in v.listings(CORE_ASSETS))
        }
        assert len(listing_eth) >= 15
        async with session.get(
            f"http://127.0.0.1:{server.http_port}/v1/open-interest?symbol=ETH"
        ) as response:
            assert set((await response.json())["data"]["exchanges"]) == listing_eth

    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = pb_grpc.OpenInterestServiceStub(channel)
        call = stub.WatchOpenInterest(pb.WatchOpenInterestRequest(symbols=["BTC", "ETH"]))
        first = await asyncio.wait_for(call.read(), 5)
        assert isinstance(first, pb.WatchOpenInterestResponse)
        assert [s.symbol for s in first.symbols] == ["BTC", "ETH"]

        sent = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        while (message := await asyncio.wait_for(call.read(), 5)) is not grpc.aio.EOF:
            assert isinstance(message, pb.WatchOpenInterestResponse)
        assert await call.code() == grpc.StatusCode.OK  # the stream ends cleanly
        assert await asyncio.wait_for(server.process.wait(), 5) == 0
        assert time.monotonic() - sent < 5
    assert not [e for e in server.log if e["level"] == "error"]


async def test_sigterm_writes_the_open_minute_of_history(tmp_path: Path) -> None:
    running = await start_server(
        "--simulate", "--sources", "okx", "--poll-interval", "1", "--data-dir", str(tmp_path)
    )
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 15
            while True:  # the first sample comes 5 s after start
                async with session.get(f"http://127.0.0.1:{running.http_port}/v1/history/status") as response:
                    status = (await response.json())["data"]
                if status["open_series"]:
                    break
                assert time.monotonic() < deadline, status
                await asyncio.sleep(0.2)
        assert status["state"] == "ok" and status["store"].endswith("history.sqlite3")
        sent = time.monotonic()
        running.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(running.process.wait(), 5) == 0
        assert time.monotonic() - sent < 5
    finally:
        if running.process.returncode is None:
            running.process.kill()
            await running.process.wait()
    store = SqliteStore(tmp_path / "history.sqlite3")
    await store.open()
    try:
        for source in ("", "okx"):
            minutes = await store.read(
                symbol="BTC", source=source, interval=Interval.M1, start_ms=None, end_ms=None, limit=10
            )
            assert minutes and minutes[-1].samples >= 1
            assert len(await store.since(Interval.D1, 0)) >= 2
    finally:
        await store.close()


async def test_sigint_exits_zero() -> None:
    running = await start_server("--simulate", "--sources", "okx", "--poll-interval", "1")
    running.process.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(running.process.wait(), 5) == 0


async def test_venue_url_points_a_source_at_a_standalone_simulator() -> None:
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.sim.cli", "--venues", "okx,bybit", stdout=asyncio.subprocess.PIPE
    )
    assert sim.stdout is not None
    urls: dict[str, str] = {}
    while len(urls) < 2:
        words = (await asyncio.wait_for(sim.stdout.readline(), 10)).decode().split()
        if words and words[0] == "venue":
            urls[words[1]] = words[2]
    running = await start_server(
        "--sources", "okx,bybit", "--poll-interval", "1", *(f"--venue-url={k}={v}" for k, v in urls.items())
    )
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 10
            while True:
                async with session.get(
                    f"http://127.0.0.1:{running.http_port}/v1/open-interest?symbol=ETH"
                ) as response:
                    if response.status == 200 and set((await response.json())["data"]["exchanges"]) == {
                        "okx",
                        "bybit",
                    }:
                        break
                assert time.monotonic() < deadline
                await asyncio.sleep(0.2)
    finally:
        running.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(running.process.wait(), 5) == 0
        sim.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(sim.wait(), 5) == 0
