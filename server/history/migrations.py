"""The history schema as numbered steps, one list per engine. Pure: no I/O here.

A store records each applied version in its ``schema_migrations`` table, in the same transaction
as the step itself, and at ``open()`` applies only the steps above the highest version recorded:
opening twice is a no-op, and a newer oi-server adds its new steps and nothing else. Every
statement is also idempotent on its own (``IF NOT EXISTS``), so a step interrupted before its
version was recorded runs again safely. A database migrated by a newer oi-server than this one is
refused: this code cannot know what the newer steps changed.

The table: one row per candle, keyed (symbol, source, resolution, t), the order ``read`` asks in,
so one symbol's 24 h of 1m is one contiguous range of the primary key. A second index
(resolution, t) serves ``since`` and the retention deletes of ``delete_before``.

PostgreSQL statements name the schema as ``{schema}`` (filled in with a quoted identifier).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    why: str
    statements: tuple[str, ...]


class SchemaTooNew(Exception):
    """The database was migrated by a newer oi-server than this one."""


SQLITE: tuple[Migration, ...] = (
    Migration(
        1,
        "candles keyed by series and bucket; an index for retention and resume",
        (
            """CREATE TABLE IF NOT EXISTS candle (
                symbol TEXT NOT NULL,
                source TEXT NOT NULL,
                resolution TEXT NOT NULL,
                t INTEGER NOT NULL,
                oi_usd_open REAL NOT NULL,
                oi_usd_high REAL NOT NULL,
                oi_usd_low REAL NOT NULL,
                oi_usd_close REAL NOT NULL,
                close_at_ms INTEGER NOT NULL,
                oi_coins REAL,
                price_usd REAL,
                exchange_count INTEGER NOT NULL,
                funding_8h_sum REAL NOT NULL,
                funding_samples INTEGER NOT NULL,
                samples INTEGER NOT NULL,
                PRIMARY KEY (symbol, source, resolution, t)
            ) WITHOUT ROWID""",
            "CREATE INDEX IF NOT EXISTS candle_resolution_t ON candle (resolution, t)",
        ),
    ),
)

POSTGRES: tuple[Migration, ...] = (
    Migration(
        1,
        "candles keyed by series and bucket; an index for retention and resume",
        (
            # 8-byte columns first, then 4-byte, then text: no alignment padding inside a row.
            # COLLATE "C": keys compare as bytes, whatever the database's locale (faster, and
            # the order does not change with the machine's libc).
            """CREATE TABLE IF NOT EXISTS {schema}.candle (
                t bigint NOT NULL,
                close_at_ms bigint NOT NULL,
                oi_usd_open double precision NOT NULL,
                oi_usd_high double precision NOT NULL,
                oi_usd_low double precision NOT NULL,
                oi_usd_close double precision NOT NULL,
                oi_coins double precision,
                price_usd double precision,
                funding_8h_sum double precision NOT NULL,
                exchange_count integer NOT NULL,
                funding_samples integer NOT NULL,
                samples integer NOT NULL,
                symbol text COLLATE "C" NOT NULL,
                source text COLLATE "C" NOT NULL,
                resolution text COLLATE "C" NOT NULL,
                PRIMARY KEY (symbol, source, resolution, t)
            )""",
            "CREATE INDEX IF NOT EXISTS candle_resolution_t ON {schema}.candle (resolution, t)",
        ),
    ),
)


def pending(applied: int, migrations: Sequence[Migration]) -> list[Migration]:
    """The steps to run on a database at version ``applied`` (0: new), in order."""
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migration versions must be 1..n in order, got {versions}")
    if applied > len(migrations):
        raise SchemaTooNew(
            f"history schema is at version {applied}, newer than this oi-server knows"
            f" ({len(migrations)}): run the newer oi-server or point --history elsewhere"
        )
    return list(migrations[applied:])
