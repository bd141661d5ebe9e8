"""The views API.md section 7 adds: each symbol's ``changes`` (with ``?explain=1`` what explains
them) and the screener rows, as JSON documents and protobuf messages. Pure functions of one
symbol's ``Changes``; ``SymbolPieces`` builds each once per ``SymbolTotal``, so an unchanged
symbol's bytes are reused from version to version.

Rounding: percentages to 1e-4, shares to 1e-6, coins to 1e-8, prices to 10 significant digits.
"""

from __future__ import annotations

from typing import Final

from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.api.views import COIN_DECIMALS, SHARE_DECIMALS, cents, price_text
from server.core.signals import WINDOWS, Change, Changes, Crowding, Signal
from server.core.stats import SymbolStats

PCT_DECIMALS: Final = 4
SIGNAL_NAMES: Final = frozenset(s.value for s in Signal)
CROWDING_NAMES: Final = frozenset(c.value for c in Crowding)
WINDOW_NAMES: Final = tuple(WINDOWS)
_SIGNAL_PB: Final = {s: pb.Signal.Value(f"SIGNAL_{s.name}") for s in Signal}
_CROWDING_PB: Final = {c: pb.Crowding.Value(f"CROWDING_{c.name}") for c in Crowding}
SIGNAL_OF_PB: Final = {v: k for k, v in _SIGNAL_PB.items()}
CROWDING_OF_PB: Final = {v: k for k, v in _CROWDING_PB.items()}


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value, PCT_DECIMALS)


def _coins(value: float) -> float:
    return round(value, COIN_DECIMALS)


def change_json(change: Change, *, explain: bool) -> dict[str, object]:
    document: dict[str, object] = {
        "oi_pct": _pct(change.oi_pct),
        "oi_usd_pct": _pct(change.oi_usd_pct),
        "price_pct": _pct(change.price_pct),
        "signal": change.signal.value,
        "crowding": None if change.crowding is None else change.crowding.value,
    }
    if explain:
        document["explain"] = {
            "now": change.now_ms,
            "then": change.then_ms,
            "oldest": change.oldest_ms,
            "oi_coins": None if change.oi_coins is None else [_coins(v) for v in change.oi_coins],
            "oi_usd": [cents(v) / 100 for v in change.oi_usd],
            "price_usd": None if change.price_usd is None else [price_text(v) for v in change.price_usd],
            "coverage": round(change.coverage, SHARE_DECIMALS),
            "coins_coverage": round(change.coins_coverage, SHARE_DECIMALS),
            "sources": change.sources,
        }
    return document


def changes_json(changes: Changes, *, explain: bool) -> dict[str, object]:
    """``changes`` as in ``/v1/symbols``: keyed by window, shortest first, absent windows left out."""
    return {change.window: change_json(change, explain=explain) for change in changes}


def change_pb(change: Change) -> pb.SymbolChange:
    message = pb.SymbolChange(
        window=change.window,
        oi_usd_pct=round(change.oi_usd_pct, PCT_DECIMALS),
        signal=_SIGNAL_PB[change.signal],
        now=change.now_ms,
        then=change.then_ms,
        oldest=change.oldest_ms,
        oi_usd_then=cents(change.oi_usd[0]) / 100,
        oi_usd_now=cents(change.oi_usd[1]) / 100,
        coverage=round(change.coverage, SHARE_DECIMALS),
        coins_coverage=round(change.coins_coverage, SHARE_DECIMALS),
        sources=change.sources,
    )
    if change.oi_pct is not None:
        message.oi_pct = round(change.oi_pct, PCT_DECIMALS)
    if change.price_pct is not None:
        message.price_pct = round(change.price_pct, PCT_DECIMALS)
    if change.crowding is not None:
        message.crowding = _CROWDING_PB[change.crowding]
    if change.oi_coins is not None:
        message.oi_coins_then, message.oi_coins_now = (_coins(v) for v in change.oi_coins)
    if change.price_usd is not None:
        message.price_usd_then, message.price_usd_now = (price_text(v) for v in change.price_usd)
    return message


def changes_pb(changes: Changes) -> bytes:
    """The ``changes`` field (14) of a ``SymbolStats``, serialized: appended to a serialized
    ``SymbolStats`` it makes the whole message (a repeated field on the wire is its elements)."""
    return pb.SymbolStats(changes=[change_pb(c) for c in changes]).SerializeToString()


def signal_row_json(symbol: str, change: Change, total_cents: int, stats: SymbolStats) -> dict[str, object]:
    return {
        "symbol": symbol,
        "oi_pct": _pct(change.oi_pct),
        "oi_usd_pct": _pct(change.oi_usd_pct),
        "price_pct": _pct(change.price_pct),
        "signal": change.signal.value,
        "crowding": None if change.crowding is None else change.crowding.value,
        "funding_8h": None if stats.funding_8h is None else round(stats.funding_8h, 10),
        "total_oi_usd": total_cents / 100,
    }


def signal_row_pb(symbol: str, change: Change, total_cents: int, stats: SymbolStats) -> pb.SignalRow:
    row = pb.SignalRow(
        symbol=symbol,
        oi_usd_pct=round(change.oi_usd_pct, PCT_DECIMALS),
        signal=_SIGNAL_PB[change.signal],
        total_oi_usd=total_cents / 100,
        window=change.window,
    )
    if change.oi_pct is not None:
        row.oi_pct = round(change.oi_pct, PCT_DECIMALS)
    if change.price_pct is not None:
        row.price_pct = round(change.price_pct, PCT_DECIMALS)
    if change.crowding is not None:
        row.crowding = _CROWDING_PB[change.crowding]
    if stats.funding_8h is not None:
        row.funding_8h = round(stats.funding_8h, 10)
    return row


def framed_row(row: pb.SignalRow) -> bytes:
    """``row`` as field 2 (``signals``) on the wire, ready to concatenate into a response."""
    return pb.GetSignalsResponse(signals=[row]).SerializeToString()
