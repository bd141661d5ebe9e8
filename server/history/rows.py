"""One candle as one SQL row and back, the same for both stores. Pure: no I/O here.

The column order is the tables' (see ``migrations``); ``resolution`` holds the interval's text
("1m" … "1d"), so a row is readable in any SQL shell without a lookup table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from server.history.model import Candle, Interval

COLUMNS: Final = (
    "symbol",
    "source",
    "resolution",
    "t",
    "oi_usd_open",
    "oi_usd_high",
    "oi_usd_low",
    "oi_usd_close",
    "close_at_ms",
    "oi_coins",
    "price_usd",
    "exchange_count",
    "funding_8h_sum",
    "funding_samples",
    "samples",
)
KEY: Final = ("symbol", "source", "resolution", "t")
VALUES: Final = tuple(c for c in COLUMNS if c not in KEY)

# Bounds for an open-ended [start, end]: the whole signed 64-bit range both engines store.
T_MIN: Final = -(2**63)
T_MAX: Final = 2**63 - 1

Row = tuple[Any, ...]


def to_row(c: Candle) -> Row:
    return (
        c.symbol,
        c.source,
        c.interval.value,
        c.t,
        c.oi_usd_open,
        c.oi_usd_high,
        c.oi_usd_low,
        c.oi_usd_close,
        c.close_at_ms,
        c.oi_coins,
        c.price_usd,
        c.exchange_count,
        c.funding_8h_sum,
        c.funding_samples,
        c.samples,
    )


def from_row(r: Sequence[Any], interval: Interval | None = None) -> Candle:
    """The candle of a row; pass ``interval`` when the query fixed it (saves an enum lookup per
    row, which shows on 1,000-candle reads)."""
    return Candle(
        symbol=r[0],
        source=r[1],
        interval=interval or Interval(r[2]),
        t=r[3],
        oi_usd_open=r[4],
        oi_usd_high=r[5],
        oi_usd_low=r[6],
        oi_usd_close=r[7],
        close_at_ms=r[8],
        oi_coins=r[9],
        price_usd=r[10],
        exchange_count=r[11],
        funding_8h_sum=r[12],
        funding_samples=r[13],
        samples=r[14],
    )


# A read fixes symbol, source and resolution: it selects these columns only and builds each
# candle from them (``series_candles``), in this order.
SERIES_COLUMNS: Final = tuple(c for c in COLUMNS if c not in ("symbol", "source", "resolution"))

# Candle's slots, set directly: the frozen dataclass's __init__ goes through object.__setattr__
# once per field and takes 3-4× as long, which was most of a 1,440-candle read (measured: 6.3 µs
# against 1.7 µs a candle). The assertion keeps this in step with the class.
_SLOTS: Final = ("symbol", "source", "interval", *SERIES_COLUMNS)
assert Candle.__slots__ == _SLOTS, "rows.series_candles must set every field of Candle"


def series_candles(
    rows: Iterable[Sequence[Any]], symbol: str, source: str, interval: Interval
) -> list[Candle]:
    """The candles of one series' rows (``SERIES_COLUMNS``), built without the dataclass's
    __init__ (see ``_SLOTS``): equal in every way to ``Candle(...)`` of the same values."""
    new = object.__new__
    s_symbol, s_source, s_interval, s_t, s_open, s_high, s_low, s_close = (
        getattr(Candle, name).__set__ for name in _SLOTS[:8]
    )
    s_close_at, s_coins, s_price, s_count, s_fsum, s_fn, s_samples = (
        getattr(Candle, name).__set__ for name in _SLOTS[8:]
    )
    out: list[Candle] = []
    append = out.append
    for t, o, h, lo, c, close_at, coins, price, count, fsum, fn, samples in rows:
        candle = new(Candle)
        s_symbol(candle, symbol)
        s_source(candle, source)
        s_interval(candle, interval)
        s_t(candle, t)
        s_open(candle, o)
        s_high(candle, h)
        s_low(candle, lo)
        s_close(candle, c)
        s_close_at(candle, close_at)
        s_coins(candle, coins)
        s_price(candle, price)
        s_count(candle, count)
        s_fsum(candle, fsum)
        s_fn(candle, fn)
        s_samples(candle, samples)
        append(candle)
    return out


def unique_rows(candles: Iterable[Candle]) -> list[Row]:
    """The rows to write, one per key, the last candle given for a key winning: an upsert
    statement may touch a row once only (PostgreSQL refuses a second touch in one statement)."""
    by_key: dict[tuple[str, str, Interval, int], Candle] = {}
    for c in candles:
        by_key[(c.symbol, c.source, c.interval, c.t)] = c
    return [to_row(c) for c in by_key.values()]


def bounds(start_ms: int | None, end_ms: int | None) -> tuple[int, int]:
    """[start, end] with the open ends filled in, so one prepared statement serves every query."""
    return (T_MIN if start_ms is None else start_ms, T_MAX if end_ms is None else end_ms)


def one_line(exc: BaseException) -> str:
    """A driver's message on one line (psycopg's span several, with tabs), never empty."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
