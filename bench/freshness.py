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
import random
import time
from dataclasses import dataclass, field
from typing import Final

import aiohttp
import grpc

from bench.common import Section, Server, fmt_ms, judged, oi_server, percentile
from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.api.gen.openinterest.v1 import open_interest_pb2_grpc as pb_grpc

POLL_INTERVAL_S: Final = 1.0
TRIAL_WINDOW_S: Final = 4.0  # a 1 s source that has not shown a change by then counts as missed
TARGET_P99_S: Final = 2.0


def service() -> contextlib.AbstractAsyncContextManager[Server]:
    """``oi-server --simulate`` in its own process, as a user runs it."""
    return oi_server(
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
    )


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


@dataclass(slots=True)
class Found:
    """Per group of sources ("fast": polled every interval; "slow": paced by their request
    budget), the delay of each change seen, and the trials × sources that showed none."""

    trials: int
    window_s: float
    fast: list[str] = field(default_factory=list)
    slow: dict[str, float] = field(default_factory=dict)  # source -> its poll interval (s)
    delays: dict[str, list[float]] = field(default_factory=lambda: {"fast": [], "slow": []})
    missed: dict[str, int] = field(default_factory=lambda: {"fast": 0, "slow": 0})

    @property
    def met(self) -> bool:
        return (
            bool(self.delays["fast"])
            and percentile(self.delays["fast"], 0.99) < TARGET_P99_S
            and (self.missed["fast"] == 0)
        )


async def measure(
    control: str, rest: str, watch: str, *, trials: int, window_s: float, warm_s: float, seed: int = 5
) -> Found:
    """Step the simulator behind ``control`` ``trials`` times and time each source's change on a
    WatchOpenInterest (BTC) stream at ``watch`` (host:port), ``window_s`` after each step;
    ``rest`` (http://host:port) says how each source is paced. ``warm_s``: before freezing the
    simulator, and after. The service may be one process or a collector with a replica: only
    the ends count."""
    found = Found(trials, window_s)
    rng = random.Random(seed)
    async with aiohttp.ClientSession() as http:
        subscriber = Subscriber()
        watching = asyncio.create_task(subscriber.run(watch))
        try:
            await asyncio.sleep(warm_s)  # every source polled a few times
            async with http.post(f"{control}/freeze") as response:
                response.raise_for_status()
            await asyncio.sleep(warm_s)  # the frozen state is everywhere
            async with http.get(f"{rest}/v1/sources") as response:
                statuses = (await response.json())["data"]
            reporting = set(subscriber.values)
            found.fast = sorted(
                s for s in reporting if statuses[s]["poll_interval_s"] <= POLL_INTERVAL_S * 1.01
            )
            found.slow = {s: statuses[s]["poll_interval_s"] for s in sorted(reporting) if s not in found.fast}
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
                for group, sources in (("fast", found.fast), ("slow", list(found.slow))):
                    for source in sources:
                        if source in first:
                            found.delays[group].append(first[source])
                        else:
                            found.missed[group] += 1
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await watching
    return found


def group_cells(found: Found, group: str) -> tuple[str, ...]:
    """One group's row: sources, trials × sources, p50, p99, max, missed."""
    delays = found.delays[group]
    label = (
        f"{len(found.fast)} polled every {POLL_INTERVAL_S:g} s"
        if group == "fast"
        else f"{len(found.slow)} paced by their budget"
    )
    figures = ("n/a",) * 3  # no change seen (quick mode's short windows for the paced sources)
    if delays:
        figures = (fmt_ms(percentile(delays, 0.5)), fmt_ms(percentile(delays, 0.99)), fmt_ms(max(delays)))
    return (
        label,
        f"{found.trials} × {len(found.fast if group == 'fast' else found.slow)}",
        *figures,
        str(found.missed[group]),
    )


def slow_note(found: Found) -> str:
    return (
        "paced by their published request budget (interval in s): "
        + ", ".join(f"{s} {v:.1f}" for s, v in found.slow.items())
        + f"; missed = no change within {found.window_s:g} s of the step"
    )


async def run_freshness(quick: bool) -> Section:
    section = Section(
        f"5. Freshness: simulator value change → watch subscriber, poll interval {POLL_INTERVAL_S:g} s",
        ("sources", "trials × sources", "p50", "p99", "max", "missed (no change seen in the trial)"),
    )
    trials, window_s, warm_s = (2, 2.5, 2.5) if quick else (20, TRIAL_WINDOW_S, 4.0)
    async with service() as server:
        found = await measure(
            str(server.ready["sim_control"]),
            f"http://127.0.0.1:{server.port('http')}",
            f"127.0.0.1:{server.port('grpc')}",
            trials=trials,
            window_s=window_s,
            warm_s=warm_s,
        )
    for group in ("fast", "slow"):
        section.row(*group_cells(found, group))
    section.target(
        f"p99 < {TARGET_P99_S:g} s for the sources polled every {POLL_INTERVAL_S:g} s",
        judged(found.met, quick),
    )
    if found.slow:
        section.notes.append(slow_note(found))
    return section
