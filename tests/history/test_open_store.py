"""``--history`` spellings to stores; a bad one is a ValueError naming it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from server.history.postgres import PostgresStore
from server.history.sqlite import SqliteStore
from server.history.stores import open_store

ROOT = Path(__file__).resolve().parents[2]


def test_default_is_a_file_under_the_data_dir() -> None:
    store = open_store("", Path("data"))
    assert isinstance(store, SqliteStore)
    assert store.path == Path("data/history.sqlite3")
    assert store.lock_path == Path("data/history.sqlite3.lock")


@pytest.mark.parametrize(
    ("spec", "path"),
    [("sqlite:///hist.db", Path("hist.db")), ("sqlite:////var/lib/oi/h.db", Path("/var/lib/oi/h.db"))],
)
def test_sqlite_urls(spec: str, path: Path) -> None:
    store = open_store(spec, Path("ignored"))
    assert isinstance(store, SqliteStore) and store.path == path


@pytest.mark.parametrize("spec", ["none", "NONE", " none "])
def test_none_records_nothing(spec: str) -> None:
    assert open_store(spec, Path("data")) is None


@pytest.mark.parametrize(
    "spec", ["postgresql://oi@db.internal:5433/history", "postgres://oi:pw@127.0.0.1/oi?sslmode=disable"]
)
def test_postgres_urls(spec: str) -> None:
    store = open_store(spec, Path("data"))
    assert isinstance(store, PostgresStore)
    assert store.schema == "oi"
    assert "pw" not in repr(store)


def test_postgres_where_names_host_port_and_database() -> None:
    store = open_store("postgresql://oi:pw@db.internal:5433/history", Path("data"))
    assert isinstance(store, PostgresStore)
    assert store.where == "PostgreSQL db.internal:5433/history schema oi"


@pytest.mark.parametrize(
    "spec", ["mysql://x", "sqlite://rel.db", "sqlite:///", "sqlite:///dir/", "history.db"]
)
def test_a_bad_spec_names_itself(spec: str) -> None:
    with pytest.raises(ValueError, match="--history") as info:
        open_store(spec, Path("data"))
    assert repr(spec) in str(info.value) and "\n" not in str(info.value)


def test_a_bad_schema_name_is_refused() -> None:
    with pytest.raises(ValueError, match="schema"):
        PostgresStore("postgresql://127.0.0.1/test", schema="Robert'); DROP TABLE")


def test_psycopg_is_imported_only_for_a_postgresql_store() -> None:
    # ~50 ms of every start-up otherwise, for users who never name PostgreSQL
    check = (
        "import sys, pathlib; import server.cli, server.app; from server.history.stores import open_store\n"
        "here = pathlib.Path('.')\n"
        "open_store('', here); open_store('none', here); print('psycopg' in sys.modules)\n"
        "open_store('postgresql://127.0.0.1/test', here); print('psycopg' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.split() == ["False", "True"]
