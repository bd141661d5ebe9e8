"""``--history`` to a store: the one place that knows the spellings. Pure parsing, plus the
constructors (which do no I/O: the caller ``open()``s the store).

    ""                      sqlite:///<data-dir>/history.sqlite3 (the default)
    sqlite:///PATH          a SQLite file (sqlite:////abs/path or sqlite:///rel/path, as SQLAlchemy)
    postgresql://…          PostgreSQL (also postgres://), libpq URL syntax, schema "oi"
    none                    no history (the caller records and serves none)
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from server.history.model import HistoryStore
from server.history.sqlite import SqliteStore

DEFAULT_FILE: Final = "history.sqlite3"
SQLITE_PREFIX: Final = "sqlite:///"
POSTGRES_PREFIXES: Final = ("postgresql://", "postgres://")


def open_store(spec: str, data_dir: Path) -> HistoryStore | None:
    """The store ``spec`` names (not yet opened), or None for ``none``; ValueError naming the
    spec when it is none of the spellings above."""
    text = spec.strip()
    if not text:
        return SqliteStore(data_dir / DEFAULT_FILE)
    if text.lower() == "none":
        return None
    if text.startswith(SQLITE_PREFIX):
        path = text[len(SQLITE_PREFIX) :]
        if not path or path.endswith("/"):
            raise ValueError(f"--history {spec!r}: name a file, e.g. sqlite:///data/history.sqlite3")
        return SqliteStore(Path(path))
    if text.startswith(POSTGRES_PREFIXES):
        # imported here, for users of PostgreSQL only: psycopg and its pool take ~50 ms to import
        from server.history.postgres import PostgresStore  # noqa: PLC0415

        return PostgresStore(text)
    raise ValueError(f"--history {spec!r}: expected sqlite:///PATH, postgresql://USER@HOST:PORT/DB or none")
