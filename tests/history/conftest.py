"""The history stores under test: one fixture yields an opened store of each kind, so one suite
runs against both. SQLite lives in tmp_path; PostgreSQL in a schema of its own (``oi_test_<hex>``),
dropped after. Where PostgreSQL does not answer, its tests skip saying why, except in CI
(``CI=true``), where they fail: CI must run them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from server.history import migrations as mig
from server.history.model import HistoryStore, HistoryUnavailable
from server.history.postgres import PostgresStore
from server.history.rows import one_line
from server.history.sqlite import SqliteStore

POSTGRES_URL = os.environ.get("OI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

_postgres_problem: list[str | None] = []  # memo: probe the server once per session


def postgres_url() -> str:
    """The test server's URL; skips (fails in CI) with the reason when it does not answer."""
    if not _postgres_problem:
        try:
            psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
            _postgres_problem.append(None)
        except psycopg.Error as exc:
            _postgres_problem.append(f"PostgreSQL not reachable at {POSTGRES_URL}: {one_line(exc)}")
    problem = _postgres_problem[0]
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem} (CI must run the PostgreSQL tests: .ci/run starts the server)")
        pytest.skip(problem)
    return POSTGRES_URL


@dataclass
class StoreKind:
    """How to make more stores on the same place, and look at its migrations from outside."""

    name: str
    make: Callable[[Sequence[mig.Migration] | None], HistoryStore]
    versions: Callable[[], list[int]]


def _sqlite_kind(path: Path) -> StoreKind:
    def make(migrations: Sequence[mig.Migration] | None) -> HistoryStore:
        return SqliteStore(path, migrations=migrations or mig.SQLITE)

    def versions() -> list[int]:
        with sqlite3.connect(path) as conn:
            return [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]

    return StoreKind("sqlite", make, versions)


def _postgres_kind(url: str, schema: str, app: str) -> StoreKind:
    def make(migrations: Sequence[mig.Migration] | None) -> HistoryStore:
        return PostgresStore(
            url, schema=schema, application_name=app, migrations=migrations or mig.POSTGRES, timeout_s=3
        )

    def versions() -> list[int]:
        with psycopg.connect(url) as conn:
            rows = conn.execute(f"SELECT version FROM {schema}.schema_migrations ORDER BY version").fetchall()
            return [v for (v,) in rows]

    return StoreKind("postgres", make, versions)


@pytest.fixture(params=["sqlite", "postgres"])
def store_kind(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreKind]:
    if request.param == "sqlite":
        yield _sqlite_kind(tmp_path / "data" / "history.sqlite3")
        return
    url = postgres_url()
    token = uuid.uuid4().hex[:12]
    schema = f"oi_test_{token}"
    yield _postgres_kind(url, schema, f"oi-test-{token}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
async def store(store_kind: StoreKind) -> AsyncIterator[HistoryStore]:
    s = store_kind.make(None)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def raises_unavailable(call: Awaitable[object]) -> str:
    """The HistoryUnavailable message ``call`` raises (the test fails if it raises nothing)."""
    with pytest.raises(HistoryUnavailable) as info:
        await call
    return str(info.value)


class TcpProxy:
    """A loopback TCP relay to the test PostgreSQL that can go down and come back on the same
    port: an outage the store must ride out, without stopping the shared server."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port: int = probe.getsockname()[1]
        probe.close()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port, reuse_address=True)

    async def down(self) -> None:
        """Stop listening and cut every open connection (as a server restart does)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}
