"""The Node.js client (clients/node) against the real service on the simulator: its own
``node --test`` suite passes, and its example prints BTC's figures."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from server.app import App
from server.config import Config

pytestmark = pytest.mark.asyncio(loop_scope="module")

NODE_DIR = Path(__file__).resolve().parents[1] / "clients" / "node"
SOURCES = ("binance", "bybit", "okx")


def tool(name: str) -> str:
    """The path of ``node`` or ``npm``: the README lists Node 20+ and npm among a machine's needs."""
    path = shutil.which(name)
    assert path, f"{name} not found on PATH: the Node client's test needs Node 20+ and npm"
    return path


@pytest.fixture(scope="module", autouse=True)
def node_packages() -> None:
    """``npm ci`` from the committed lockfile, unless node_modules already holds what it pins (``make
    test`` installs it first; this keeps a bare ``pytest`` on a fresh checkout working too)."""
    installed = NODE_DIR / "node_modules" / ".package-lock.json"
    lock = NODE_DIR / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    subprocess.run(
        [tool("npm"), "ci", "--silent", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=600
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app() -> AsyncIterator[App]:
    service = App(
        Config(grpc_port=0, http_port=0, simulate=True, sources=SOURCES, poll_interval_s=1.0, sim_seed=5)
    )
    await service.start()
    deadline = time.monotonic() + 15
    while len(getattr(service.hub.latest.by_symbol.get("BTC"), "exchanges", ())) < len(SOURCES):
        assert time.monotonic() < deadline, "BTC not reported by every simulated source within 15 s"
        await asyncio.sleep(0.05)
    yield service
    await service.stop()


async def run_node(app: App, *args: str, timeout_s: float = 90) -> tuple[int, str]:
    """Run node in clients/node with the service's address in OI_GRPC_TARGET; asynchronously, since
    the service answers from this very event loop. Returns the exit code and stdout + stderr."""
    process = await asyncio.create_subprocess_exec(
        tool("node"),
        *args,
        cwd=NODE_DIR,
        env={**os.environ, "OI_GRPC_TARGET": f"127.0.0.1:{app.grpc_port}"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"node {' '.join(args)} still running after {timeout_s} s") from None
    assert process.returncode is not None
    return process.returncode, out.decode()


def tap_counts(output: str) -> dict[str, int]:
    """The closing counts of node's TAP reporter: ``# tests 8``, ``# pass 8``, ``# fail 0``, ..."""
    return {key: int(value) for key, value in re.findall(r"^# (\w+) (\d+)$", output, re.MULTILINE)}


async def test_node_test_suite_passes(app: App) -> None:
    code, output = await run_node(app, "--test", "--test-reporter=tap", "test/client.test.js")
    counts = tap_counts(output)
    tail = output[-3000:]
    assert code == 0, f"node --test failed:\n{tail}"
    # 8 tests: get (one, all, errors), watch, listMarkets, getSymbolStats, watchSymbolStats, listSources
    assert counts.get("tests", 0) >= 8 and counts["pass"] == counts["tests"], tail
    assert counts["fail"] == counts["skipped"] == counts["cancelled"] == 0, tail


async def test_example_prints_btc_and_its_exchanges(app: App) -> None:
    code, output = await run_node(app, "example.js", f"127.0.0.1:{app.grpc_port}", timeout_s=30)
    assert code == 0, output
    lines = output.splitlines()
    header = re.fullmatch(r"BTC: \$[\d,]+\.\d\d across (\d) exchanges", lines[0])
    assert header, output
    count = int(header[1])  # every source, unless a poll ran late on a busy machine
    assert count > 0 and {line.split()[0] for line in lines[1 : 1 + count]} <= set(SOURCES), output
    assert [line.split()[0] for line in lines[1 + count :]] == ["watch", "watch"], output


async def test_example_says_why_when_no_server_answers() -> None:
    process = await asyncio.create_subprocess_exec(
        tool("node"),
        "example.js",
        "127.0.0.1:1",
        cwd=NODE_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1 and not out
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: 14 UNAVAILABLE"), err  # one line, no stack
