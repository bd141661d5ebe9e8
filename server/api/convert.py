"""Snapshot → the bytes users receive, built once per snapshot version and shared by every reader.

This is the edge where figures are rounded (USD to cents, base units to 1e-8) and ordered (by USD,
descending, ties by name), and the one place where our ``oi_base`` becomes the API's ``oi_contracts``.
A symbol's total is the sum of its rounded exchange figures, in integer cents, so
``total_oi_usd`` always equals the sum of the listed ``oi_usd`` values.

Protobuf responses are assembled from pre-serialized pieces: a repeated field on the wire is just
its elements one after another, so ``timestamp`` + the framed symbol entries of a filter is a valid
``GetOpenInterestResponse`` / ``WatchOpenInterestResponse`` (both share field numbers by design).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from server.api import views
from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.core.model import Snapshot
from server.core.stats import SymbolStats, symbol_stats

BASE_DECIMALS: Final = 8


@dataclass(frozen=True, slots=True)
class ExchangeRow:
    source: str
    oi_usd_cents: int
    oi_contracts: float | None  # our oi_base, in base-asset coins: the API calls it oi_contracts
    updated_at_ms: int


@dataclass(frozen=True, slots=True)
class SymbolRow:
    symbol: str
    total_cents: int
    exchanges: tuple[ExchangeRow, ...]


cents = views.cents


def present(snapshot: Snapshot) -> tuple[SymbolRow, ...]:
    """Round and order a snapshot for display (pure)."""
    result = []
    for total in snapshot.symbols.values():
        exchanges = sorted(
            (
                ExchangeRow(
                    source=v.source,
                    oi_usd_cents=views.market_cents(v),
                    oi_contracts=None if v.oi_base is None else round(v.oi_base, BASE_DECIMALS),
                    updated_at_ms=v.updated_at_ms,
                )
                for v in total.venues
            ),
            key=lambda e: (-e.oi_usd_cents, e.source),
        )
        result.append(
            SymbolRow(
                symbol=total.symbol,
                total_cents=sum(e.oi_usd_cents for e in exchanges),
                exchanges=tuple(exchanges),
            )
        )
    result.sort(key=lambda s: (-s.total_cents, s.symbol))
    return tuple(result)


def _dumps(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()


def symbol_json_data(row: SymbolRow) -> dict[str, object]:
    exchanges: dict[str, object] = {}
    for e in row.exchanges:
        figures: dict[str, object] = {"oi_usd": e.oi_usd_cents / 100}
        if e.oi_contracts is not None:
            figures["oi_contracts"] = e.oi_contracts
        figures["updated_at"] = e.updated_at_ms
        exchanges[e.source] = figures
    return {"symbol": row.symbol, "total_oi_usd": row.total_cents / 100, "exchanges": exchanges}


def ok_json(timestamp_ms: int, data: Mapping[str, object]) -> bytes:
    return _dumps({"status": "ok", "timestamp": timestamp_ms, "data": data})


def symbol_pb(row: SymbolRow, *, with_exchanges: bool) -> pb.SymbolOpenInterest:
    message = pb.SymbolOpenInterest(
        symbol=row.symbol, total_oi_usd=row.total_cents / 100, exchange_count=len(row.exchanges)
    )
    if with_exchanges:
        for e in row.exchanges:
            exchange = message.exchanges.add(
                exchange=e.source, oi_usd=e.oi_usd_cents / 100, updated_at=e.updated_at_ms
            )
            if e.oi_contracts is not None:
                exchange.oi_contracts = e.oi_contracts
    return message


def framed(entry: pb.SymbolOpenInterest) -> bytes:
    """``entry`` as field 2 (``symbols``) on the wire, ready to concatenate into a response."""
    return pb.GetOpenInterestResponse(symbols=[entry]).SerializeToString()


class PreparedSnapshot:
    """One snapshot version with its serialized forms; per-symbol and per-filter pieces are made
    on first use and then reused by every request and stream of this version."""

    __slots__ = (
        "_detail_pb",
        "_filters",
        "_markets",
        "_messages",
        "_one_pb",
        "_stats",
        "_stats_entries",
        "_stats_json",
        "_stats_messages",
        "_symbol_json",
        "all_json",
        "all_pb",
        "all_symbols_pb",
        "by_symbol",
        "rows",
        "snapshot",
        "timestamp_ms",
        "timestamp_pb",
    )

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.timestamp_ms = snapshot.built_at_ms
        self.rows = present(snapshot)
        self.by_symbol = {row.symbol: row for row in self.rows}
        self.timestamp_pb = pb.GetOpenInterestResponse(timestamp=self.timestamp_ms).SerializeToString()
        self.all_symbols_pb = b"".join(framed(symbol_pb(row, with_exchanges=False)) for row in self.rows)
        self.all_pb = self.timestamp_pb + self.all_symbols_pb
        self.all_json = ok_json(
            self.timestamp_ms,
            {
                r.symbol: {"total_oi_usd": r.total_cents / 100, "exchange_count": len(r.exchanges)}
                for r in self.rows
            },
        )
        self._symbol_json: dict[str, bytes] = {}
        self._detail_pb: dict[str, bytes] = {}
        self._one_pb: dict[str, bytes] = {}
        self._filters: dict[tuple[str, ...], bytes] = {}
        self._messages: dict[tuple[str, ...], bytes] = {}
        self._markets: dict[tuple[str, str | None, bool], bytes] = {}
        self._stats: dict[str, SymbolStats] = {}
        self._stats_json: dict[str | None, bytes] = {}
        self._stats_entries: dict[str, bytes] = {}
        self._stats_messages: dict[tuple[str, ...] | None, bytes] = {}

    def symbol_json(self, symbol: str) -> bytes | None:
        """The ``?symbol=`` body, or None when no exchange reports ``symbol``."""
        cached = self._symbol_json.get(symbol)
        if cached is None:
            row = self.by_symbol.get(symbol)
            if row is None:
                return None
            cached = self._symbol_json[symbol] = ok_json(self.timestamp_ms, symbol_json_data(row))
        return cached

    def detail_pb(self, symbol: str) -> bytes | None:
        """``symbol``'s framed entry with its exchanges, or None when nobody reports it."""
        cached = self._detail_pb.get(symbol)
        if cached is None:
            row = self.by_symbol.get(symbol)
            if row is None:
                return None
            cached = self._detail_pb[symbol] = framed(symbol_pb(row, with_exchanges=True))
        return cached

    def one_symbol_pb(self, symbol: str) -> bytes | None:
        """The whole ``GetOpenInterestResponse`` for one symbol, or None when nobody reports it."""
        cached = self._one_pb.get(symbol)
        if cached is None:
            detail = self.detail_pb(symbol)
            if detail is None:
                return None
            cached = self._one_pb[symbol] = self.timestamp_pb + detail
        return cached

    def watch_symbols_pb(self, symbols: tuple[str, ...] | None) -> bytes:
        """The symbols part of a watch message for this filter (None = all, totals only)."""
        if symbols is None:
            return self.all_symbols_pb
        cached = self._filters.get(symbols)
        if cached is None:
            present_rows = sorted(
                (self.by_symbol[s] for s in symbols if s in self.by_symbol),
                key=lambda r: (-r.total_cents, r.symbol),
            )
            cached = self._filters[symbols] = b"".join(self.detail_pb(r.symbol) or b"" for r in present_rows)
        return cached

    def watch_message(self, symbols: tuple[str, ...] | None) -> bytes:
        """The whole watch message for this filter: one bytes object shared by every stream.

        Joining ``timestamp_pb`` and the filter's part per stream made a private copy of the
        message for each of them, and grpc.aio keeps the last message a stream sent referenced
        while the stream waits for the next: ~11 KB per all-symbols watcher at 500 symbols
        (``bench/fanout.py``: 33 KB per stream before, as much as the bare server after).
        """
        if symbols is None:
            return self.all_pb
        cached = self._messages.get(symbols)
        if cached is None:
            cached = self._messages[symbols] = self.timestamp_pb + self.watch_symbols_pb(symbols)
        return cached

    # --- sections 4 and 5: markets and symbol statistics, built on first use per version -------

    def markets_json(self, symbol: str, source: str | None) -> bytes | None:
        """The ``/v1/markets`` body for ``symbol`` (one source, or all), or None when nobody reports it."""
        return self._markets_body(symbol, source, as_pb=False)

    def markets_pb(self, symbol: str, source: str | None) -> bytes | None:
        """The ``ListMarketsResponse`` for ``symbol``, or None when nobody reports it."""
        return self._markets_body(symbol, source, as_pb=True)

    def _markets_body(self, symbol: str, source: str | None, *, as_pb: bool) -> bytes | None:
        key = (symbol, source, as_pb)
        cached = self._markets.get(key)
        if cached is None:
            total = self.snapshot.symbols.get(symbol)
            if total is None:
                return None
            if as_pb:
                cached = views.markets_pb(self.timestamp_ms, total, source).SerializeToString()
            else:
                cached = ok_json(self.timestamp_ms, views.markets_json_data(total, source))
            self._markets[key] = cached
        return cached

    def stats(self, symbol: str) -> SymbolStats:
        cached = self._stats.get(symbol)
        if cached is None:
            cached = self._stats[symbol] = symbol_stats(self.snapshot.symbols[symbol])
        return cached

    def _stats_document(self, row: SymbolRow) -> dict[str, object]:
        return views.stats_json(self.snapshot.symbols[row.symbol], row.total_cents, self.stats(row.symbol))

    def symbols_json(self, symbol: str | None) -> bytes | None:
        """The ``/v1/symbols`` body: every symbol, or the one named (None when nobody reports it)."""
        cached = self._stats_json.get(symbol)
        if cached is None:
            if symbol is None:
                data = {row.symbol: self._stats_document(row) for row in self.rows}
            else:
                row = self.by_symbol.get(symbol)
                if row is None:
                    return None
                data = {symbol: self._stats_document(row)}
            cached = self._stats_json[symbol] = ok_json(self.timestamp_ms, data)
        return cached

    def _stats_entry(self, symbol: str) -> bytes:
        """One symbol's ``SymbolStats`` framed as field 2 of a stats response."""
        cached = self._stats_entries.get(symbol)
        if cached is None:
            row = self.by_symbol[symbol]
            entry = views.stats_pb(self.snapshot.symbols[symbol], row.total_cents, self.stats(symbol))
            cached = self._stats_entries[symbol] = pb.GetSymbolStatsResponse(
                symbols=[entry]
            ).SerializeToString()
        return cached

    def stats_symbols_pb(self, symbols: tuple[str, ...] | None) -> bytes:
        """The symbols part of a stats response for this filter (None = all), ordered by total."""
        cached = self._stats_messages.get(symbols)
        if cached is None:
            rows = (
                self.rows
                if symbols is None
                else sorted(
                    (self.by_symbol[s] for s in symbols if s in self.by_symbol),
                    key=lambda r: (-r.total_cents, r.symbol),
                )
            )
            cached = self._stats_messages[symbols] = b"".join(self._stats_entry(r.symbol) for r in rows)
        return cached

    def stats_message(self, symbols: tuple[str, ...] | None) -> bytes:
        """A whole ``GetSymbolStatsResponse`` / ``WatchSymbolStatsResponse`` (same field numbers),
        one bytes object per filter shared by every stream (see ``watch_message``)."""
        key = ("#message", *symbols) if symbols is not None else ("#message",)
        cached = self._stats_messages.get(key)
        if cached is None:
            cached = self._stats_messages[key] = self.timestamp_pb + self.stats_symbols_pb(symbols)
        return cached
