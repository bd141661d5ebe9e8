"""``GET /v1/history`` (API.md section 6) and ``GET /v1/history/status``: the history's front door.

Both front doors share ``history_query`` (validation) and ``fetch`` (the read, its 404 and its 503),
so REST and gRPC can never disagree. The API layer reads through ``HistoryReader``, a narrow view
of the store that the composition root hands in (the recorder, which guards the store): it never
imports the recorder or a store. ``HistoryAccess.reader`` is None when history is off
(``--history none``): every history read then answers 503 ``UNAVAILABLE`` and says so.

Hostile parameters cost nothing: every number is checked before any query (digits only, at most
16 of them, no negative time, ``limit`` 1-1000), and ``limit`` bounds the rows whatever the range.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from aiohttp import web

from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.api.validation import InvalidArgument, normalize_source, normalize_symbol
from server.history.model import AGGREGATE, Candle, HistoryUnavailable, Interval

DEFAULT_LIMIT: Final = 500
MAX_LIMIT: Final = 1000
MAX_TIME_DIGITS: Final = 16  # unix ms up to 10^16 (year 318,857); longer is not a time
PARAMS: Final = frozenset({"symbol", "interval", "source", "start", "end", "limit"})
INTERVALS: Final = ", ".join(i.value for i in Interval)
OFF_MESSAGE: Final = "history is off (--history none): nothing is recorded or served"


class HistoryReader(Protocol):
    """What the front doors read history through (a subset of ``history.model.HistoryStore``)."""

    async def read(
        self,
        *,
        symbol: str,
        source: str,
        interval: Interval,
        start_ms: int | None,
        end_ms: int | None,
        limit: int,
    ) -> list[Candle]: ...

    async def has_symbol(self, symbol: str) -> bool: ...


def history_off_status() -> Mapping[str, object]:
    return {"state": "off", "store": "none"}


@dataclass(frozen=True, slots=True)
class HistoryAccess:
    """The front doors' handle on history: the reader (None = off) and the recorder's status."""

    reader: HistoryReader | None = None
    status: Callable[[], Mapping[str, object]] = field(default=history_off_status)


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryQuery:
    symbol: str
    source: str | None
    interval: Interval
    start_ms: int | None
    end_ms: int | None
    limit: int


class HistoryNotFound(Exception):
    """Nothing was ever recorded for the symbol (404 / NOT_FOUND)."""


def parse_ms(name: str, text: str) -> int:
    """A query parameter's whole number (a time in unix ms, or ``limit``), or InvalidArgument."""
    shown = text if len(text) <= 40 else text[:40] + "..."
    if text.startswith("-") and text[1:].isdigit():
        raise InvalidArgument(f"{name!r} must not be negative: {shown!r}")
    if not (text.isascii() and text.isdigit()):
        raise InvalidArgument(f"{name!r} is not a whole number: {shown!r}")
    if len(text) > MAX_TIME_DIGITS:
        raise InvalidArgument(f"{name!r} is out of range: {shown!r}")
    return int(text)


def history_query(
    *,
    symbol: str | None,
    interval: str | None,
    source: str | None,
    start_ms: int | None,
    end_ms: int | None,
    limit: int | None,
) -> HistoryQuery:
    """The validated request of either front door, or InvalidArgument (API.md section 6)."""
    if not symbol:
        raise InvalidArgument("'symbol' is required, e.g. /v1/history?symbol=BTC&interval=1h")
    canonical = normalize_symbol(symbol)
    if not interval:
        raise InvalidArgument(f"'interval' is required: one of {INTERVALS}")
    try:
        resolution = Interval(interval)
    except ValueError:
        shown = interval if len(interval) <= 40 else interval[:40] + "..."
        raise InvalidArgument(f"unknown interval {shown!r}; intervals: {INTERVALS}") from None
    for name, value in (("start", start_ms), ("end", end_ms)):
        if value is not None and value < 0:
            raise InvalidArgument(f"{name!r} must not be negative: {value}")
        if value is not None and value >= 10**MAX_TIME_DIGITS:
            raise InvalidArgument(f"{name!r} is out of range: {value}")
    if start_ms is not None and end_ms is not None and start_ms > end_ms:
        raise InvalidArgument(f"'start' ({start_ms}) is after 'end' ({end_ms})")
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"'limit' must be 1-{MAX_LIMIT}, got {limit}")
    return HistoryQuery(
        symbol=canonical,
        source=normalize_source(source) if source else None,
        interval=resolution,
        start_ms=start_ms,
        end_ms=end_ms,
        limit=DEFAULT_LIMIT if limit is None else limit,
    )


async def fetch(access: HistoryAccess, query: HistoryQuery) -> list[Candle]:
    """The candles, ascending by ``t``; HistoryNotFound for a symbol never recorded,
    HistoryUnavailable when history is off or the store cannot answer."""
    reader = access.reader
    if reader is None:
        raise HistoryUnavailable(OFF_MESSAGE)
    candles = await reader.read(
        symbol=query.symbol,
        source=query.source or AGGREGATE,
        interval=query.interval,
        start_ms=query.start_ms,
        end_ms=query.end_ms,
        limit=query.limit,
    )
    if not candles and not await reader.has_symbol(query.symbol):
        raise HistoryNotFound(f"no history for {query.symbol!r}: nothing was ever recorded for it")
    return candles


# --- rendering ------------------------------------------------------------------------------------


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _usd(value: float) -> float:
    return round(value, 2) if math.isfinite(value) else 0.0


def candle_json(candle: Candle) -> dict[str, object]:
    return {
        "t": candle.t,
        "oi_usd": {
            "o": _usd(candle.oi_usd_open),
            "h": _usd(candle.oi_usd_high),
            "l": _usd(candle.oi_usd_low),
            "c": _usd(candle.oi_usd_close),
        },
        "oi_coins": _finite(candle.oi_coins),
        "price_usd": _finite(candle.price_usd),
        "funding_8h": _finite(candle.funding_8h),
        "exchange_count": candle.exchange_count,
    }


def history_json(query: HistoryQuery, candles: Sequence[Candle], timestamp_ms: int) -> bytes:
    document = {
        "status": "ok",
        "timestamp": timestamp_ms,
        "data": {
            "symbol": query.symbol,
            "source": query.source,
            "interval": query.interval.value,
            "candles": [candle_json(c) for c in candles],
        },
    }
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()


def history_pb(query: HistoryQuery, candles: Sequence[Candle], timestamp_ms: int) -> pb.GetHistoryResponse:
    response = pb.GetHistoryResponse(
        timestamp=timestamp_ms, symbol=query.symbol, interval=query.interval.value
    )
    if query.source is not None:
        response.source = query.source
    for candle in candles:
        entry = response.candles.add(
            t=candle.t,
            oi_usd=pb.OiUsdOhlc(
                o=_usd(candle.oi_usd_open),
                h=_usd(candle.oi_usd_high),
                l=_usd(candle.oi_usd_low),
                c=_usd(candle.oi_usd_close),
            ),
            exchange_count=candle.exchange_count,
        )
        for name in ("oi_coins", "price_usd", "funding_8h"):
            value = _finite(getattr(candle, name))
            if value is not None:
                setattr(entry, name, value)
    return response


# --- REST ---------------------------------------------------------------------------------------

HISTORY: Final = web.AppKey("history", HistoryAccess)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _one(request: web.Request, name: str) -> str | None:
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise InvalidArgument(f"{name!r} given more than once")
    return values[0] if values else None


def _number(request: web.Request, name: str) -> int | None:
    text = _one(request, name)
    return None if text is None else parse_ms(name, text)


def _error(status: int, code: str, message: str) -> web.Response:
    """The API.md error envelope (as ``rest.error_response`` builds it; this module cannot import
    ``rest``, which imports it). Answered, not raised: the shim words a raised 404 as a bad path."""
    body = {"status": "error", "timestamp": now_ms(), "error": {"code": code, "message": message}}
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json")


async def rest_history(request: web.Request) -> web.Response:
    """API.md section 6: 400 INVALID_ARGUMENT, 404 NOT_FOUND, 503 UNAVAILABLE, else the candles."""
    try:
        unknown = sorted(set(request.query) - PARAMS)
        if unknown:
            accepted = ", ".join(repr(p) for p in sorted(PARAMS))
            raise InvalidArgument(f"unknown query parameter {unknown[0][:40]!r}; accepted: {accepted}")
        query = history_query(
            symbol=_one(request, "symbol"),
            interval=_one(request, "interval"),
            source=_one(request, "source"),
            start_ms=_number(request, "start"),
            end_ms=_number(request, "end"),
            limit=_number(request, "limit"),
        )
    except InvalidArgument as error:
        return _error(400, "INVALID_ARGUMENT", str(error))
    try:
        candles = await fetch(request.app[HISTORY], query)
    except HistoryNotFound as error:
        return _error(404, "NOT_FOUND", str(error))
    except HistoryUnavailable as error:
        return _error(503, "UNAVAILABLE", _line(error))
    return web.Response(body=history_json(query, candles, now_ms()), content_type="application/json")


async def rest_history_status(request: web.Request) -> web.Response:
    """The recorder's status (state, last error, failures, queue, drops): see README "History"."""
    if request.query:
        return _error(400, "INVALID_ARGUMENT", "GET /v1/history/status takes no query parameters")
    document = {"status": "ok", "timestamp": now_ms(), "data": dict(request.app[HISTORY].status())}
    return web.Response(
        body=json.dumps(document, separators=(",", ":")).encode(), content_type="application/json"
    )


def _line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:300]
