"""History store costs at full scale (issue 13): what one minute of recording costs, how fast the
front doors' two heavy queries answer, and how many bytes a day of history takes.

    .venv/bin/python -m bench.history_store [--postgres URL] [--symbols 745] [--hours-1m 24]

Full scale is ≈745 symbols × ~7.5 series (the aggregate plus 4–9 sources, 6.5 on average):
5,587 series. The fill is done in SQL inside each engine (``INSERT … SELECT`` over a series
table and a run of bucket times, in time order as the recorder writes), not through ``upsert``,
so 12 M rows take a minute or two: 30 days of 1h and one day (``--hours-1m``) of 1m for every
series. The 1m table therefore holds one day, not the 30 a steady store would: reads walk a
B-tree a level shallower than at 30 days and bytes per day are extrapolated from the measured
bytes per 1m row (every interval's row is the same shape) times the rows a day brings at every
interval. Then, on the filled store and through the HistoryStore interface only:

* ``upsert``: one minute's 1m candles (5,587), and the same plus the five rollups each minute
  touches (5m … 1d: 33,522 candles in one call), over several minutes;
* ``read`` p50/p99: one series, 24 h at 1m (1,440 candles) and 30 days at 1h (720 candles),
  random series, one call at a time.

``measure(store)`` is what a caller (the bench table) uses; ``main`` runs both stores and prints.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import psycopg

from bench.common import percentile
from server.history.model import AGGREGATE, INTERVAL_MS, MINUTE_MS, Candle, HistoryStore, Interval
from server.history.postgres import PostgresStore
from server.history.sqlite import SqliteStore

DAY_MS: Final = 1440 * MINUTE_MS
T0: Final = 1_764_547_200_000  # 2025-12-01T00:00Z: the fill's first bucket
SOURCES: Final = tuple(f"venue{i:02d}" for i in range(18))
READS: Final = 300
UPSERT_MINUTES: Final = 6

Series = tuple[str, str]


def full_scale_series(symbols: int = 745) -> list[Series]:
    """(symbol, source) for every series, sorted as the primary key sorts them."""
    out: list[Series] = []
    for i in range(symbols):
        symbol = f"S{i:04d}"
        out.append((symbol, AGGREGATE))
        out.extend((symbol, SOURCES[(i + k) % len(SOURCES)]) for k in range(4 + i % 6))
    return sorted(out)


def rows_per_day(series: int) -> int:
    """Candles one day of recording writes at every interval, for ``series`` series."""
    return sum(series * (DAY_MS // ms) for ms in INTERVAL_MS.values())


def candle(symbol: str, source: str, interval: Interval, t: int, x: float) -> Candle:
    return Candle(
        symbol=symbol,
        source=source,
        interval=interval,
        t=t,
        oi_usd_open=1e6 + x,
        oi_usd_high=1.01e6 + x,
        oi_usd_low=0.99e6 + x,
        oi_usd_close=1e6 + 2 * x,
        close_at_ms=t + 58_500,
        oi_coins=10.0 + x,
        price_usd=100.0 + x / 7,
        exchange_count=12 if source == AGGREGATE else 1,
        funding_8h_sum=0.0002,
        funding_samples=2,
        samples=2,
    )


# -- fill, in each engine's own SQL ------------------------------------------------------------

# Column expressions over b.i (bucket index), b.t (bucket start), s.sid (series number).
_FILL_VALUES: Final = (
    "s.symbol, s.source, {res}, b.t, 1e6 + s.sid * 10.5 + b.i, 1.01e6 + s.sid * 10.5 + b.i,"
    " 0.99e6 + s.sid * 10.5 + b.i, 1e6 + s.sid * 10.5 + b.i * 2, b.t + 58500, 10.0 + s.sid,"
    " 100.0 + b.i * 0.01, 1, 0.0002, 2, 2"
)
_COLS: Final = (
    "symbol, source, resolution, t, oi_usd_open, oi_usd_high, oi_usd_low, oi_usd_close, close_at_ms,"
    " oi_coins, price_usd, exchange_count, funding_8h_sum, funding_samples, samples"
)
CHUNK: Final = 60  # buckets per fill statement


def _fill_sqlite(path: Path, series: Sequence[Series], plan: Sequence[tuple[Interval, int, int]]) -> int:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TEMP TABLE bench_series (sid INTEGER PRIMARY KEY, symbol TEXT, source TEXT)")
        conn.executemany("INSERT INTO bench_series VALUES (?, ?, ?)", [(i, *s) for i, s in enumerate(series)])
        conn.execute("CREATE TEMP TABLE bench_t (i INTEGER PRIMARY KEY, t INTEGER)")
        insert = (
            f"INSERT INTO candle ({_COLS}) SELECT {_FILL_VALUES.format(res='?')}"
            " FROM bench_t b CROSS JOIN bench_series s ORDER BY b.i, s.sid"
        )
        total = 0
        for interval, start, count in plan:
            for first in range(0, count, CHUNK):
                n = min(CHUNK, count - first)
                conn.execute("BEGIN")
                conn.execute("DELETE FROM bench_t")
                conn.executemany(
                    "INSERT INTO bench_t VALUES (?, ?)",
                    [(i, start + i * interval.ms) for i in range(first, first + n)],
                )
                total += conn.execute(insert, (interval.value,)).rowcount
                conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return total
    finally:
        conn.close()


def _fill_postgres(
    url: str, schema: str, series: Sequence[Series], plan: Sequence[tuple[Interval, int, int]]
) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE bench_series (sid int PRIMARY KEY, symbol text, source text)")
        with conn.cursor().copy("COPY bench_series FROM STDIN") as copy:
            for i, s in enumerate(series):
                copy.write_row((i, *s))
        insert = (
            f"INSERT INTO {schema}.candle ({_COLS}) SELECT {_FILL_VALUES.format(res='%s')}"
            " FROM (SELECT i, %s::bigint + i * %s::bigint AS t FROM generate_series(%s::int, %s::int) i) b"
            " CROSS JOIN bench_series s ORDER BY b.i, s.sid"
        )
        total = 0
        for interval, start, count in plan:
            for first in range(0, count, CHUNK):
                last = min(count, first + CHUNK) - 1
                cur = conn.execute(insert, (interval.value, start, interval.ms, first, last))
                total += cur.rowcount
        conn.execute(f"ANALYZE {schema}.candle")
        return total


def _size(store: HistoryStore) -> int:
    if isinstance(store, SqliteStore):
        wal = store.path.with_name(store.path.name + "-wal")
        return store.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    assert isinstance(store, PostgresStore)
    with psycopg.connect(store.url) as conn:
        row = conn.execute("SELECT pg_total_relation_size(%s)", (f"{store.schema}.candle",)).fetchone()
        return int(row[0]) if row else 0


async def _fill(
    store: HistoryStore, series: Sequence[Series], plan: Sequence[tuple[Interval, int, int]]
) -> int:
    if isinstance(store, SqliteStore):
        return await asyncio.to_thread(_fill_sqlite, store.path, series, plan)
    assert isinstance(store, PostgresStore)
    return await asyncio.to_thread(_fill_postgres, store.url, store.schema, series, plan)


# -- the measurement ---------------------------------------------------------------------------


async def measure(store: HistoryStore, *, symbols: int = 745, hours_1m: int = 24) -> dict[str, Any]:
    """Fill an opened, empty ``store`` and measure it (see the module docstring)."""
    series = full_scale_series(symbols)
    minutes = hours_1m * 60
    result: dict[str, Any] = {"store": repr(store), "series": len(series)}

    t = time.perf_counter()
    before = _size(store)
    rows_h1 = await _fill(store, series, [(Interval.H1, T0 - 30 * DAY_MS, 720)])
    mid = _size(store)
    rows_m1 = await _fill(store, series, [(Interval.M1, T0 - minutes * MINUTE_MS, minutes)])
    after = _size(store)
    result["fill"] = {"rows_1h": rows_h1, "rows_1m": rows_m1, "seconds": round(time.perf_counter() - t, 1)}
    per_row = (after - mid) / rows_m1
    result["bytes_per_row_1m"] = round(per_row, 1)
    result["bytes_per_row_1h"] = round((mid - before) / rows_h1, 1)
    result["rows_per_day"] = rows_per_day(len(series))
    result["bytes_per_day_MB"] = round(per_row * rows_per_day(len(series)) / 1e6, 1)

    rng = random.Random(13)
    one_minute: list[float] = []
    whole_minute: list[float] = []
    for m in range(UPSERT_MINUTES):
        t_min = T0 + m * MINUTE_MS
        m1 = [candle(sym, src, Interval.M1, t_min, rng.random() * 1e4) for sym, src in series]
        t = time.perf_counter()
        await store.upsert(m1)
        one_minute.append(time.perf_counter() - t)
        rollups = [
            candle(sym, src, iv, t_min - t_min % iv.ms, rng.random() * 1e4)
            for iv in (Interval.M5, Interval.M15, Interval.H1, Interval.H4, Interval.D1)
            for sym, src in series
        ]
        batch = [dataclasses_replace_t(c, t_min) for c in m1] + rollups  # the same 1m buckets, updated
        t = time.perf_counter()
        await store.upsert(batch)
        whole_minute.append(time.perf_counter() - t)
    result["upsert_1m_only_ms"] = _stats(one_minute, len(series))
    result["upsert_minute_with_rollups_ms"] = _stats(whole_minute, len(series) * 6)

    async def timed_reads(interval: Interval, start: int, end: int, expect: int) -> dict[str, Any]:
        took: list[float] = []
        for _ in range(READS):
            sym, src = rng.choice(series)
            t = time.perf_counter()
            got = await store.read(
                symbol=sym, source=src, interval=interval, start_ms=start, end_ms=end, limit=max(expect, 1000)
            )
            took.append(time.perf_counter() - t)
            assert len(got) == expect, (sym, src, len(got))
        return {
            "p50": round(percentile(took, 0.5) * 1000, 2),
            "p99": round(percentile(took, 0.99) * 1000, 2),
            "candles": expect,
        }

    result["read_24h_1m_ms"] = await timed_reads(Interval.M1, T0 - DAY_MS, T0 - 1, min(1440, minutes))
    result["read_30d_1h_ms"] = await timed_reads(Interval.H1, T0 - 30 * DAY_MS, T0 - 1, 720)
    return result


def dataclasses_replace_t(c: Candle, t: int) -> Candle:
    return dataclasses.replace(c, t=t, oi_usd_close=c.oi_usd_close + 1)


def _stats(took: Sequence[float], candles: int) -> dict[str, Any]:
    return {
        "p50": round(percentile(took, 0.5) * 1000, 1),
        "max": round(max(took) * 1000, 1),
        "candles": candles,
    }


async def _run(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="oi-history-bench-") as tmp:
        sqlite = SqliteStore(Path(tmp) / "history.sqlite3")
        await sqlite.open()
        try:
            results.append(await measure(sqlite, symbols=args.symbols, hours_1m=args.hours_1m))
            print(json.dumps(results[-1]), flush=True)
        finally:
            await sqlite.close()
    if args.postgres:
        schema = f"oi_bench_{uuid.uuid4().hex[:8]}"
        pg = PostgresStore(args.postgres, schema=schema, timeout_s=30)
        await pg.open()
        try:
            results.append(await measure(pg, symbols=args.symbols, hours_1m=args.hours_1m))
            print(json.dumps(results[-1]), flush=True)
        finally:
            await pg.close()
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument(
        "--postgres", default="", help="also measure PostgreSQL at this URL (a scratch schema)"
    )
    parser.add_argument("--symbols", type=int, default=745)
    parser.add_argument("--hours-1m", type=int, default=24)
    asyncio.run(_run(parser.parse_args(argv)))  # prints each store's figures as they come
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
