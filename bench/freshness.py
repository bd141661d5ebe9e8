"""Freshness: a value change in the simulator → its receipt by a watch subscriber, poll interval 1 s.

``oi-server --simulate --poll-interval 1`` runs as a separate process, as a user runs it. The
simulator's random walk is frozen through its control API; each trial then steps it once
(``POST /tick``, every market's OI moves) at a random phase against the pollers, and a
WatchOpenInterest(BTC) subscriber notes, per source, when that source's BTC figure first differs
from its value before the step. The delay counts every stage: the venue's next poll (uniform over
the interval, ±10 % jitter), fetch and parse, the 200 ms snapshot coalescing, the fan-out.
Sources whose request budget forces a slower cycle than 1 s (``poll_interval_s`` in
/v1/sources) are listed apart: their freshness is their budget's, not the pipeline's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator
from typing import Final

import aiohttp
import grpc

from bench.common import Section, fmt_ms, judged, percentile, spawn_module, stop
from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.api.gen.openinterest.v1 import open_interest_pb2_grpc as pb_grpc

POLL_INTERVAL_S: Final = 1.0
TRIAL_WINDOW_S: Final = 4.0  # a 1 s source that has not shown a change by then counts as missed
TARGET_P99_S: Final = 2.0


@contextlib.asynccontextmanager
async def service() -> AsyncIterator[dict[str, object]]:
    """``oi-server --simulate`` in its own process; yields its "ready" log line's fields."""
    process = await spawn_module(
        "server",
        "--simulate",
        "--poll-interval",
        str(POLL_INTERVAL_S),
        "--grpc-port",
        "0",
        "--http-port",
        "0",
        "--sim-seed",
        "11",
        "--log-level",
        "info",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        ready: dict[str, object] = {}
        while not ready:
            line = await asyncio.wait_for(process.stderr.readline(), 30)
            if not line:
                raise RuntimeError("oi-server ended before it was ready")
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if record.get("message") == "oi-server ready" or record.get("msg") == "oi-server ready":
                    ready = record
        drain = asyncio.create_task(_drain(process.stderr))
        yield ready
        drain.cancel()
    finally:
        await stop(process, grace_s=8)


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


class Subscriber:
    """Every change of any source's BTC figure, with the instant it was received."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.changes: list[tuple[float, str]] = []
        self.messages = 0

    async def run(self, target: str) -> None:
        async with grpc.aio.insecure_channel(target) as channel:
            stub = pb_grpc.OpenInterestServiceStub(channel)
            async for message in stub.WatchOpenInterest(pb.WatchOpenInterestRequest(symbols=["BTC"])):
                now = time.time()
                self.messages += 1
                for entry in message.symbols:
                    for exchange in entry.exchanges:
                        if self.values.get(exchange.exchange) != exchange.oi_usd:
                            self.values[exchange.exchange] = exchange.oi_usd
                            self.changes.append((now, exchange.exchange))


async def run_freshness(quick: bool) -> Section:
    trials, window_s, warm_s = (2, 2.5, 2.5) if quick else (20, TRIAL_WINDOW_S, 4.0)
    section = Section(
        f"5. Freshness: simulator value change → watch subscriber, poll interval {POLL_INTERVAL_S:g} s",
        ("sources", "trials × sources", "p50", "p99", "max", "missed (no change seen in the trial)"),
    )
    rng = random.Random(5)
    async with service() as ready, aiohttp.ClientSession() as http:
        control = str(ready["sim_control"])
        rest = f"http://127.0.0.1:{ready['http_port']}"
        subscriber = Subscriber()
        watch = asyncio.create_task(subscriber.run(f"127.0.0.1:{ready['grpc_port']}"))
        try:
            await asyncio.sleep(warm_s)  # every source polled a few times
            async with http.post(f"{control}/freeze") as response:
                response.raise_for_status()
            await asyncio.sleep(warm_s)  # the frozen state is everywhere
            async with http.get(f"{rest}/v1/sources") as response:
                statuses = (await response.json())["data"]
            reporting = set(subscriber.values)
            fast = sorted(s for s in reporting if statuses[s]["poll_interval_s"] <= POLL_INTERVAL_S * 1.01)
            slow = {s: statuses[s]["poll_interval_s"] for s in sorted(reporting) if s not in fast}
            delays: dict[str, list[float]] = {"fast": [], "slow": []}
            missed = {"fast": 0, "slow": 0}
            for _ in range(trials):
                await asyncio.sleep(rng.uniform(0.0, POLL_INTERVAL_S))
                seen = len(subscriber.changes)
                ticked_at = time.time()
                async with http.post(f"{control}/tick") as response:
                    response.raise_for_status()
                await asyncio.sleep(window_s)
                first: dict[str, float] = {}
                for at, source in subscriber.changes[seen:]:
                    first.setdefault(source, at - ticked_at)
                for group, sources in (("fast", fast), ("slow", list(slow))):
                    for source in sources:
                        if source in first:
                            delays[group].append(first[source])
                        else:
                            missed[group] += 1
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await watch
    for group, label in (
        ("fast", f"{len(fast)} polled every {POLL_INTERVAL_S:g} s"),
        ("slow", f"{len(slow)} paced by their budget"),
    ):
        found = delays[group]
        section.row(
            label,
            f"{trials} × {len(fast if group == 'fast' else slow)}",
            fmt_ms(percentile(found, 0.5)),
            fmt_ms(percentile(found, 0.99)),
            fmt_ms(max(found)) if found else "n/a",
            str(missed[group]),
        )
    fast_ok = bool(delays["fast"]) and percentile(delays["fast"], 0.99) < TARGET_P99_S and missed["fast"] == 0
    section.target(
        f"p99 < {TARGET_P99_S:g} s for the sources polled every {POLL_INTERVAL_S:g} s", judged(fast_ok, quick)
    )
    if slow:
        section.notes.append(
            "paced by their published request budget (interval in s): "
            + ", ".join(f"{s} {v:.1f}" for s, v in slow.items())
            + f"; missed = no change within {window_s:g} s of the step"
        )
    return section
