"""Section 8 of ``make bench``: the history stores at full scale (issue 13), SQLite and PostgreSQL.

Each store is filled and measured by ``bench.history_store.measure`` (its docstring says how):
what one recorded minute costs to write, the two heavy reads' p50/p99 on a store holding 30 days,
and bytes per day. PostgreSQL is the server at ``OI_BENCH_POSTGRES_URL`` (default 127.0.0.1:5432,
database ``postgres``), in a schema of its own dropped afterwards; its row is skipped, with a
note, when the server cannot be reached.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from typing import Final

from bench.common import Section, judged, percentile
from bench.history_store import (
    POSTGRES_URL,
    Measured,
    iter_plans,
    measure,
    postgres_store,
    rows_per_day,
    sqlite_store,
    uncollected,
)
from bench.history_store import full_scale_series as all_series
from server.history.model import HistoryUnavailable
from server.history.recorder import UPSERT_CHUNK

MINUTE_S: Final = 60.0
WRITE_TARGET: Final = 0.01  # of one core
READ_TARGET_S: Final = 0.020  # p99


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _p(values: Sequence[float]) -> str:
    return f"{_ms(percentile(values, 0.5))} / {_ms(percentile(values, 0.99))}"


def _mb(value: float) -> str:
    return f"{value / 1e6:,.0f} MB"


async def run_history_store(quick: bool) -> Section:
    plan, symbols = next(iter_plans(quick))
    series = all_series(symbols)
    minutes, reads = (2, 50) if quick else (5, 300)
    section = Section(
        "8. History store: write cost, reads on 30 days, bytes per day",
        (
            "store",
            "write one recorded minute: wall; CPU",
            "share of one core",
            "read 24 h at 1m: p50 / p99",
            "read 30 d at 1h: p50 / p99",
            "bytes per candle",
            "bytes per day",
            "fill",
        ),
    )
    load_before = os.getloadavg()[0]
    measured: list[tuple[str, Measured]] = []
    async with sqlite_store() as sqlite:
        measured.append(
            ("SQLite", await measure(sqlite, plan=plan, series=series, minutes=minutes, reads=reads))
        )
    try:
        async with postgres_store() as pg:
            found = await measure(pg, plan=plan, series=series, minutes=minutes, reads=reads)
            measured.append(("PostgreSQL", found))
    except HistoryUnavailable as exc:
        section.notes.append(f"PostgreSQL skipped: {exc}")
    for name, m in measured:
        cpu = percentile(m.write_cpu_s, 0.5)
        cpu_cell = _ms(cpu)
        if m.write_server_cpu_s:
            cpu_cell += f" (server {_ms(percentile(m.write_server_cpu_s, 0.5))})"
        section.row(
            name,
            f"{_ms(percentile(m.write_wall_s, 0.5))}; {cpu_cell}",
            f"{cpu / MINUTE_S * 100:.2f} %",
            f"{_p(m.read_1m_s)}; CPU {_p(m.read_1m_cpu_s)}",
            f"{_p(m.read_1h_s)}; CPU {_p(m.read_1h_cpu_s)}",
            f"{m.bytes_per_row:.0f}",
            _mb(m.bytes_per_day),
            f"{m.fill_rows / 1e6:.1f} M rows in {m.fill_s:.0f} s",
        )
    for name, m in measured:
        share = percentile(m.write_cpu_s, 0.5) / MINUTE_S
        section.target(
            f"{name}: a recorded minute under 1 % of a core ({share * 100:.2f} %)",
            judged(share < WRITE_TARGET, quick),
        )
        worst = max(percentile(m.read_1m_s, 0.99), percentile(m.read_1h_s, 0.99))
        worst_cpu = max(percentile(m.read_1m_cpu_s, 0.99), percentile(m.read_1h_cpu_s, 0.99))
        section.target(
            f"{name}: read p99 under 20 ms (worst {_ms(worst)}; its CPU p99 {_ms(worst_cpu)})",
            judged(worst < READ_TARGET_S, quick),
        )
    n = len(series)
    cpus = len(os.sched_getaffinity(0))
    load = f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, {cpus} CPUs"
    section.notes.extend(
        [
            f"{n:,} series ({symbols} symbols, the aggregate plus 4–9 sources each). Filled in bulk"
            f" inside each engine: 30 days of 1h for all {plan.series_1h:,} series"
            f" ({plan.series_1h * 720 / 1e6:.1f} M rows) and {plan.days_1m} day(s) of 1m (7: the retention)"
            f" for {plan.series_1m:,} of them ({plan.series_1m * plan.buckets_1m / 1e6:.1f} M rows: every"
            " series' depth, fewer series, so the fill stays short); SQLite in key order, PostgreSQL in"
            " time order as the recorder writes (one series' candles spread over the heap), indexes"
            " rebuilt after the load.",
            "write: one recorded minute as the recorder sends it: per series the 1m candle and the five"
            f" open rollups it rewrites (5m … 1d), {6 * n:,} candles in upsert calls of {UPSERT_CHUNK:,};"
            f" median of {minutes} minutes. CPU = this process (row building, driver, SQLite's own work)"
            " plus, for PostgreSQL, its server backends (from /proc); share = that CPU per 60 s, the same"
            " whatever the poll interval (30 s polls fold into the same minute's candles).",
            f"reads: {reads} each, one series picked at random, one ``read`` call of 1,440 (1m) or 720"
            " (1h) candles through the HistoryStore interface; p99 (the 3rd worst of 300 in full mode)"
            f" counts any time the thread waited for a core ({load}). CPU: this process's for the same"
            " calls (the store's own work; the wall time above it is waiting)"
            + "".join(
                f"; PostgreSQL's backends add {_ms(m.read_server_cpu_s)} a read on average"
                for name, m in measured
                if name == "PostgreSQL"
            )
            + ". CPython's full garbage collections during the reads (each read allocates a candle"
            " object per row, whatever the store; a full collection walks every object of the"
            " process): "
            + "; ".join(
                f"{name} {len(m.read_full_gc_s)} of them"
                + (f", median {_ms(statistics.median(m.read_full_gc_s))} each" if m.read_full_gc_s else "")
                + "; p50 / p99 of the reads none ran inside: 1m "
                + _p(uncollected(m.read_1m_s, m.read_1m_collected))
                + ", 1h "
                + _p(uncollected(m.read_1h_s, m.read_1h_collected))
                for name, m in measured
            )
            + ".",
            "bytes per day = measured bytes per candle (table and indexes, bulk-built and so packed: a"
            " store grown minute by minute has partly filled index pages) ×"
            f" the {rows_per_day(n):,} candles a day brings at every interval; retention then bounds the"
            " total (1m kept 7 days, 5m 30, 15m 90).",
        ]
    )
    if not quick and not any(name == "PostgreSQL" for name, _ in measured):
        section.notes.append(f"(PostgreSQL URL tried: {POSTGRES_URL.split('@')[-1]})")
    return section
