"""The Python client against a running service: library calls and the command line."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator

import grpc
import pytest

from clients.oi_client import OpenInterestClient
from server.app import App
from server.config import Config


@pytest.fixture
async def app() -> AsyncIterator[App]:
    service = App(
        Config(grpc_port=0, http_port=0, simulate=True, sources=("okx", "bybit"), poll_interval_s=0.5)
    )
    await service.start()
    deadline = time.monotonic() + 10
    while (
        "BTC" not in service.hub.latest.by_symbol
        or service.hub.latest.by_symbol["BTC"].exchanges.__len__() < 2
    ):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    yield service
    await service.stop()


async def test_library_get_and_watch(app: App) -> None:
    async with OpenInterestClient(f"127.0.0.1:{app.grpc_port}") as client:
        everything = await client.get()
        assert "BTC" in [s.symbol for s in everything.symbols]
        btc = await client.get("btc")
        assert [e.exchange for e in btc.symbols[0].exchanges] and all(
            e.HasField("oi_contracts") for e in btc.symbols[0].exchanges
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.get("NOPE")
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        stamps = []
        async for update in client.watch(["BTC"]):
            stamps.append(update.timestamp)
            if len(stamps) == 2:
                break
        assert stamps[0] <= stamps[1]


async def run_cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "clients.oi_client",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_command_line(app: App) -> None:
    target = f"--target=127.0.0.1:{app.grpc_port}"
    code, out, _ = await run_cli(target, "get", "--symbol", "BTC")
    assert code == 0 and out.startswith("BTC") and "okx" in out and "bybit" in out and " USD" in out
    code, out, err = await run_cli(target, "get", "--symbol", "NOPE")
    assert code == 1 and "NOT_FOUND" in err and not out
    code, _, err = await run_cli(target, "get", "--symbol", "not/valid")
    assert code == 1 and "INVALID_ARGUMENT" in err


async def test_follow_keeps_the_newest_state_for_a_slow_consumer(app: App) -> None:
    async with OpenInterestClient(f"127.0.0.1:{app.grpc_port}") as client, client.follow(["BTC"]) as view:
        assert view.latest is not None and view.latest.symbols[0].symbol == "BTC"
        await asyncio.sleep(3)  # a slow consumer looks again much later ...
        newest = app.hub.latest.timestamp_ms
        assert view.latest.timestamp >= newest - 1000  # ... and sees the current state
        assert view.received >= 2
