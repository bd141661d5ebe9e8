"""Poll cycle cost: our CPU for one poll of every venue at its real market count.

The simulator runs full scale (``oi-sim --full-scale``: each venue's real number of perpetuals,
per its reference page) in a separate process, so its CPU is not ours. In this process: the
service's own pollers (``VenuePoller`` over ``HostRouter`` on one aiohttp session, as ``App``
builds them), submitting into ``LatestReadings`` (screening there, as in the service) with no
coalescing, so every venue's reading builds its own snapshot, each serialized on the previous
one (``PreparedSnapshot(snapshot, previous)``), as ``App`` does: fetch (HTTP client, gzip-less JSON
decode) → parse → screen → aggregate → serialize, with a snapshot per venue (the worst case: in
the service, readings within 200 ms share one). The per-symbol statistics (``/v1/symbols`` for
every symbol) are built lazily, on request; every other cycle builds them for each snapshot, as if a
dashboard asked each time, and reports that cost beside the target's.
The catalogs are fetched in a first, unmeasured cycle (they are refreshed
hourly). Per-market venues (Binance's OI calls, Jupiter's market stats) make the same requests as
in production but unpaced, so a cycle takes seconds instead of their budget's minutes; pacing
costs sleep, not CPU. CPU = this process's user+system time per cycle (median of cycles).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Final

import aiohttp

from bench.common import Figure, Section, judged, spawn_module, stop
from server.api.convert import PreparedSnapshot
from server.app import STALENESS_TICK_S
from server.core.aggregate import aggregate
from server.core.model import Snapshot, VenueReading
from server.core.readings import LatestReadings
from server.poll.http import HostRouter
from server.poll.poller import VenuePoller
from server.poll.status import SourceStatus
from server.venues import REGISTRY

INTERVAL_S: Final = 30.0
TARGET_SHARE: Final = 0.02


async def start_simulator(*, full_scale: bool = True) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    """``oi-sim [--full-scale]`` in its own process, and each venue's base URL."""
    process = await spawn_module(
        "server.sim.cli",
        *(("--full-scale",) if full_scale else ()),
        "--seed",
        "3",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    urls: dict[str, str] = {}
    while len(urls) < len(REGISTRY):
        line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        if not line:
            raise RuntimeError("oi-sim ended before listing its venues")
        words = line.split()
        if words[:1] == ["venue"]:
            urls[words[1]] = words[2]
    return process, urls


def cpu_s() -> float:
    """This process's user+system CPU time (all threads), at the clock's full resolution."""
    return time.process_time()


def staleness_tick_cost(readings: dict[str, VenueReading], *, repeats: int) -> float:
    """CPU seconds of one staleness tick (``LatestReadings.expire()``) while every reading is fresh
    (median): what the service pays every 0.5 s between polls."""
    book = LatestReadings(clock_ms=lambda: time.time_ns() // 1_000_000, on_snapshot=lambda _: None)
    book.readings.update(readings)
    book.stale_after_ms.update(dict.fromkeys(readings, 90_000))
    book.rebuild()  # the first one publishes; the ticks after it find the same figures
    figure = Figure()
    for _ in range(repeats):
        before = cpu_s()
        book.expire()
        figure.add(cpu_s() - before)
    return figure.median


async def run_poll_cost(quick: bool) -> Section:
    cycles = 2 if quick else 6
    simulator, urls = await start_simulator()
    per_cycle = Figure()  # fetch + parse + screen of every venue, and a snapshot per venue
    per_cycle_views = Figure()  # the same, with every symbol's statistics built for each snapshot
    per_rebuild = Figure()  # aggregate + serialize + statistics of every reading from scratch
    latest_prepared = [PreparedSnapshot(Snapshot(built_at_ms=0))]
    force_views = [False]

    def on_snapshot(snapshot: Snapshot) -> None:
        prepared = PreparedSnapshot(snapshot, previous=latest_prepared[0])
        if force_views[0]:
            prepared.symbols_json(None)
        latest_prepared[0] = prepared

    latest = LatestReadings(clock_ms=lambda: time.time_ns() // 1_000_000, on_snapshot=on_snapshot)
    readings = latest.readings
    by_venue: dict[str, float] = {}
    symbols = 0
    try:
        connector = aiohttp.TCPConnector(limit=200, limit_per_host=16)
        async with aiohttp.ClientSession(connector=connector) as session:
            pollers = [
                VenuePoller(
                    dataclasses.replace(spec, pacing=None),
                    fetch=HostRouter(session, dict.fromkeys(spec.live_urls(), urls[venue]), timeout_s=30),
                    interval_s=INTERVAL_S,
                    status=SourceStatus(venue, poll_interval_s=INTERVAL_S),
                    submit=latest.accept,
                )
                for venue, spec in REGISTRY.items()
            ]
            for cycle in range(2 * cycles + 1):
                force_views[0] = cycle % 2 == 0
                before = cpu_s()
                await asyncio.gather(*(poller.poll_once() for poller in pollers))
                if cycle:  # the first cycle also fetched the catalogs
                    (per_cycle_views if force_views[0] else per_cycle).add(cpu_s() - before)
                before = cpu_s()
                now_ms = time.time_ns() // 1_000_000
                snapshot = aggregate(readings, now_ms=now_ms, stale_after_ms=dict.fromkeys(readings, 90_000))
                from_scratch = PreparedSnapshot(snapshot)
                from_scratch.symbols_json(None)
                symbols = len(from_scratch.rows)
                if cycle:
                    per_rebuild.add(cpu_s() - before)
            for poller in pollers:  # one venue at a time: where the cycle's CPU goes
                before = cpu_s()
                await poller.poll_once()
                by_venue[poller.spec.id] = cpu_s() - before
    finally:
        await stop(simulator, grace_s=5)
    venues = len(readings)
    tick = staleness_tick_cost(readings, repeats=3 if quick else 20)
    section = Section(
        "6. Poll cycle cost: CPU per cycle, every venue at its real market count",
        (
            "venues",
            "markets",
            "symbols",
            "cycle: fetch + parse + screen + a snapshot per venue",
            f"share of one core at {INTERVAL_S:g} s",
            "the same with /v1/symbols built per snapshot",
            "one snapshot from scratch (for comparison)",
        ),
    )
    worst = per_cycle

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.0f} ms"

    def share(seconds: float) -> str:
        return f"{seconds / INTERVAL_S * 100:.2f} %"

    section.row(
        f"{venues} of {len(REGISTRY)}",
        f"{sum(len(r.markets) for r in readings.values()):,}",
        f"{symbols:,}",
        per_cycle.show(ms),
        share(worst.median),
        f"{per_cycle_views.show(ms)}, {share(per_cycle_views.median)}",
        per_rebuild.show(ms),
    )
    heaviest = sorted(by_venue.items(), key=lambda item: -item[1])[:5]
    section.notes.append(
        "heaviest venues (fetch + parse + screen + its snapshot, one cycle alone): "
        + ", ".join(
            f"{venue} {seconds * 1000:.0f} ms ({len(readings[venue].markets)} markets)"
            for venue, seconds in heaviest
        )
    )
    section.notes.append(
        "snapshots per cycle: one per venue here; in the service readings within 200 ms share one, but "
        f"with ±10 % jitter at {INTERVAL_S:g} s the 18 pollers drift apart, so the steady state is close "
        "to one snapshot per venue, which the target is judged on; each snapshot reuses the previous "
        "one's pieces for the symbols the reading did not change"
    )
    section.notes.append(
        f"not in the cycle: the service's staleness tick (app.py, every {STALENESS_TICK_S:g} s) "
        "re-aggregates only when a reading has gone stale: "
        f"{tick * 1_000_000:.0f} µs a tick while all are fresh, "
        f"{tick / STALENESS_TICK_S * 100:.3f} % of one core"
    )
    missing = sorted(set(REGISTRY) - set(readings))
    if missing:
        section.notes.append(f"no reading from: {', '.join(missing)}")
    section.target(
        f"under {TARGET_SHARE * 100:g} % of one core at a {INTERVAL_S:g} s interval",
        judged(worst.median / INTERVAL_S < TARGET_SHARE and not missing, quick),
    )
    section.notes.append(
        f"{cycles} measured cycles of each kind after a catalog cycle, in this process (CPU time of all "
        "its threads); the simulator's CPU is its own process's"
    )
    return section
