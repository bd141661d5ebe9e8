"""The OI / price table end to end: simulator scenarios on five coins at once produce each
quadrant, ``neutral`` and both crowding directions, seen on REST and over a gRPC watch within a
minute and a bit (the 1m window needs a minute of history)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import grpc
import pytest

from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.api.gen.openinterest.v1 import open_interest_pb2_grpc as pb_grpc
from server.app import App
from server.config import Config

SCENARIOS: dict[str, dict[str, float]] = {
    "BTC": {"oi_pct_per_min": 5, "price_pct_per_min": 2, "funding_8h": 0.002},
    "ETH": {"oi_pct_per_min": 5, "price_pct_per_min": -2, "funding_8h": -0.002},
    "SOL": {"oi_pct_per_min": -5, "price_pct_per_min": 2},
    "XRP": {"oi_pct_per_min": -5, "price_pct_per_min": -2},
    "DOGE": {"oi_pct_per_min": 0, "price_pct_per_min": 0},  # stilled: flat on both sides
}
EXPECTED: dict[str, tuple[str, str | None]] = {
    "BTC": ("new_longs", "longs"),
    "ETH": ("new_shorts", "shorts"),
    "SOL": ("short_covering", None),
    "XRP": ("long_liquidation", None),
    "DOGE": ("neutral", None),
}
PB_SIGNAL = {name: pb.Signal.Value(f"SIGNAL_{name.upper()}") for name, _ in EXPECTED.values()}
PB_CROWDING = {None: pb.CROWDING_UNSPECIFIED, "longs": pb.CROWDING_LONGS, "shorts": pb.CROWDING_SHORTS}
DEADLINE_S = 150.0


@pytest.fixture
async def app() -> AsyncIterator[App]:
    service = App(
        Config(
            grpc_port=0,
            http_port=0,
            simulate=True,
            sources=("binance", "bybit", "okx", "hyperliquid"),
            poll_interval_s=1.0,
            sim_seed=3,
            request_timeout_s=2.0,
        )
    )
    await service.start()
    yield service
    await service.stop()


async def rest_labels(session: aiohttp.ClientSession, base: str) -> dict[str, tuple[str, str | None]]:
    async with session.get(f"{base}/v1/signals?window=1m") as response:
        assert response.status == 200
        rows: list[dict[str, Any]] = (await response.json())["data"]
    return {r["symbol"]: (r["signal"], r["crowding"]) for r in rows if r["symbol"] in EXPECTED}


async def watch_until_expected(target: str) -> dict[str, tuple[int, int]]:
    """Read a WatchSignals stream until every scenario's row shows its expected labels."""
    wanted = {s: (PB_SIGNAL[sig], PB_CROWDING[crowd]) for s, (sig, crowd) in EXPECTED.items()}
    async with grpc.aio.insecure_channel(target) as channel:
        stream = pb_grpc.OpenInterestServiceStub(channel).WatchSignals(
            pb.WatchSignalsRequest(window="1m", symbols=list(EXPECTED))
        )
        seen: dict[str, tuple[int, int]] = {}
        async for message in stream:
            seen = {r.symbol: (r.signal, r.crowding) for r in message.signals}
            if seen == wanted:
                break
        stream.cancel()
        return seen


async def test_each_row_of_the_table_appears_on_rest_and_grpc(app: App) -> None:
    assert app.sim is not None
    base = f"http://127.0.0.1:{app.http_port}"
    async with aiohttp.ClientSession() as session:
        for symbol, figures in SCENARIOS.items():
            async with session.post(
                f"{app.sim.control_url}/scenario", json={"symbol": symbol, **figures}
            ) as r:
                assert r.status == 200, await r.text()
        watch = asyncio.create_task(watch_until_expected(f"127.0.0.1:{app.grpc_port}"))
        deadline = time.monotonic() + DEADLINE_S
        labels: dict[str, tuple[str, str | None]] = {}
        while labels != EXPECTED:
            assert time.monotonic() < deadline, f"REST after {DEADLINE_S:.0f} s: {labels}"
            await asyncio.sleep(1.0)
            labels = await rest_labels(session, base)
        seen = await asyncio.wait_for(watch, 30)
        assert seen == {s: (PB_SIGNAL[sig], PB_CROWDING[crowd]) for s, (sig, crowd) in EXPECTED.items()}
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            response = await pb_grpc.OpenInterestServiceStub(channel).GetSignals(
                pb.GetSignalsRequest(window="1m", crowding=pb.CROWDING_SHORTS)
            )
        assert "ETH" in {r.symbol for r in response.signals}
        async with session.get(f"{base}/v1/symbols?symbol=BTC&explain=1") as r:
            change = (await r.json())["data"]["BTC"]["changes"]["1m"]
        explain = change["explain"]
        assert explain["now"] - explain["then"] == 60_000
        assert explain["then"] - explain["oldest"] <= 1_500  # within 1.5 poll intervals
        # a source whose sample near now - W is further off than the tolerance (a poll held up on a
        # loaded machine) is left out of both ends: coverage says how much was compared, not 100 %
        assert 0 < explain["coverage"] <= 1
        assert change["oi_pct"] == pytest.approx(5.0, abs=0.5)
        assert change["price_pct"] == pytest.approx(2.0, abs=0.3)
