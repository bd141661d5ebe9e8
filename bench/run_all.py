"""Every benchmark, one after the other, into one table: ``python -m bench.run_all [--quick]``.

``make bench`` runs the full set (under 10 minutes on the 2-core reference machine); ``--quick``
(``make bench-quick``, and CI through tests/test_bench_quick.py) runs each at a token size to
prove it still works, and judges no target. The table is printed and written to
``bench/results/latest.md``, its rows as JSON lines to ``latest.jsonl`` (every run also appended
to ``history.jsonl``). ``--only`` picks sections by number (e.g. ``--only 1,4``; written to
``latest-partial.*``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from bench.cluster import run_cluster
from bench.common import RESULTS, Section
from bench.fanout import run_fanout, run_storm
from bench.freshness import run_freshness
from bench.frontdoors import run_front_door
from bench.historycost import run_history_store
from bench.parsing import run_parsing
from bench.pollcost import run_poll_cost
from bench.signals import run_signals


async def _unary(quick: bool) -> Section:
    return await run_front_door("grpc", quick)


async def _rest(quick: bool) -> Section:
    return await run_front_door("rest", quick)


BENCHMARKS: Final[tuple[tuple[str, Callable[[bool], Awaitable[Section]]], ...]] = (
    ("1", _unary),
    ("2", _rest),
    ("3", run_fanout),
    ("3", run_storm),
    ("4", run_parsing),
    ("5", run_freshness),
    ("6", run_poll_cost),
    ("7", run_signals),
    ("8", run_history_store),
    ("9", run_cluster),
)


def header(quick: bool, elapsed_s: float) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    mode = "quick (checks that the benchmarks run; targets not judged)" if quick else "full"
    return (
        f"# oi-service benchmarks, {now}\n\n"
        f"mode: {mode}; {elapsed_s:.0f} s; Python {platform.python_version()}, "
        f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs\n"
    )


def machine() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "arch": platform.machine(),
        "cpus": len(os.sched_getaffinity(0)),
        "system": platform.platform(terse=True),
    }


async def run(quick: bool, only: set[str] | None) -> tuple[str, list[Section]]:
    started = time.monotonic()
    sections: list[Section] = []
    for number, benchmark in BENCHMARKS:
        if only is not None and number not in only:
            continue
        began = time.monotonic()
        section = await benchmark(quick)
        sections.append(section)
        print(section.markdown(), flush=True)
        print(f"({time.monotonic() - began:.0f} s)\n", file=sys.stderr, flush=True)
    elapsed_s = time.monotonic() - started
    return header(quick, elapsed_s) + "\n" + "\n".join(s.markdown() for s in sections), sections


def json_lines(sections: Sequence[Section], *, quick: bool, only: set[str] | None) -> str:
    """Every record of every section, each stamped with the run (time, mode, machine)."""
    stamp = {
        "run_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if quick else ("partial" if only else "full"),
        "machine": machine(),
    }
    return "".join(
        json.dumps({"run": stamp, **record}, ensure_ascii=False) + "\n"
        for section in sections
        for record in section.records()
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="token sizes, no targets judged (CI)")
    parser.add_argument("--only", help="comma-separated section numbers, e.g. 1,4")
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    report, sections = asyncio.run(run(args.quick, only))
    RESULTS.mkdir(exist_ok=True)
    stem = "latest-quick" if args.quick else ("latest" if only is None else "latest-partial")
    (RESULTS / f"{stem}.md").write_text(report)
    lines = json_lines(sections, quick=args.quick, only=only)
    (RESULTS / f"{stem}.jsonl").write_text(lines)
    with (RESULTS / "history.jsonl").open("a") as history:  # every run, for comparing over time
        history.write(lines)
    print(report.split("\n\n", 2)[1])  # the date and mode line, last, after the sections
    print(f"written to {RESULTS / stem}.md and .jsonl (appended to history.jsonl)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
