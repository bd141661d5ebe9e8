"""Signals at full simulated scale: ms per snapshot for every window of every symbol, and memory.

The world is the simulator's at full scale (745 coins, ≈ 4,900 (symbol, source) pairs over the 18
venues). The book is first filled with a day of values per pair, spaced as the service records
them (30 s polls: every value for the last 16 minutes, one a minute back to 4 h, one per 15 min
back to 24 h, as a restarted service seeds from history; with prices, as recorded history has them),
so every window is answered, with its price. Then:

- *every symbol*: a snapshot in which every source has a new reading, so every symbol's six
  windows are computed (the worst case: the first snapshot after a start);
- *one source*: a snapshot in which one source has a new reading (the steady state: readings
  arrive one source at a time, and only the symbols they touch are computed);
- *restart*: the first snapshot after the day of values is recorded, as a restarted service's
  first one after seeding: every window's cursors are found by search, and the sweep trims every
  trail (timed on a book of its own, since memory tracing slows every allocation);
- memory held by the book (tracemalloc), and samples per pair.

Times are CPU time of the computing thread (``time.thread_time``), so other work on a shared
machine does not inflate them. Each snapshot is timed while the version before it (its snapshot
and answers) is still held, as the service's hub holds it while the next one's windows are
computed: freeing the previous figures and answers (~4-5 ms when every source is new) happens
when the new version replaces it, not in the windows' computation.
``python -m bench.signals [--quick]``; ``run_signals`` is the section ``bench.run_all`` can run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import random
import statistics
import time
import tracemalloc
from collections.abc import Sequence
from typing import Final

from bench.common import Section, judged
from server.core.aggregate import Aggregator
from server.core.model import Funding, MarketOI, Snapshot, VenueReading
from server.core.signal_book import SignalBook
from server.core.signals import Point, Settings, point_of
from server.sim.market import CORE_ASSETS, MarketWorld, synthetic_assets
from server.sim.render import SIM_VENUES

POLL_MS: Final = 30_000
FULL_SCALE_SYNTHETIC: Final = 725  # the simulator's --sim-full-scale coin count, with the 20 real ones
TARGET_MS: Final = 20.0
START_MS: Final = 1_800_000_000_000


def full_scale_world(synthetic: int) -> MarketWorld:
    assets = CORE_ASSETS + synthetic_assets(synthetic)
    world = MarketWorld(assets={a.symbol: a for a in assets}, rng=random.Random(1))
    for venue_id, venue in SIM_VENUES.items():
        world.add_venue(venue_id, venue.listings(assets), venue_share=venue.venue_share)
    return world


def readings_of(world: MarketWorld, at_ms: int, sources: Sequence[str]) -> dict[str, VenueReading]:
    """Each source's reading as the service would parse it (canonical coins, USD, funding)."""
    result = {}
    for source in sources:
        markets = tuple(
            MarketOI(
                venue_symbol=state.listing.venue_symbol,
                base=state.listing.asset,
                oi_base=state.oi_base,
                oi_usd=state.oi_usd,
                price_usd=state.price_usd,
                funding=Funding(rate=state.funding_8h, interval_hours=8.0),
            )
            for state in world.venues[source]
        )
        result[source] = VenueReading(source=source, fetched_at_ms=at_ms, markets=markets)
    return result


def history_times(now_ms: int) -> list[int]:
    """When a restarted service holds values for one pair: 30 s apart for 16 min, a minute apart
    back to 4 h 10 min, 15 min apart back to 24 h 30 min."""
    times = set(range(now_ms - 16 * 60_000, now_ms, POLL_MS))
    times.update(range(now_ms - 250 * 60_000, now_ms - 16 * 60_000, 60_000))
    times.update(range(now_ms - 1470 * 60_000, now_ms - 250 * 60_000, 900_000))
    return sorted(times)


def fill(book: SignalBook, snapshot: Snapshot, now_ms: int) -> int:
    """A day of values for every (symbol, source) pair of ``snapshot`` (a slow 1 %/h OI drift)."""
    count = 0
    for t in history_times(now_ms):
        factor = math.exp(0.01 * (t - now_ms) / 3_600_000)
        for symbol, total in snapshot.symbols.items():
            for figure in total.venues:
                coins = None if figure.oi_base is None else figure.oi_base * factor
                price = point_of(figure).price  # recorded history has prices, as live readings do
                book.record(
                    symbol, figure.source, Point(t=t, coins=coins, usd=figure.oi_usd * factor, price=price)
                )
                count += 1
    return count


def run(synthetic: int, rounds: int) -> dict[str, float]:
    world = full_scale_world(synthetic)
    sources = list(world.venues)
    aggregator = Aggregator()
    stale = dict.fromkeys(sources, 3 * POLL_MS)
    now = START_MS
    first = aggregator.build(readings_of(world, now - 1000, sources), now_ms=now, stale_after_ms=stale)
    pairs = sum(len(total.venues) for total in first.symbols.values())
    restarted = SignalBook(Settings(poll_interval_ms=POLL_MS))
    started = time.thread_time()
    seeded = fill(restarted, first, now - POLL_MS)
    restarted.flush(now)  # as seeding does (server/signals/seed.py)
    seeding = time.thread_time() - started
    gc.collect()
    started = time.thread_time()
    restarted.observe(first)
    restart = time.thread_time() - started
    del restarted
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    book = SignalBook(Settings(poll_interval_ms=POLL_MS))
    fill(book, first, now - POLL_MS)
    book.flush(now)
    book.observe(first)  # the first computation trims each trail to what its window can still use
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()  # tracing slows every allocation: off while timing
    every: list[float] = []
    one: list[float] = []
    rng = random.Random(2)
    # As in the service, whose hub holds the last version (its snapshot and answers) while the
    # next one's windows are computed: what it held is freed when the new version replaces it,
    # after the timing, not by the book dropping its last reference.
    version = (first, dict(book.changes))
    freeing: list[float] = []  # what replacing the version costs (the last one's figures and answers)
    for _ in range(rounds):
        now += POLL_MS
        world.step()
        snapshot = aggregator.build(readings_of(world, now - 500, sources), now_ms=now, stale_after_ms=stale)
        started = time.thread_time()
        changes = book.observe(snapshot)
        every.append(time.thread_time() - started)
        started = time.thread_time()
        version = (snapshot, dict(changes))
        freeing.append(time.thread_time() - started)
        assert all(len(c) == 6 for c in changes.values()), "every window should be answered"
        for _ in range(len(sources)):
            now += POLL_MS // len(sources)
            world.step()
            source = rng.choice(sources)
            readings = readings_of(world, now - 200, [source])
            latest = {**aggregator.counted(), **readings}
            snapshot = aggregator.build(latest, now_ms=now, stale_after_ms=stale)
            started = time.thread_time()
            book.observe(snapshot)
            one.append(time.thread_time() - started)
            version = (snapshot, dict(book.changes))
    del version
    return {
        "symbols": len(first.symbols),
        "pairs": pairs,
        "every_ms": statistics.median(every) * 1000,
        "every_max_ms": max(every) * 1000,
        "freeing_ms": statistics.median(freeing) * 1000,
        "one_ms": statistics.median(one) * 1000,
        "one_max_ms": max(one) * 1000,
        "restart_ms": restart * 1000,
        "seeded": seeded,
        "seeding_s": seeding,
        "memory_mb": held / 1e6,
        "samples_per_pair": book.sample_count() / max(pairs, 1),
    }


def measure(quick: bool = False) -> dict[str, float]:
    """The figures, at full scale (``quick``: the 20 core coins only, one round)."""
    return run(0 if quick else FULL_SCALE_SYNTHETIC, 1 if quick else 5)


async def run_signals(quick: bool) -> Section:
    figures = await asyncio.to_thread(measure, quick)
    section = Section(
        "7. Signals: every window (1m–24h) of every symbol, per snapshot, at full simulated scale",
        ("snapshot", "symbols", "(symbol, source) pairs", "median", "max"),
    )
    section.row(
        "every source new (all symbols computed)",
        f"{figures['symbols']:.0f}",
        f"{figures['pairs']:,.0f}",
        f"{figures['every_ms']:.1f} ms",
        f"{figures['every_max_ms']:.1f} ms",
    )
    section.row(
        "one source new (steady state)",
        f"{figures['symbols']:.0f}",
        f"{figures['pairs']:,.0f}",
        f"{figures['one_ms']:.2f} ms",
        f"{figures['one_max_ms']:.1f} ms",
    )
    section.row(
        "first after a restart (seeded from history)",
        f"{figures['symbols']:.0f}",
        f"{figures['pairs']:,.0f}",
        f"{figures['restart_ms']:.0f} ms",
        "–",
    )
    section.target(
        f"every window of every symbol under {TARGET_MS:.0f} ms per snapshot",
        judged(figures["every_ms"] < TARGET_MS, quick),
    )
    section.notes.append(
        f"replacing the last version when every source is new (freeing its figures and answers, "
        f"outside the figure above, as the service's hub does it after): {figures['freeing_ms']:.1f} ms"
    )
    section.notes.append(
        f"seeding a day of values ({figures['seeded']:,.0f}, as a restarted service reads them from "
        f"history): {figures['seeding_s']:.1f} s of CPU"
    )
    section.notes.append(
        f"memory held by the windows: {figures['memory_mb']:.1f} MB "
        f"({figures['samples_per_pair']:.0f} samples per pair, a day of 30 s polls)"
    )
    return section


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.signals", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    print(asyncio.run(run_signals(args.quick)).markdown())


if __name__ == "__main__":
    main()
