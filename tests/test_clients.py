"""The Python client against a running service: library calls and the command line."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from clients.oi_client import OpenInterestClient
from server.app import App
from server.config import Config
from tests.test_tls import self_signed


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


async def run_cli(*args: str, stdout: int = asyncio.subprocess.PIPE) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "clients.oi_client",
        *args,
        stdout=stdout,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode is not None
    return process.returncode, (out or b"").decode(), err.decode()


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


@contextlib.contextmanager
def closed_pipe() -> Iterator[int]:
    """The writing end of a pipe nobody reads any more: what ``| head`` leaves once it has enough."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        yield write_end
    finally:
        os.close(write_end)


@pytest.mark.parametrize("command", [["get"], ["get", "--symbol", "BTC"], ["watch"], ["watch", "BTC"]])
async def test_a_reader_that_stops_early_ends_the_cli_quietly(app: App, command: list[str]) -> None:
    """``oi_client get | head``: the reader is gone before the output is written (here, before
    the client even starts: the same broken pipe, without the race)."""
    with closed_pipe() as stdout:
        code, _, err = await run_cli(f"--target=127.0.0.1:{app.grpc_port}", *command, stdout=stdout)
    assert (code, err) == (0, "")


async def test_cli_over_tls(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    service = App(
        Config(
            grpc_port=0,
            http_port=0,
            simulate=True,
            sources=("okx",),
            poll_interval_s=0.5,
            tls_cert=cert,
            tls_key=key,
        )
    )
    await service.start()
    try:
        deadline = time.monotonic() + 10
        while "BTC" not in service.hub.latest.by_symbol:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        target = f"--target=localhost:{service.grpc_port}"
        code, out, err = await run_cli(target, "--ca-file", str(cert), "get", "--symbol", "XBT")
        assert (code, err) == (0, "") and out.startswith("BTC") and "okx" in out
        with closed_pipe() as stdout:  # watch runs until its reader goes: it got a message over TLS
            code, _, err = await run_cli(
                target, "--tls", "--ca-file", str(cert), "watch", "BTC", stdout=stdout
            )
        assert (code, err) == (0, "")
        code, out, err = await run_cli(target, "--tls", "get")  # the system roots do not know our cert
        assert code == 1 and err.startswith("error: UNAVAILABLE") and "Traceback" not in err and not out
        code, out, err = await run_cli(target, "get")  # plaintext to a TLS port
        assert code == 1 and err.startswith("error: UNAVAILABLE") and "Traceback" not in err
        code, _, err = await run_cli(target, "--ca-file", str(tmp_path / "missing.pem"), "get")
        assert code == 2 and "no such file" in err
    finally:
        await service.stop()
