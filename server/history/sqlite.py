"""The embedded history store: one SQLite file in WAL mode, nothing to install.

sqlite3 blocks, so it runs on two threads of its own, each with its own connection: one writes
(upserts, retention, migrations), one reads. WAL lets the reader see the last commit while the
writer works, so a history query never waits behind the recorder's flush, and the event loop
never waits on either. ``synchronous=NORMAL`` is WAL's usual setting: a power cut may lose the
last commits, never the file.

One file, one writer process: ``open()`` takes an exclusive ``flock`` on ``<file>.lock`` beside
it (held until ``close()``, released by the kernel if the process dies), so a second oi-server
on the same file stops at start with a clear line instead of interleaving writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Final, TypeVar

from server.history import migrations as mig
from server.history.model import Candle, HistoryUnavailable, Interval
from server.history.rows import (
    COLUMNS,
    KEY,
    SERIES_COLUMNS,
    VALUES,
    Row,
    bounds,
    from_row,
    one_line,
    series_candles,
    unique_rows,
)

T = TypeVar("T")

BATCH: Final = 10_000  # rows per executemany call: bounds the memory of one call, not the transaction
BUSY_TIMEOUT_MS: Final = 5_000

_COLS = ", ".join(COLUMNS)
UPSERT: Final = (
    f"INSERT INTO candle ({_COLS}) VALUES ({', '.join('?' * len(COLUMNS))})"
    f" ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in VALUES)}"
)
READ: Final = (
    f"SELECT {', '.join(SERIES_COLUMNS)} FROM candle WHERE symbol = ? AND source = ? AND resolution = ?"
    " AND t BETWEEN ? AND ? ORDER BY t DESC LIMIT ?"
)
SINCE: Final = f"SELECT {_COLS} FROM candle WHERE resolution = ? AND t >= ? ORDER BY t, symbol, source"
HAS_SYMBOL: Final = "SELECT 1 FROM candle WHERE symbol = ? LIMIT 1"
DELETE_BEFORE: Final = "DELETE FROM candle WHERE resolution = ? AND t < ?"


class HistoryInUse(HistoryUnavailable):
    """Another process holds the file's lock: a start-up error, not a passing outage."""


class SqliteStore:
    """HistoryStore on one SQLite file (see the module docstring)."""

    def __init__(self, path: Path, *, migrations: Sequence[mig.Migration] = mig.SQLITE) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self._migrations = migrations
        self._lock_file: IO[str] | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        if self._writer is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_file = _take_lock(self.lock_path, self.path)
        except OSError as exc:
            raise HistoryUnavailable(f"SQLite history {self.path}: {one_line(exc)}") from None
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="history-sqlite-w")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="history-sqlite-r")
        try:
            self._wconn = await self._on(self._writer, self._connect_writer)
            self._rconn = await self._on(self._reader, self._connect_reader)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        for executor, conn in ((self._writer, self._wconn), (self._reader, self._rconn)):
            if executor is not None:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.get_running_loop().run_in_executor(executor, conn.close)
                executor.shutdown(wait=False)
        self._writer = self._reader = None
        self._wconn = self._rconn = None
        if self._lock_file is not None:
            self._lock_file.close()  # releases the flock
            self._lock_file = None

    # -- HistoryStore ------------------------------------------------------------------------

    async def upsert(self, candles: Sequence[Candle]) -> None:
        rows = unique_rows(candles)
        if rows:
            await self._write(lambda conn: _upsert(conn, rows))

    async def read(
        self,
        *,
        symbol: str,
        source: str,
        interval: Interval,
        start_ms: int | None,
        end_ms: int | None,
        limit: int,
    ) -> list[Candle]:
        if limit <= 0:
            return []
        lo, hi = bounds(start_ms, end_ms)
        args = (symbol, source, interval.value, lo, hi, limit)
        rows = await self._read(lambda conn: conn.execute(READ, args).fetchall())
        return series_candles(reversed(rows), symbol, source, interval)

    async def has_symbol(self, symbol: str) -> bool:
        return bool(await self._read(lambda conn: conn.execute(HAS_SYMBOL, (symbol,)).fetchall()))

    async def since(self, interval: Interval, start_ms: int) -> list[Candle]:
        rows = await self._read(lambda conn: conn.execute(SINCE, (interval.value, start_ms)).fetchall())
        return [from_row(r, interval) for r in rows]

    async def delete_before(self, interval: Interval, before_ms: int) -> int:
        return await self._write(lambda conn: _delete(conn, interval, before_ms))

    # -- plumbing ----------------------------------------------------------------------------

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._wconn
        if self._writer is None or conn is None:
            raise HistoryUnavailable(f"SQLite history {self.path}: not open")
        return await self._on(self._writer, lambda: fn(conn))

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._rconn
        if self._reader is None or conn is None:
            raise HistoryUnavailable(f"SQLite history {self.path}: not open")
        return await self._on(self._reader, lambda: fn(conn))

    async def _on(self, executor: ThreadPoolExecutor, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the store's thread; any SQLite or OS failure becomes one line."""
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, fn)
        except (sqlite3.Error, OSError, mig.SchemaTooNew) as exc:
            raise HistoryUnavailable(f"SQLite history {self.path}: {one_line(exc)}") from None

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; writes say BEGIN IMMEDIATE themselves.
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"cannot switch to WAL (journal_mode is {mode})")
            conn.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def _connect_writer(self) -> sqlite3.Connection:
        conn = self._connect()
        try:
            _migrate(conn, self._migrations)
        except BaseException:
            conn.close()
            raise
        return conn

    def _connect_reader(self) -> sqlite3.Connection:
        conn = self._connect()
        conn.execute("PRAGMA query_only=ON")
        return conn


def _take_lock(lock_path: Path, db_path: Path) -> IO[str]:
    """An exclusive, non-blocking flock on the lock file, with our pid written in it."""
    handle = lock_path.open("a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        pid = handle.read().strip() or "unknown"
        handle.close()
        raise HistoryInUse(f"SQLite history {db_path} is in use by another oi-server (pid {pid})") from None
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _transaction(conn: sqlite3.Connection, fn: Callable[[], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn()
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def _upsert(conn: sqlite3.Connection, rows: list[Row]) -> None:
    def run() -> None:
        for i in range(0, len(rows), BATCH):
            conn.executemany(UPSERT, rows[i : i + BATCH])

    _transaction(conn, run)


def _delete(conn: sqlite3.Connection, interval: Interval, before_ms: int) -> int:
    return _transaction(conn, lambda: conn.execute(DELETE_BEFORE, (interval.value, before_ms)).rowcount)


def _migrate(conn: sqlite3.Connection, steps: Sequence[mig.Migration]) -> list[int]:
    """Apply the pending steps, each in its own transaction with its version row; the versions applied."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (version INTEGER PRIMARY KEY, why TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)"
    )

    def step(m: mig.Migration) -> None:
        for statement in m.statements:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_migrations (version, why, applied_at_ms) VALUES (?, ?, ?)",
            (m.version, m.why, int(time.time() * 1000)),
        )

    applied: list[int] = []
    while True:
        # Read the version inside the write transaction, so two openers cannot both apply a step.
        def next_step() -> int | None:
            (version,) = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
            todo = mig.pending(int(version), steps)
            if not todo:
                return None
            step(todo[0])
            return todo[0].version

        done = _transaction(conn, next_step)
        if done is None:
            return applied
        applied.append(done)
