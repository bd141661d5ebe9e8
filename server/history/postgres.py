"""The history store at scale: plain PostgreSQL (15+, no extensions) through psycopg 3's async
driver and a connection pool, shared by a collector and any number of api replicas.

Outages are expected and never fatal: every failure (server stopped, connection killed, pool
empty) becomes one ``HistoryUnavailable`` line naming host, port and database (never the
password), and the store heals by itself. The pool checks a connection before lending it
(``check_connection``), so connections killed while idle are replaced without the caller seeing
an error; a connection that breaks mid-query fails that one call and is discarded. If the server
is down at ``open()``, ``open()`` raises but the store stays usable: the schema is migrated on
the first call that finds the server back.

Writes COPY the candles (binary) into a temporary table of the connection's own, then merge
them with one ``INSERT … SELECT … ON CONFLICT DO UPDATE``, in one transaction per call. psycopg
encodes COPY rows in C; the ``unnest(arrays)`` statement this replaced had its arrays encoded in
Python, element by element. Measured with ``bench.history_store`` at full scale (a recorded
minute, 33,510 candles, 2 loaded cores, 4 alternating runs each): this process's CPU ~55 ms a
minute against ~150 ms; the server's ~310-345 ms either way. Most of the server's share is index
upkeep: an open rollup's row is rewritten every minute, finds its page full, moves, and so adds
an entry to both indexes each time. The writing role needs the database's TEMPORARY privilege
(PUBLIC has it unless revoked); a replica, which only reads, creates nothing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, LiteralString, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from server.history import migrations as mig
from server.history.model import Candle, HistoryUnavailable, Interval
from server.history.rows import (
    COLUMNS,
    KEY,
    SERIES_COLUMNS,
    VALUES,
    bounds,
    from_row,
    one_line,
    series_candles,
    unique_rows,
)

T = TypeVar("T")
Conn = psycopg.AsyncConnection[Any]

RECONNECT_S: Final = 30.0
SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# One key for every oi-server migrating any schema: migrations are rare and short.
MIGRATION_LOCK: Final = 0x6F69_6869  # "oihi"

# Each column's PostgreSQL type in the temporary table the writes COPY into (float8 unless named).
_TYPES: Final = {
    "symbol": "text",
    "source": "text",
    "resolution": "text",
    "t": "int8",
    "close_at_ms": "int8",
    "exchange_count": "int4",
    "funding_samples": "int4",
    "samples": "int4",
}

COPY_TYPES: Final = tuple(_TYPES.get(c, "float8") for c in COLUMNS)
INCOMING: Final = "pg_temp.candle_in"  # per connection, emptied at every commit


def _q(schema: str, text: LiteralString) -> sql.Composed:
    return sql.SQL(text).format(schema=sql.Identifier(schema))


class PostgresStore:
    """HistoryStore on a PostgreSQL schema (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        schema: str = "oi",
        application_name: str = "oi-server",
        timeout_s: float = 5.0,
        max_connections: int = 4,
        migrations: Sequence[mig.Migration] = mig.POSTGRES,
    ) -> None:
        if not SCHEMA_NAME.fullmatch(schema):
            raise ValueError(f"history schema {schema!r}: use lower-case letters, digits and _")
        try:
            params = conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise ValueError(f"history URL is not a PostgreSQL URL: {one_line(exc)}") from None
        self.schema = schema
        self.where = (
            f"PostgreSQL {params.get('host', 'localhost')}:{params.get('port', 5432)}"
            f"/{params.get('dbname', '')} schema {schema}"
        )
        self.url = url  # carries any password: never logged (see ``where``)
        self._timeout_s = timeout_s
        self._migrations = migrations
        self._kwargs: dict[str, Any] = {
            "application_name": application_name,
            "connect_timeout": max(1, round(timeout_s)),
            "autocommit": True,
        }
        self._pool = AsyncConnectionPool(
            url,
            kwargs=self._kwargs,
            min_size=1,
            max_size=max_connections,
            open=False,
            check=AsyncConnectionPool.check_connection,
            timeout=timeout_s,
            # The pool retries a lost connection with a doubling delay until this deadline, then
            # gives up and grows afresh on the next call: short, so the store is back within
            # seconds of the server, not minutes after a long outage.
            reconnect_timeout=RECONNECT_S,
            name=f"history-{schema}",
        )
        self._opened = False
        self._migrated = False
        cols = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
        sets = sql.SQL(", ").join(sql.SQL("{c} = excluded.{c}").format(c=sql.Identifier(c)) for c in VALUES)
        table = sql.SQL("{}.candle").format(sql.Identifier(schema))
        self._incoming_sql = sql.SQL(
            "CREATE TEMPORARY TABLE IF NOT EXISTS {incoming} ({columns}) ON COMMIT DELETE ROWS"
        ).format(
            incoming=sql.SQL(INCOMING),
            columns=sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t))
                for c, t in zip(COLUMNS, COPY_TYPES, strict=True)
            ),
        )
        self._copy_sql = sql.SQL("COPY {incoming} ({cols}) FROM STDIN (FORMAT BINARY)").format(
            incoming=sql.SQL(INCOMING), cols=cols
        )
        self._merge_sql = sql.SQL(
            "INSERT INTO {table} ({cols}) SELECT {cols} FROM {incoming}"
            " ON CONFLICT ({key}) DO UPDATE SET {sets}"
        ).format(
            table=table,
            cols=cols,
            incoming=sql.SQL(INCOMING),
            key=sql.SQL(", ").join(map(sql.Identifier, KEY)),
            sets=sets,
        )
        self._read_sql = sql.SQL(
            "SELECT {cols} FROM {table} WHERE symbol = %s AND source = %s AND resolution = %s"
            " AND t BETWEEN %s AND %s ORDER BY t DESC LIMIT %s"
        ).format(cols=sql.SQL(", ").join(map(sql.Identifier, SERIES_COLUMNS)), table=table)
        self._since_sql = sql.SQL(
            "SELECT {cols} FROM {table} WHERE resolution = %s AND t >= %s ORDER BY t, symbol, source"
        ).format(cols=cols, table=table)
        self._has_sql = sql.SQL("SELECT 1 FROM {table} WHERE symbol = %s LIMIT 1").format(table=table)
        self._delete_sql = sql.SQL("DELETE FROM {table} WHERE resolution = %s AND t < %s").format(table=table)

    def __repr__(self) -> str:
        return f"PostgresStore({self.where!r})"

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        if not self._opened:
            await self._pool.open(wait=False)
            self._opened = True
        await self._ready()

    async def close(self) -> None:
        if self._opened:
            await self._pool.close()
            self._opened = False

    # -- HistoryStore ------------------------------------------------------------------------

    async def upsert(self, candles: Sequence[Candle]) -> None:
        rows = unique_rows(candles)
        if not rows:
            return

        async def run(conn: Conn) -> None:
            async with conn.transaction(), conn.cursor() as cur:
                await cur.execute(self._incoming_sql)  # once per connection; then a catalog look-up
                async with cur.copy(self._copy_sql) as copy:
                    copy.set_types(COPY_TYPES)
                    for row in rows:
                        await copy.write_row(row)
                await cur.execute(self._merge_sql)

        await self._use(run)

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
        rows = await self._fetch(self._read_sql, (symbol, source, interval.value, lo, hi, limit))
        return series_candles(reversed(rows), symbol, source, interval)

    async def has_symbol(self, symbol: str) -> bool:
        return bool(await self._fetch(self._has_sql, (symbol,)))

    async def since(self, interval: Interval, start_ms: int) -> list[Candle]:
        return [from_row(r, interval) for r in await self._fetch(self._since_sql, (interval.value, start_ms))]

    async def delete_before(self, interval: Interval, before_ms: int) -> int:
        async def run(conn: Conn) -> int:
            cur = await conn.execute(self._delete_sql, (interval.value, before_ms))
            return cur.rowcount

        return await self._use(run)

    # -- plumbing ----------------------------------------------------------------------------

    async def _fetch(self, query: sql.Composed, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        async def run(conn: Conn) -> list[tuple[Any, ...]]:
            # Binary results: floats and ints arrive as machine values, not text to parse.
            cur = await conn.execute(query, args, binary=True)
            return await cur.fetchall()

        return await self._use(run)

    async def _use(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        await self._ready()
        return await self._with_conn(fn)

    async def _ready(self) -> None:
        if not self._opened:
            raise HistoryUnavailable(f"{self.where}: not open")
        if not self._migrated:
            await self._with_conn(self._migrate)
            self._migrated = True

    async def _with_conn(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        """Borrow a connection and run ``fn``; any failure becomes one HistoryUnavailable line."""
        try:
            async with self._pool.connection(timeout=self._timeout_s) as conn:
                return await fn(conn)
        except PoolTimeout:
            reason = await self._why_no_connection()
        except (psycopg.Error, OSError, mig.SchemaTooNew) as exc:
            reason = one_line(exc)
        raise HistoryUnavailable(f"{self.where}: {reason}")

    async def _why_no_connection(self) -> str:
        """The pool only says it timed out; one direct attempt says why (refused, auth, …)."""
        try:
            conn = await psycopg.AsyncConnection.connect(self.url, **self._kwargs)
        except (psycopg.Error, OSError) as exc:
            return one_line(exc)
        await conn.close()
        return f"no free connection within {self._timeout_s:g} s"

    async def _migrate(self, conn: Conn) -> None:
        """Apply the pending steps under a transaction-level advisory lock, so replicas starting
        together migrate once; each step records its version in the same transaction."""
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            await conn.execute(_q(self.schema, "CREATE SCHEMA IF NOT EXISTS {schema}"))
            await conn.execute(
                _q(
                    self.schema,
                    "CREATE TABLE IF NOT EXISTS {schema}.schema_migrations"
                    " (version integer PRIMARY KEY, why text NOT NULL, applied_at_ms bigint NOT NULL)",
                )
            )
            cur = await conn.execute(
                _q(self.schema, "SELECT coalesce(max(version), 0) FROM {schema}.schema_migrations")
            )
            row = await cur.fetchone()
            for step in mig.pending(int(row[0]) if row else 0, self._migrations):
                for statement in step.statements:
                    await conn.execute(_q(self.schema, statement))
                await conn.execute(
                    _q(
                        self.schema,
                        "INSERT INTO {schema}.schema_migrations (version, why, applied_at_ms)"
                        " VALUES (%s, %s, %s)",
                    ),
                    (step.version, step.why, int(time.time() * 1000)),
                )
