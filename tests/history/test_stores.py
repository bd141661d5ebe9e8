"""One suite, both history stores (the ``store`` fixture is parametrized over SQLite and
PostgreSQL): what the recorder writes is what the front doors read back, retention deletes
exactly what it should, migrations run once, and failures are one HistoryUnavailable line."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from server.history import migrations as mig
from server.history.model import AGGREGATE, MINUTE_MS, Candle, HistoryStore, HistoryUnavailable, Interval
from server.history.postgres import PostgresStore
from server.history.sqlite import HistoryInUse, SqliteStore
from tests.history.conftest import StoreKind, TcpProxy, postgres_url, raises_unavailable

T = TypeVar("T")

T0 = 1_764_547_200_000  # 2025-12-01T00:00Z, a day boundary
HOUR = 60 * MINUTE_MS


def candle(
    t: int,
    *,
    symbol: str = "BTC",
    source: str = AGGREGATE,
    interval: Interval = Interval.M1,
    close: float = 15.2e9,
    coins: float | None = 157_000.25,
    price: float | None = 97_012.3,
    funding: tuple[float, int] = (0.000224, 2),
) -> Candle:
    return Candle(
        symbol=symbol,
        source=source,
        interval=interval,
        t=t,
        oi_usd_open=15.1e9,
        oi_usd_high=max(15.3e9, close),
        oi_usd_low=min(15.0e9, close),
        oi_usd_close=close,
        close_at_ms=t + interval.ms - 1_500,
        oi_coins=coins,
        price_usd=price,
        exchange_count=1 if source else 12,
        funding_8h_sum=funding[0],
        funding_samples=funding[1],
        samples=2,
    )


async def read_all(store: HistoryStore, *, symbol: str = "BTC", source: str = AGGREGATE,
                   interval: Interval = Interval.M1, limit: int = 1000) -> list[Candle]:  # fmt: skip
    return await store.read(
        symbol=symbol, source=source, interval=interval, start_ms=None, end_ms=None, limit=limit
    )


async def test_round_trip_keeps_every_field(store: HistoryStore) -> None:
    written = [
        candle(T0),
        candle(T0 + MINUTE_MS, coins=None, price=None, funding=(0.0, 0), close=0.01),
        candle(T0 + 2 * MINUTE_MS, close=123_456_789.123456, funding=(-0.0003, 3)),
    ]
    await store.upsert(written)
    got = await read_all(store)
    assert got == written
    assert got[0].funding_8h == pytest.approx(0.000112)
    assert got[1].funding_8h is None and got[1].oi_coins is None and got[1].price_usd is None
    assert got[2].funding_8h == pytest.approx(-0.0001)


async def test_whole_numbers_in_float_fields_are_stored(store: HistoryStore) -> None:
    """A recorder may hand ints where floats are declared (no funding yet: ``funding_8h_sum=0``)."""
    whole = dataclasses.replace(candle(T0), oi_usd_open=5, oi_coins=0, funding_8h_sum=0, funding_samples=0)
    await store.upsert([whole, candle(T0 + MINUTE_MS)])
    got = await read_all(store)
    assert got == [whole, candle(T0 + MINUTE_MS)]
    assert isinstance(got[0].oi_usd_open, float) and got[0].funding_8h is None


async def test_upsert_replaces_the_candle_with_the_same_key(store: HistoryStore) -> None:
    await store.upsert([candle(T0, close=1.0), candle(T0 + MINUTE_MS, close=2.0)])
    await store.upsert([candle(T0, close=10.0, coins=None)])
    got = await read_all(store)
    assert [(c.t, c.oi_usd_close, c.oi_coins) for c in got] == [
        (T0, 10.0, None),
        (T0 + MINUTE_MS, 2.0, 157_000.25),
    ]


async def test_the_last_of_duplicates_in_one_batch_wins(store: HistoryStore) -> None:
    await store.upsert([candle(T0, close=1.0), candle(T0, close=3.0), candle(T0, close=2.0)])
    assert [c.oi_usd_close for c in await read_all(store)] == [2.0]


async def test_an_empty_upsert_is_a_no_op(store: HistoryStore) -> None:
    await store.upsert([])
    assert await read_all(store) == []


async def test_a_batch_larger_than_one_statement_lands_whole(store: HistoryStore) -> None:
    n = 25_000  # over both stores' per-statement batch size
    await store.upsert([candle(T0 + i * MINUTE_MS, close=float(i + 1)) for i in range(n)])
    got = await read_all(store, limit=1000)
    assert [c.oi_usd_close for c in got] == [float(i + 1) for i in range(n - 1000, n)]
    assert await store.delete_before(Interval.M1, T0 + n * MINUTE_MS) == n


async def test_read_is_ascending_inclusive_and_keeps_the_last_limit(store: HistoryStore) -> None:
    ts = [T0 + i * MINUTE_MS for i in range(10)]
    await store.upsert([candle(t) for t in reversed(ts)])  # written out of order

    async def window(start: int | None, end: int | None, limit: int) -> list[int]:
        got = await store.read(
            symbol="BTC", source=AGGREGATE, interval=Interval.M1, start_ms=start, end_ms=end, limit=limit
        )
        return [c.t for c in got]

    assert await window(None, None, 100) == ts
    assert await window(None, None, 3) == ts[-3:]
    assert await window(ts[2], ts[5], 100) == ts[2:6]  # both ends inclusive
    assert await window(ts[2] + 1, ts[5] - 1, 100) == ts[3:5]
    assert await window(ts[2], ts[5], 2) == ts[4:6]  # the last two inside the window
    assert await window(ts[4], None, 100) == ts[4:]
    assert await window(None, ts[1], 100) == ts[:2]
    assert await window(ts[5], ts[2], 100) == []
    assert await window(None, None, 0) == []


async def test_series_are_apart_by_source_symbol_and_interval(store: HistoryStore) -> None:
    await store.upsert(
        [
            candle(T0, close=100.0),
            candle(T0, source="binance", close=60.0),
            candle(T0, source="bybit", close=40.0),
            candle(T0, symbol="ETH", close=7.0),
            candle(T0, interval=Interval.H1, close=99.0),
        ]
    )
    assert [c.oi_usd_close for c in await read_all(store)] == [100.0]
    assert [c.oi_usd_close for c in await read_all(store, source="binance")] == [60.0]
    assert [c.oi_usd_close for c in await read_all(store, source="bybit")] == [40.0]
    assert await read_all(store, source="okx") == []
    assert [c.oi_usd_close for c in await read_all(store, symbol="ETH")] == [7.0]
    assert [c.oi_usd_close for c in await read_all(store, interval=Interval.H1)] == [99.0]
    assert await read_all(store, interval=Interval.M5) == []
    assert await read_all(store, symbol="btc") == []  # symbols are stored as given (upper case)


async def test_has_symbol(store: HistoryStore) -> None:
    assert not await store.has_symbol("BTC")
    await store.upsert([candle(T0, symbol="BTC", source="okx", interval=Interval.D1)])
    assert await store.has_symbol("BTC")
    assert not await store.has_symbol("ETH")
    assert not await store.has_symbol("BT")


async def test_since_returns_every_series_of_one_interval_from_start(store: HistoryStore) -> None:
    written = [
        candle(T0 + i * MINUTE_MS, symbol=sym, source=src)
        for i in range(5)
        for sym in ("BTC", "ETH")
        for src in (AGGREGATE, "okx")
    ]
    await store.upsert([*written, candle(T0 + 4 * MINUTE_MS, interval=Interval.M5)])
    got = await store.since(Interval.M1, T0 + 3 * MINUTE_MS)
    expected = [c for c in written if c.t >= T0 + 3 * MINUTE_MS]
    assert sorted(got, key=_key) == sorted(expected, key=_key)
    assert [c.t for c in got] == sorted(c.t for c in got)
    assert await store.since(Interval.M1, T0 + 5 * MINUTE_MS) == []
    assert [c.interval for c in await store.since(Interval.M5, 0)] == [Interval.M5]


def _key(c: Candle) -> tuple[str, str, int]:
    return (c.symbol, c.source, c.t)


async def test_delete_before_removes_exactly_the_older_buckets(store: HistoryStore) -> None:
    m1 = [candle(T0 + i * MINUTE_MS, source=src) for i in range(10) for src in (AGGREGATE, "okx")]
    h1 = [candle(T0 + i * HOUR, interval=Interval.H1) for i in range(3)]
    await store.upsert(m1 + h1)
    cut = T0 + 4 * MINUTE_MS
    assert await store.delete_before(Interval.M1, cut) == 8  # 4 buckets × 2 series; cut itself stays
    assert [c.t for c in await read_all(store)] == [T0 + i * MINUTE_MS for i in range(4, 10)]
    assert [c.t for c in await read_all(store, source="okx")] == [T0 + i * MINUTE_MS for i in range(4, 10)]
    assert len(await read_all(store, interval=Interval.H1)) == 3  # other intervals untouched
    assert await store.delete_before(Interval.M1, cut) == 0
    assert await store.delete_before(Interval.M1, cut + 1) == 2
    assert await store.delete_before(Interval.H1, 0) == 0


async def test_opening_twice_migrates_once_and_keeps_data(store_kind: StoreKind) -> None:
    first = store_kind.make(None)
    await first.open()
    await first.upsert([candle(T0)])
    await first.open()  # a second open() of an open store changes nothing
    await first.close()
    again = store_kind.make(None)
    await again.open()
    try:
        assert await read_all(again) == [candle(T0)]
    finally:
        await again.close()
    assert store_kind.versions() == [1]


async def test_a_newer_oi_server_applies_only_its_new_steps(store_kind: StoreKind) -> None:
    base = mig.SQLITE if store_kind.name == "sqlite" else mig.POSTGRES
    table = "candle" if store_kind.name == "sqlite" else "{schema}.candle"
    extra = mig.Migration(
        len(base) + 1,
        "an extra index, as a later release might add",
        (f"CREATE INDEX IF NOT EXISTS candle_close_at ON {table} (close_at_ms)",),
    )
    old = store_kind.make(None)
    await old.open()
    await old.upsert([candle(T0)])
    await old.close()
    for _ in range(2):  # the newer release opening once, then again: the second is a no-op
        newer = store_kind.make([*base, extra])
        await newer.open()
        assert await read_all(newer) == [candle(T0)]
        await newer.close()
        assert store_kind.versions() == [*range(1, len(base) + 2)]
    older_again = store_kind.make(None)  # and the old release refuses a schema it cannot know
    message = await raises_unavailable(_open_and_read(older_again))
    await older_again.close()
    assert f"schema is at version {len(base) + 1}, newer than this oi-server knows" in message
    assert "\n" not in message


async def _open_and_read(store: HistoryStore) -> None:
    await store.open()
    await read_all(store)


def test_pending_steps_are_checked() -> None:
    steps = mig.SQLITE
    assert mig.pending(0, steps) == list(steps)
    assert mig.pending(len(steps), steps) == []
    with pytest.raises(mig.SchemaTooNew):
        mig.pending(len(steps) + 1, steps)
    with pytest.raises(ValueError, match=r"1\.\.n in order"):
        mig.pending(0, [mig.Migration(2, "gap", ())])


# -- SQLite only ------------------------------------------------------------------------------


async def test_sqlite_creates_its_directory_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "history.sqlite3"
    store = SqliteStore(path)
    await store.open()
    try:
        await store.upsert([candle(T0)])
        assert path.exists()
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        await store.close()


async def test_sqlite_second_writer_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    first = SqliteStore(path)
    await first.open()
    second = SqliteStore(path)
    try:
        with pytest.raises(HistoryInUse) as info:
            await second.open()
        message = str(info.value)
        assert message == f"SQLite history {path} is in use by another oi-server (pid {os.getpid()})"
        assert isinstance(info.value, HistoryUnavailable)
        await raises_unavailable(second.read(symbol="BTC", source="", interval=Interval.M1,
                                             start_ms=None, end_ms=None, limit=1))  # fmt: skip
    finally:
        await first.close()
    await second.open()  # free once the first has closed
    await second.upsert([candle(T0)])
    assert await read_all(second) == [candle(T0)]
    await second.close()


async def test_sqlite_unusable_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"this is not a database, " * 100)
    store = SqliteStore(path)
    message = await raises_unavailable(store.open())
    assert message == f"SQLite history {path}: file is not a database"
    await raises_unavailable(store.upsert([candle(T0)]))
    await store.close()


async def test_sqlite_directory_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    store = SqliteStore(tmp_path / "file" / "history.sqlite3")
    message = await raises_unavailable(store.open())
    assert message.startswith(f"SQLite history {tmp_path / 'file' / 'history.sqlite3'}: ")
    assert "\n" not in message


# -- PostgreSQL only --------------------------------------------------------------------------


async def test_postgres_unreachable_is_one_line_from_every_method() -> None:
    store = PostgresStore("postgresql://postgres@127.0.0.1:1/test", timeout_s=0.5)
    try:
        message = await raises_unavailable(store.open())
        assert message.startswith("PostgreSQL 127.0.0.1:1/test schema oi: ")
        assert "refused" in message.lower()
        assert "\n" not in message and "Traceback" not in message
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: store.upsert([candle(T0)]),
            lambda: read_all(store),
            lambda: store.has_symbol("BTC"),
            lambda: store.since(Interval.M1, T0),
            lambda: store.delete_before(Interval.M1, T0),
        ]
        for call in calls:
            assert (await raises_unavailable(call())).startswith("PostgreSQL 127.0.0.1:1/test schema oi: ")
    finally:
        await store.close()


async def test_postgres_password_never_reaches_the_message() -> None:
    store = PostgresStore("postgresql://oi:s3cret@127.0.0.1:1/test", timeout_s=0.5)
    try:
        message = await raises_unavailable(store.open())
        assert "s3cret" not in message
    finally:
        await store.close()


async def test_postgres_recovers_after_its_connections_are_killed() -> None:
    url = postgres_url()
    token = uuid.uuid4().hex[:12]
    schema, app = f"oi_test_{token}", f"oi-test-{token}"
    store = PostgresStore(url, schema=schema, application_name=app, timeout_s=3)
    try:
        await store.open()
        await store.upsert([candle(T0)])
        with psycopg.connect(url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
                (app,),
            ).fetchone()
        assert killed is not None and killed[0] >= 1
        failures = 0
        for _ in range(2):  # at most one call may see the kill; the next works
            try:
                assert await read_all(store) == [candle(T0)]
                break
            except HistoryUnavailable as exc:
                failures += 1
                assert "\n" not in str(exc)
        else:
            pytest.fail("the store did not recover after its connections were killed")
        assert failures <= 1
        await store.upsert([dataclasses.replace(candle(T0), oi_usd_close=1.0)])
        assert [c.oi_usd_close for c in await read_all(store)] == [1.0]
    finally:
        await store.close()
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


async def test_postgres_rides_out_an_outage_and_heals_when_the_server_returns() -> None:
    """Down at open(): open() raises, every call raises, and once the server answers again the
    store migrates and serves with nothing done by the caller. Down again mid-life: the same."""
    url = postgres_url()
    token = uuid.uuid4().hex[:12]
    schema = f"oi_test_{token}"
    proxy = TcpProxy("127.0.0.1", int(conninfo_to_dict(url).get("port") or 5432))
    via_proxy = make_conninfo(url, host="127.0.0.1", port=proxy.port)
    store = PostgresStore(via_proxy, schema=schema, timeout_s=1)
    try:
        assert "refused" in (await raises_unavailable(store.open())).lower()
        await raises_unavailable(store.has_symbol("BTC"))
        await proxy.up()
        assert await _eventually(store.has_symbol("BTC") for _ in range(8)) is False
        await store.upsert([candle(T0)])
        await proxy.down()
        await raises_unavailable(read_all(store))
        await proxy.up()
        assert await _eventually(read_all(store) for _ in range(8)) == [candle(T0)]
    finally:
        await store.close()
        await proxy.down()
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


async def _eventually(calls: Iterator[Awaitable[T]]) -> T:
    """The first of ``calls`` that does not raise HistoryUnavailable (each waits up to the store's
    own timeout, so this polls no faster than the pool reconnects)."""
    last: HistoryUnavailable | None = None
    for call in calls:
        try:
            return await call
        except HistoryUnavailable as exc:
            last = exc
    raise AssertionError(f"the store never came back: {last}")
