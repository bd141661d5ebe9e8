"""History store costs at full scale (issue 13): what one recorded minute costs to write, how fast
the front doors' two heavy queries answer, and how many bytes a day of history takes.

    .venv/bin/python -m bench.history_store [--postgres URL] [--quick]

Full scale is ≈745 symbols × ~7.5 series (the aggregate plus 4–9 sources, 6.5 on average):
5,587 series. ``fill`` bulk-loads a store inside its engine, never through ``upsert`` (12 M rows
through the recorder's path would take many minutes):

* 1h: every series, 30 days (720 candles each, 4.0 M rows): the 30-day read at its real depth;
* 1m: ``series_1m`` series (the first in key order) × ``days_1m`` days: the same per-series depth
  as a steady store (1m is kept 7 days), fewer series, so the fill stays short; the 1m read asks
  for the last 24 h of one of them.

SQLite is loaded in key order with its second index dropped and rebuilt after (a WITHOUT ROWID
table is the primary key's B-tree: key order is its steady layout, packed). PostgreSQL is loaded
in *time* order, as the recorder writes, so the heap holds one series' candles scattered over
many pages as a live store does; its two indexes are dropped for the load and rebuilt (sorted).
Bulk-built B-trees are packed: a store grown minute by minute has partly filled index pages, so
bytes per day here are a floor for the index share.

Then, through the HistoryStore interface only:

* write: each recorded minute as the recorder sends it (5,587 1m candles and the five rollups of
  every series, 33,522 candles, in ``UPSERT_CHUNK`` calls): wall time and CPU time (this process
  and, for PostgreSQL, its server backends);
* read p50/p99: one random series, 24 h at 1m (1,440 candles) and 30 days at 1h (720 candles),
  one call at a time: wall time, and this process's CPU time of the same call (PostgreSQL's
  backends add their mean per read). A wall p99 far above the CPU p99 is time spent waiting for
  a core or a wake-up, not work: on a loaded machine it measures the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import sqlite3
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import psycopg

from bench.common import percentile
from server.cli import settle_heap
from server.history.model import AGGREGATE, INTERVAL_MS, MINUTE_MS, Candle, HistoryStore, Interval
from server.history.postgres import PostgresStore
from server.history.recorder import UPSERT_CHUNK
from server.history.rows import COLUMNS
from server.history.sqlite import SqliteStore

DAY_MS: Final = 1440 * MINUTE_MS
T0: Final = 1_764_547_200_000  # 2025-12-01T00:00Z: the first minute recorded after the fill
SOURCES: Final = tuple(f"venue{i:02d}" for i in range(18))
ROLLUPS: Final = (Interval.M5, Interval.M15, Interval.H1, Interval.H4, Interval.D1)
POSTGRES_URL: Final = os.environ.get("OI_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BENCH_APP: Final = "oi-bench-history"

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


@dataclass(frozen=True, slots=True)
class Plan:
    """What to fill: 30 days of 1h for ``series_1h``, ``days_1m`` days of 1m for ``series_1m``."""

    series_1h: int
    series_1m: int
    days_1m: int

    @property
    def buckets_1h(self) -> int:
        return 720

    @property
    def buckets_1m(self) -> int:
        return self.days_1m * 1440

    @property
    def rows(self) -> int:
        return self.series_1h * self.buckets_1h + self.series_1m * self.buckets_1m


# -- fill, in each engine's own SQL ------------------------------------------------------------

_COLS: Final = ", ".join(COLUMNS)
# Column expressions over i (bucket index), t (bucket start), sid (series number).
_FILL_VALUES: Final = (
    "{symbol}, {source}, {res}, {t}, 1e6 + {sid} * 10.5 + {i}, 1.01e6 + {sid} * 10.5 + {i},"
    " 0.99e6 + {sid} * 10.5 + {i}, 1e6 + {sid} * 10.5 + {i} * 2, {t} + 58500, 10.0 + {sid},"
    " 100.0 + {i} * 0.01, 1, 0.0002, 2, 2"
)


def fill_sqlite(path: Path, series: Sequence[Series], plan: Plan) -> int:
    """Key order, one INSERT … SELECT over a recursive CTE per series and interval; the second
    index is dropped for the load and rebuilt (a sort) after."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("DROP INDEX IF EXISTS candle_resolution_t")
        values = _FILL_VALUES.format(symbol=":symbol", source=":source", res=":res", t="t", i="i", sid=":sid")
        insert = (
            "WITH RECURSIVE b(i, t) AS"
            " (SELECT 0, :first UNION ALL SELECT i + 1, t + :step FROM b WHERE i + 1 < :count)"
            f" INSERT INTO candle ({_COLS}) SELECT {values} FROM b"
        )
        conn.execute("BEGIN")
        # "1h" sorts before "1m": within a series, key order is 1h's candles, then 1m's
        for sid, (symbol, source) in enumerate(series[: plan.series_1h]):
            for interval, count, first in (
                (Interval.H1, plan.buckets_1h, T0 - 30 * DAY_MS),
                (Interval.M1, plan.buckets_1m, T0 - plan.days_1m * DAY_MS),
            ):
                if interval is Interval.M1 and sid >= plan.series_1m:
                    continue
                args = {
                    "first": first,
                    "step": interval.ms,
                    "count": count,
                    "symbol": symbol,
                    "source": source,
                    "res": interval.value,
                    "sid": sid,
                }
                conn.execute(insert, args)
        conn.execute("COMMIT")
        total = conn.total_changes  # (rowcount is -1 for a statement starting WITH)
        conn.execute("CREATE INDEX candle_resolution_t ON candle (resolution, t)")
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return total
    finally:
        conn.close()


PG_CHUNK: Final = 60  # buckets per load statement


def fill_postgres(url: str, schema: str, series: Sequence[Series], plan: Plan) -> int:
    """Time order (the heap as the recorder lays it out), indexes dropped and rebuilt sorted."""
    table = f"{schema}.candle"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET work_mem = '64MB'")
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute("CREATE TEMP TABLE bench_series (sid int PRIMARY KEY, symbol text, source text)")
        with conn.cursor().copy("COPY bench_series FROM STDIN") as copy:
            for i, s in enumerate(series):
                copy.write_row((i, *s))
        conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT candle_pkey")
        conn.execute(f"DROP INDEX {schema}.candle_resolution_t")
        values = _FILL_VALUES.format(
            symbol="s.symbol", source="s.source", res="%s", t="b.t", i="b.i", sid="s.sid"
        )
        insert = (
            f"INSERT INTO {table} ({_COLS}) SELECT {values}"
            # bucket by bucket, every series at each (LATERAL: a nested loop, no sort)
            " FROM (SELECT i, %s::bigint + i * %s::bigint AS t FROM generate_series(%s::int, %s::int) i) b"
            " CROSS JOIN LATERAL (SELECT * FROM bench_series WHERE sid < %s AND b.i >= 0 ORDER BY sid) s"
        )
        total = 0
        for interval, count, start, n_series in (
            (Interval.H1, plan.buckets_1h, T0 - 30 * DAY_MS, plan.series_1h),
            (Interval.M1, plan.buckets_1m, T0 - plan.days_1m * DAY_MS, plan.series_1m),
        ):
            for first in range(0, count, PG_CHUNK):
                last = min(count, first + PG_CHUNK) - 1
                args = (interval.value, start, interval.ms, first, last, n_series)
                total += conn.execute(insert, args).rowcount
        conn.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (symbol, source, resolution, t)")
        conn.execute(f"CREATE INDEX candle_resolution_t ON {table} (resolution, t)")
        conn.execute(f"VACUUM (ANALYZE) {table}")  # as autovacuum would after a load
        return total


def store_bytes(store: HistoryStore) -> int:
    if isinstance(store, SqliteStore):
        wal = store.path.with_name(store.path.name + "-wal")
        return store.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    assert isinstance(store, PostgresStore)
    with psycopg.connect(store.url) as conn:
        row = conn.execute("SELECT pg_total_relation_size(%s)", (f"{store.schema}.candle",)).fetchone()
        return int(row[0]) if row else 0


async def fill(store: HistoryStore, series: Sequence[Series], plan: Plan) -> int:
    if isinstance(store, SqliteStore):
        return await asyncio.to_thread(fill_sqlite, store.path, series, plan)
    assert isinstance(store, PostgresStore)
    return await asyncio.to_thread(fill_postgres, store.url, store.schema, series, plan)


# -- CPU of the writer -------------------------------------------------------------------------

_TICK_S: Final = 1 / os.sysconf("SC_CLK_TCK")


def backend_cpu_s(pids: Sequence[int]) -> float:
    """User + system CPU of PostgreSQL backends on this machine (from /proc); 0 for one gone."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) * _TICK_S
    return total


def backend_pids(url: str, application_name: str) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application_name,)
        ).fetchall()
    return [int(r[0]) for r in rows]


# -- the measurement ---------------------------------------------------------------------------


@dataclass(slots=True)
class Measured:
    series: int
    plan: Plan
    fill_rows: int = 0
    fill_s: float = 0.0
    bytes_per_row: float = 0.0
    write_wall_s: list[float] = field(default_factory=list)  # per recorded minute
    write_cpu_s: list[float] = field(default_factory=list)  # ours + the server's backends
    write_server_cpu_s: list[float] = field(default_factory=list)  # PostgreSQL's backends alone
    read_1m_s: list[float] = field(default_factory=list)  # wall, per read
    read_1h_s: list[float] = field(default_factory=list)
    read_1m_cpu_s: list[float] = field(default_factory=list)  # this process's CPU, per read
    read_1h_cpu_s: list[float] = field(default_factory=list)
    read_server_cpu_s: float = 0.0  # PostgreSQL's backends per read, the mean over every read
    read_full_gc_s: list[float] = field(default_factory=list)  # CPython's full collections during the reads
    read_1m_collected: list[bool] = field(default_factory=list)  # per read: a full collection ran inside it
    read_1h_collected: list[bool] = field(default_factory=list)

    @property
    def bytes_per_day(self) -> float:
        return self.bytes_per_row * rows_per_day(self.series)

    def as_dict(self) -> dict[str, object]:
        def ms(values: Sequence[float], share: float) -> float:
            return round(percentile(values, share) * 1000, 2)

        return {
            "series": self.series,
            "fill_rows": self.fill_rows,
            "fill_s": round(self.fill_s, 1),
            "bytes_per_row": round(self.bytes_per_row, 1),
            "bytes_per_day_MB": round(self.bytes_per_day / 1e6, 1),
            "write_wall_ms_p50": ms(self.write_wall_s, 0.5),
            "write_cpu_ms_p50": ms(self.write_cpu_s, 0.5),
            "write_server_cpu_ms_p50": ms(self.write_server_cpu_s, 0.5),
            "read_1m_ms": [ms(self.read_1m_s, 0.5), ms(self.read_1m_s, 0.99)],
            "read_1h_ms": [ms(self.read_1h_s, 0.5), ms(self.read_1h_s, 0.99)],
            "read_1m_cpu_ms": [ms(self.read_1m_cpu_s, 0.5), ms(self.read_1m_cpu_s, 0.99)],
            "read_1h_cpu_ms": [ms(self.read_1h_cpu_s, 0.5), ms(self.read_1h_cpu_s, 0.99)],
            "read_server_cpu_ms_mean": round(self.read_server_cpu_s * 1000, 2),
            "read_full_gc_ms": [round(s * 1000, 1) for s in self.read_full_gc_s],
            "read_1m_ms_without_full_gc": [
                ms(uncollected(self.read_1m_s, self.read_1m_collected), share) for share in (0.5, 0.99)
            ],
            "read_1h_ms_without_full_gc": [
                ms(uncollected(self.read_1h_s, self.read_1h_collected), share) for share in (0.5, 0.99)
            ],
        }


def uncollected(times: Sequence[float], collected: Sequence[bool]) -> list[float]:
    """The times of the reads no full garbage collection ran inside."""
    return [t for t, c in zip(times, collected, strict=True) if not c]


def minute_candles(series: Sequence[Series], t_min: int, rng: random.Random) -> list[Candle]:
    """What the recorder sends when minute ``t_min`` ends: per series, the 1m candle and the five
    open rollup buckets including it (a series' six candles side by side, as it queues them)."""
    out: list[Candle] = []
    for symbol, source in series:
        x = rng.random() * 1e4
        out.append(candle(symbol, source, Interval.M1, t_min, x))
        out.extend(candle(symbol, source, iv, t_min - t_min % iv.ms, x) for iv in ROLLUPS)
    return out


async def measure(
    store: HistoryStore, *, plan: Plan, series: Sequence[Series], minutes: int, reads: int
) -> Measured:
    """Fill an opened, empty ``store`` and measure it (see the module docstring)."""
    result = Measured(series=len(series), plan=plan)
    before = await asyncio.to_thread(store_bytes, store)
    started = time.perf_counter()
    result.fill_rows = await fill(store, series, plan)
    result.fill_s = time.perf_counter() - started
    result.bytes_per_row = (await asyncio.to_thread(store_bytes, store) - before) / result.fill_rows

    pids: list[int] = []
    if isinstance(store, PostgresStore):
        await store.read(symbol="", source="", interval=Interval.M1, start_ms=0, end_ms=0, limit=1)
        pids = await asyncio.to_thread(backend_pids, store.url, BENCH_APP)
    rng = random.Random(13)
    for m in range(minutes):
        batch = minute_candles(series, T0 + m * MINUTE_MS, rng)
        wall, cpu, server = time.perf_counter(), time.process_time(), backend_cpu_s(pids)
        for i in range(0, len(batch), UPSERT_CHUNK):
            await store.upsert(batch[i : i + UPSERT_CHUNK])
        result.write_wall_s.append(time.perf_counter() - wall)
        server = backend_cpu_s(pids) - server
        result.write_cpu_s.append(time.process_time() - cpu + server)
        if pids:
            result.write_server_cpu_s.append(server)

    async def timed(
        interval: Interval,
        among: int,
        start: int,
        expect: int,
        *,
        wall_s: list[float],
        cpu_s: list[float],
        collected: list[bool],
    ) -> None:
        for _ in range(reads):
            symbol, source = series[rng.randrange(among)]
            t, cpu, full = time.perf_counter(), time.process_time(), len(result.read_full_gc_s)
            got = await store.read(
                symbol=symbol, source=source, interval=interval, start_ms=start, end_ms=T0 - 1, limit=1440
            )
            wall_s.append(time.perf_counter() - t)
            cpu_s.append(time.process_time() - cpu)
            collected.append(len(result.read_full_gc_s) > full)
            assert len(got) == expect, (symbol, source, len(got), expect)

    server = backend_cpu_s(pids)
    settle_heap()  # as oi-server does once started: what exists now is out of the cyclic GC's walk
    with full_collections(result.read_full_gc_s):
        await timed(
            Interval.M1,
            plan.series_1m,
            T0 - DAY_MS,
            1440,
            wall_s=result.read_1m_s,
            cpu_s=result.read_1m_cpu_s,
            collected=result.read_1m_collected,
        )
        await timed(
            Interval.H1,
            len(series),
            T0 - 30 * DAY_MS,
            720,
            wall_s=result.read_1h_s,
            cpu_s=result.read_1h_cpu_s,
            collected=result.read_1h_collected,
        )
    if pids:
        result.read_server_cpu_s = (backend_cpu_s(pids) - server) / (2 * reads)
    return result


@contextlib.contextmanager
def full_collections(into: list[float]) -> Iterator[None]:
    """Append the CPU time of each full (generation 2) garbage collection CPython runs meanwhile:
    a read allocates a candle object per row, and the collections that allocation triggers land
    inside some reads, whatever the store."""
    started = [0.0]

    def note(phase: str, info: Mapping[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            started[0] = time.process_time()
        else:
            into.append(time.process_time() - started[0])

    gc.callbacks.append(note)
    try:
        yield
    finally:
        gc.callbacks.remove(note)


@contextlib.asynccontextmanager
async def sqlite_store() -> AsyncIterator[SqliteStore]:
    with tempfile.TemporaryDirectory(prefix="oi-history-bench-") as tmp:
        store = SqliteStore(Path(tmp) / "history.sqlite3")
        await store.open()
        try:
            yield store
        finally:
            await store.close()


@contextlib.asynccontextmanager
async def postgres_store(url: str = POSTGRES_URL) -> AsyncIterator[PostgresStore]:
    """A store in a schema of its own, dropped at exit whatever happened. Raises
    HistoryUnavailable (from ``open``) when the server cannot be reached."""
    schema = f"oi_bench_{uuid.uuid4().hex[:10]}"
    store = PostgresStore(url, schema=schema, application_name=BENCH_APP, timeout_s=60)
    try:
        await store.open()
        yield store
    finally:
        await store.close()
        with contextlib.suppress(psycopg.Error, OSError):
            await asyncio.to_thread(_drop_schema, url, schema)


def _drop_schema(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def iter_plans(quick: bool) -> Iterator[tuple[Plan, int]]:
    """(plan, symbols): full scale, or a token size that runs in seconds."""
    if quick:
        yield Plan(series_1h=len(full_scale_series(40)), series_1m=50, days_1m=1), 40
    else:
        yield Plan(series_1h=len(full_scale_series()), series_1m=250, days_1m=7), 745


async def _run(args: argparse.Namespace) -> None:
    plan, symbols = next(iter_plans(args.quick))
    series = full_scale_series(symbols)
    minutes, reads = (2, 50) if args.quick else (6, 300)
    async with sqlite_store() as sqlite:
        found = await measure(sqlite, plan=plan, series=series, minutes=minutes, reads=reads)
        print(json.dumps({"store": "sqlite", **found.as_dict()}), flush=True)
    if args.postgres:
        async with postgres_store(args.postgres) as pg:
            found = await measure(pg, plan=plan, series=series, minutes=minutes, reads=reads)
            print(json.dumps({"store": "postgres", **found.as_dict()}), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--postgres", default="", help="also measure PostgreSQL at this URL (scratch schema)")
    parser.add_argument("--quick", action="store_true", help="a token size")
    asyncio.run(_run(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
