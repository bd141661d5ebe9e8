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
from typing import Final

import msgspec

from server.api import signals, views
from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.core.model import Snapshot, SymbolTotal, VenueFigure
from server.core.signals import Changes
from server.core.stats import SymbolStats, symbol_stats

BASE_DECIMALS: Final = 8
MAX_CACHED_LISTS: Final = 256  # symbol-list bodies kept per version; more are built per request


class ExchangeRow(msgspec.Struct, frozen=True):
    """One source's figures for one symbol, rounded for display (a msgspec Struct: built for every
    source of every symbol a reading changes, ~10x cheaper than a frozen dataclass)."""

    source: str
    oi_usd_cents: int
    oi_contracts: float | None  # our oi_base, in base-asset coins: the API calls it oi_contracts
    updated_at_ms: int


class SymbolRow(msgspec.Struct, frozen=True, gc=False):
    symbol: str
    total_cents: int
    exchanges: tuple[ExchangeRow, ...]


cents = views.cents


def exchange_row(figure: VenueFigure) -> ExchangeRow:
    """Round one source's figures for one symbol (pure)."""
    return ExchangeRow(
        source=figure.source,
        oi_usd_cents=views.market_cents(figure),
        oi_contracts=None if figure.oi_base is None else round(figure.oi_base, BASE_DECIMALS),
        updated_at_ms=figure.updated_at_ms,
    )


def symbol_row(total: SymbolTotal, previous: tuple[SymbolTotal, SymbolRow] | None = None) -> SymbolRow:
    """Round and order one symbol's figures for display (pure).

    ``previous`` is the symbol's last total with its row: a source whose figure is the very same
    object (``core.aggregate.Aggregator`` keeps the figures a reading did not change) keeps its
    rounded row. A reading changes one source of each symbol it touches, and a full-scale cycle
    rebuilds each symbol's row once per source, so this rounds ~1 row where it rounded ~9.
    """
    figures_before: dict[str, VenueFigure] = {}
    rows_before: dict[str, ExchangeRow] = {}
    if previous is not None:
        figures_before = {figure.source: figure for figure in previous[0].venues}
        rows_before = {e.source: e for e in previous[1].exchanges}
    exchanges = [
        rows_before[figure.source] if figures_before.get(figure.source) is figure else exchange_row(figure)
        for figure in total.venues
    ]
    exchanges.sort(key=lambda e: (-e.oi_usd_cents, e.source))
    return SymbolRow(
        symbol=total.symbol,
        total_cents=sum(e.oi_usd_cents for e in exchanges),
        exchanges=tuple(exchanges),
    )


def present(snapshot: Snapshot) -> tuple[SymbolRow, ...]:
    """Round and order a snapshot for display (pure)."""
    result = [symbol_row(total) for total in snapshot.symbols.values()]
    result.sort(key=lambda s: (-s.total_cents, s.symbol))
    return tuple(result)


# What ``json.dumps(document, separators=(",", ":"), allow_nan=False)`` builds on every call,
# built once: the same output, without a new encoder per piece (a third of a small document's cost).
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def _dumps(document: object) -> bytes:
    return _ENCODER.encode(document).encode()


def symbol_json_data(row: SymbolRow) -> dict[str, object]:
    exchanges: dict[str, object] = {}
    for e in row.exchanges:
        figures: dict[str, object] = {"oi_usd": e.oi_usd_cents / 100}
        if e.oi_contracts is not None:
            figures["oi_contracts"] = e.oi_contracts
        figures["updated_at"] = e.updated_at_ms
        exchanges[e.source] = figures
    return {"symbol": row.symbol, "total_oi_usd": row.total_cents / 100, "exchanges": exchanges}


def totals_json(row: SymbolRow) -> bytes:
    """``"SYMBOL":{"total_oi_usd":…,"exchange_count":…}`` as in the all-symbols ``data`` map: what
    ``_dumps`` writes for that entry (``json`` writes a float as its ``repr``), formatted directly,
    since a ``json.dumps`` call per changed symbol was the largest cost of a new version."""
    total, count = row.total_cents / 100, len(row.exchanges)
    return f'{json.dumps(row.symbol)}:{{"total_oi_usd":{total!r},"exchange_count":{count}}}'.encode()


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


def ok_prefix(timestamp_ms: int) -> bytes:
    """The start of every ``ok_json`` body, up to ``"data":``."""
    return b'{"status":"ok","timestamp":%d,"data":' % timestamp_ms


class SymbolPieces(msgspec.Struct, gc=False):
    """Everything served about one ``SymbolTotal`` that does not depend on the snapshot's time,
    built on first use. A symbol whose figures a new reading did not change keeps the same
    ``SymbolTotal`` object (``core.aggregate.Aggregator``), so the next version takes over its
    pieces as they are: a snapshot costs work in proportion to what changed, not to its size.

    Made by ``build``. A msgspec Struct with ``gc=False`` rather than a slotted class: it holds
    bytes, rows and caches of bytes, never a cycle, and a full-scale poll cycle makes ~4,800 that
    live long enough to reach the collector's oldest generation, where they brought on a full
    collection (over every object the process holds) every other cycle or so."""

    total: SymbolTotal
    changes: Changes  # computed when ``total`` was new (``core.signal_book.SignalBook``)
    row: SymbolRow
    totals_pb: bytes
    totals_json: bytes
    _detail_json: bytes | None = None
    _detail_pb: bytes | None = None
    _markets: dict[tuple[str | None, bool], bytes] = msgspec.field(default_factory=dict)
    _stats: SymbolStats | None = None
    _stats_entry: bytes | None = None
    _stats_json: bytes | None = None
    _explained_json: bytes | None = None
    _signal_rows: dict[str, SignalRowPieces | None] = msgspec.field(default_factory=dict)

    @classmethod
    def build(
        cls, total: SymbolTotal, changes: Changes = (), previous: SymbolPieces | None = None
    ) -> SymbolPieces:
        """``previous``: the same symbol's pieces of the version before, whose rounded rows of
        the sources that did not change are taken over."""
        row = symbol_row(total, None if previous is None else (previous.total, previous.row))
        return cls(
            total=total,
            changes=changes,
            row=row,
            totals_pb=framed(symbol_pb(row, with_exchanges=False)),
            totals_json=totals_json(row),
        )

    @property
    def detail_json(self) -> bytes:
        """The ``data`` of the seed endpoint's ``?symbol=`` body."""
        if self._detail_json is None:
            self._detail_json = _dumps(symbol_json_data(self.row))
        return self._detail_json

    @property
    def detail_pb(self) -> bytes:
        """The framed entry with its exchanges."""
        if self._detail_pb is None:
            self._detail_pb = framed(symbol_pb(self.row, with_exchanges=True))
        return self._detail_pb

    @property
    def stats(self) -> SymbolStats:
        if self._stats is None:
            self._stats = symbol_stats(self.total)
        return self._stats

    @property
    def stats_json(self) -> bytes:
        """``"SYMBOL":{statistics}`` as in the ``/v1/symbols`` data map."""
        if self._stats_json is None:
            document = views.stats_json(self.total, self.row.total_cents, self.stats)
            document["changes"] = signals.changes_json(self.changes, explain=False)
            self._stats_json = _dumps({self.row.symbol: document})[1:-1]
        return self._stats_json

    @property
    def explained_json(self) -> bytes:
        """``stats_json`` whose changes say what explains them (``?explain=1``)."""
        if self._explained_json is None:
            document = views.stats_json(self.total, self.row.total_cents, self.stats)
            document["changes"] = signals.changes_json(self.changes, explain=True)
            self._explained_json = _dumps({self.row.symbol: document})[1:-1]
        return self._explained_json

    def signal_row(self, window: str) -> SignalRowPieces | None:
        """This symbol's screener row for ``window``, None when history does not cover it."""
        if window in self._signal_rows:
            return self._signal_rows[window]
        found: SignalRowPieces | None = None
        for change in self.changes:
            if change.window == window:
                cents_ = self.row.total_cents
                symbol = self.row.symbol
                found = SignalRowPieces(
                    symbol=symbol,
                    order=(-abs(change.oi_move), symbol),
                    signal=change.signal.value,
                    crowding=None if change.crowding is None else change.crowding.value,
                    json=_dumps(signals.signal_row_json(symbol, change, cents_, self.stats)),
                    pb=signals.framed_row(signals.signal_row_pb(symbol, change, cents_, self.stats)),
                )
        self._signal_rows[window] = found
        return found

    @property
    def stats_entry(self) -> bytes:
        """This symbol's ``SymbolStats`` framed as field 2 of a stats response."""
        if self._stats_entry is None:
            entry = views.stats_pb(self.total, self.row.total_cents, self.stats)
            entry.changes.extend(signals.change_pb(change) for change in self.changes)
            self._stats_entry = pb.GetSymbolStatsResponse(symbols=[entry]).SerializeToString()
        return self._stats_entry

    def markets(self, source: str | None, *, as_pb: bool) -> bytes:
        """The markets view without its timestamp: JSON ``data``, or the response's other fields."""
        key = (source, as_pb)
        cached = self._markets.get(key)
        if cached is None:
            if as_pb:
                cached = views.markets_pb(
                    0, self.total, source
                ).SerializeToString()  # timestamp 0: not on the wire
            else:
                cached = _dumps(views.markets_json_data(self.total, source))
            self._markets[key] = cached
        return cached


class SignalRowPieces(msgspec.Struct, frozen=True, kw_only=True):
    """One symbol's screener row of one window, serialized once, with what filters and orders it."""

    symbol: str
    order: tuple[float, str]  # abs(oi_pct) descending, then name
    signal: str
    crowding: str | None
    json: bytes
    pb: bytes  # framed as field 2 of GetSignalsResponse / WatchSignalsResponse


# Screener bodies cached per version (window × signal × crowding × limit); past it, built per request.
MAX_CACHED_SCREENS: Final = 256


class PreparedSnapshot:
    """One snapshot version with its serialized forms. Per-symbol pieces come from the previous
    version where the symbol did not change, or are built on first use; per-request bodies are
    the timestamp's prefix joined to those pieces, made once per version and shared by every
    request and stream."""

    __slots__ = (
        "_filters",
        "_lists",
        "_markets",
        "_messages",
        "_one_pb",
        "_screens",
        "_stats_json",
        "_stats_messages",
        "_symbol_json",
        "all_json",
        "all_pb",
        "all_symbols_pb",
        "by_symbol",
        "pieces",
        "rows",
        "snapshot",
        "timestamp_ms",
        "timestamp_pb",
    )

    def __init__(
        self,
        snapshot: Snapshot,
        previous: PreparedSnapshot | None = None,
        changes: Mapping[str, Changes] | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.timestamp_ms = snapshot.built_at_ms
        before: dict[str, SymbolPieces] = previous.pieces if previous is not None else {}
        pieces: dict[str, SymbolPieces] = {}
        changed = changes or {}
        for symbol, total in snapshot.symbols.items():
            kept = before.get(symbol)
            if kept is not None and kept.total is total:
                pieces[symbol] = kept
            else:
                pieces[symbol] = SymbolPieces.build(total, changed.get(symbol, ()), previous=kept)
        ordered = sorted(pieces.values(), key=lambda p: (-p.row.total_cents, p.row.symbol))
        self.pieces: dict[str, SymbolPieces] = {p.row.symbol: p for p in ordered}
        self.rows = tuple(p.row for p in ordered)
        self.by_symbol = {row.symbol: row for row in self.rows}
        self.timestamp_pb = pb.GetOpenInterestResponse(timestamp=self.timestamp_ms).SerializeToString()
        self.all_symbols_pb = b"".join(p.totals_pb for p in ordered)
        self.all_pb = self.timestamp_pb + self.all_symbols_pb
        self.all_json = (
            ok_prefix(self.timestamp_ms) + b"{" + b",".join(p.totals_json for p in ordered) + b"}}"
        )
        self._symbol_json: dict[str, bytes] = {}
        self._one_pb: dict[str, bytes] = {}
        self._filters: dict[tuple[str, ...], bytes] = {}
        self._messages: dict[tuple[str, ...], bytes] = {}
        self._markets: dict[tuple[str, str | None, bool], bytes] = {}
        self._stats_json: dict[str | None, bytes] = {}
        self._stats_messages: dict[tuple[str, ...] | None, bytes] = {}
        self._lists: dict[tuple[str, str | None, tuple[str, ...]], bytes] = {}
        self._screens: dict[tuple[object, ...], object] = {}

    def symbol_json(self, symbol: str) -> bytes | None:
        """The ``?symbol=`` body, or None when no exchange reports ``symbol``."""
        cached = self._symbol_json.get(symbol)
        if cached is None:
            piece = self.pieces.get(symbol)
            if piece is None:
                return None
            cached = self._symbol_json[symbol] = ok_prefix(self.timestamp_ms) + piece.detail_json + b"}"
        return cached

    def detail_pb(self, symbol: str) -> bytes | None:
        """``symbol``'s framed entry with its exchanges, or None when nobody reports it."""
        piece = self.pieces.get(symbol)
        return None if piece is None else piece.detail_pb

    def one_symbol_pb(self, symbol: str) -> bytes | None:
        """The whole ``GetOpenInterestResponse`` for one symbol, or None when nobody reports it."""
        cached = self._one_pb.get(symbol)
        if cached is None:
            detail = self.detail_pb(symbol)
            if detail is None:
                return None
            cached = self._one_pb[symbol] = self.timestamp_pb + detail
        return cached

    def _present(self, symbols: tuple[str, ...]) -> list[SymbolPieces]:
        """The named symbols that someone reports, in the snapshot's order (by total, then name)."""
        return sorted(
            (self.pieces[s] for s in symbols if s in self.pieces),
            key=lambda p: (-p.row.total_cents, p.row.symbol),
        )

    def watch_symbols_pb(self, symbols: tuple[str, ...] | None) -> bytes:
        """The symbols part of a watch message for this filter (None = all, totals only)."""
        if symbols is None:
            return self.all_symbols_pb
        cached = self._filters.get(symbols)
        if cached is None:
            cached = self._filters[symbols] = b"".join(p.detail_pb for p in self._present(symbols))
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

    # --- sections 4 and 5: markets and symbol statistics ----------------------------------------

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
            piece = self.pieces.get(symbol)
            if piece is None:
                return None
            body = piece.markets(source, as_pb=as_pb)
            # ListMarketsResponse.timestamp is field 1, like GetOpenInterestResponse's
            cached = self.timestamp_pb + body if as_pb else ok_prefix(self.timestamp_ms) + body + b"}"
            self._markets[key] = cached
        return cached

    def stats(self, symbol: str) -> SymbolStats:
        return self.pieces[symbol].stats

    def symbols_json(self, symbol: str | None, *, explain: bool = False) -> bytes | None:
        """The ``/v1/symbols`` body: every symbol, or the one named (None when nobody reports it);
        with ``explain``, each window's changes say what explains them."""
        key = symbol if not explain else f"#explain:{symbol or ''}"
        cached = self._stats_json.get(key)
        if cached is None:
            if symbol is None:
                chosen = list(self.pieces.values())
            elif symbol in self.pieces:
                chosen = [self.pieces[symbol]]
            else:
                return None
            parts = (p.explained_json if explain else p.stats_json for p in chosen)
            data = b"{" + b",".join(parts) + b"}"
            cached = self._stats_json[key] = ok_prefix(self.timestamp_ms) + data + b"}"
        return cached

    # --- several symbols in one REST call -------------------------------------------------------

    def symbols_json_many(self, symbols: tuple[str, ...], *, explain: bool = False) -> bytes | None:
        """The ``/v1/symbols?symbol=A,B`` body: the named symbols someone reports, in the snapshot's
        order (the all-symbols shape, fewer keys); None when nobody reports any of them."""
        return self._list_body("symbols-explained" if explain else "symbols", None, symbols)

    def markets_json_many(self, symbols: tuple[str, ...], source: str | None) -> bytes | None:
        """The ``/v1/markets?symbol=A,B`` body: data maps each reported symbol to its one-symbol
        ``data`` (``{"symbol", "markets"}``), in the snapshot's order; None when nobody reports any."""
        return self._list_body("markets", source, symbols)

    def _list_body(self, view: str, source: str | None, symbols: tuple[str, ...]) -> bytes | None:
        key = (view, source, tuple(sorted(set(symbols))))
        cached = self._lists.get(key)
        if cached is not None:
            return cached
        present = self._present(key[2])
        if not present:
            return None
        if view == "symbols":
            entries = [p.stats_json for p in present]
        elif view == "symbols-explained":
            entries = [p.explained_json for p in present]
        else:
            entries = [_dumps(p.row.symbol) + b":" + p.markets(source, as_pb=False) for p in present]
        body = ok_prefix(self.timestamp_ms) + b"{" + b",".join(entries) + b"}}"
        if len(self._lists) < MAX_CACHED_LISTS:  # any list may be asked for: keep only so many
            self._lists[key] = body
        return body

    # --- section 7: signals -------------------------------------------------------------------

    def signal_rows(self, window: str, symbols: tuple[str, ...] | None = None) -> list[SignalRowPieces]:
        """Every symbol's row of ``window`` (or the named symbols'), by abs(oi_pct) descending."""
        key = ("#rows", window, symbols)
        cached = self._screens.get(key)
        if cached is None:
            chosen = self.pieces.values() if symbols is None else self._present(symbols)
            rows = [r for r in (p.signal_row(window) for p in chosen) if r is not None]
            rows.sort(key=lambda r: r.order)
            cached = self._screens[key] = rows
        return cached  # type: ignore[return-value]

    def _screen(
        self, window: str, signal: str | None, crowding: str | None, limit: int | None
    ) -> list[SignalRowPieces]:
        rows = [
            r
            for r in self.signal_rows(window)
            if (signal is None or r.signal == signal) and (crowding is None or r.crowding == crowding)
        ]
        return rows if limit is None else rows[:limit]

    def signals_json(self, window: str, signal: str | None, crowding: str | None, limit: int | None) -> bytes:
        """The ``/v1/signals`` body (API.md section 7)."""
        key = ("#json", window, signal, crowding, limit)
        cached = self._screens.get(key)
        if cached is None:
            rows = self._screen(window, signal, crowding, limit)
            cached = ok_prefix(self.timestamp_ms) + b"[" + b",".join(r.json for r in rows) + b"]}"
            if len(self._screens) < MAX_CACHED_SCREENS:
                self._screens[key] = cached
        return cached  # type: ignore[return-value]

    def signals_pb(self, window: str, signal: str | None, crowding: str | None, limit: int | None) -> bytes:
        """The ``GetSignalsResponse``."""
        key = ("#pb", window, signal, crowding, limit)
        cached = self._screens.get(key)
        if cached is None:
            rows = self._screen(window, signal, crowding, limit)
            cached = self.timestamp_pb + b"".join(r.pb for r in rows)
            if len(self._screens) < MAX_CACHED_SCREENS:
                self._screens[key] = cached
        return cached  # type: ignore[return-value]

    def signal_labels(self, window: str, symbols: tuple[str, ...] | None) -> bytes:
        """What a signals watch conflates on: each followed symbol's signal and crowding."""
        key = ("#labels", window, symbols)
        cached = self._screens.get(key)
        if cached is None:
            rows = sorted(self.signal_rows(window, symbols), key=lambda r: r.symbol)
            cached = self._screens[key] = "\n".join(
                f"{r.symbol} {r.signal} {r.crowding}" for r in rows
            ).encode()
        return cached  # type: ignore[return-value]

    def signals_watch_message(self, window: str, symbols: tuple[str, ...] | None) -> bytes:
        """A whole ``WatchSignalsResponse`` (same field numbers as ``GetSignalsResponse``)."""
        key = ("#watch", window, symbols)
        cached = self._screens.get(key)
        if cached is None:
            rows = self.signal_rows(window, symbols)
            cached = self._screens[key] = self.timestamp_pb + b"".join(r.pb for r in rows)
        return cached  # type: ignore[return-value]

    def stats_symbols_pb(self, symbols: tuple[str, ...] | None) -> bytes:
        """The symbols part of a stats response for this filter (None = all), ordered by total."""
        cached = self._stats_messages.get(symbols)
        if cached is None:
            chosen = list(self.pieces.values()) if symbols is None else self._present(symbols)
            cached = self._stats_messages[symbols] = b"".join(p.stats_entry for p in chosen)
        return cached

    def stats_message(self, symbols: tuple[str, ...] | None) -> bytes:
        """A whole ``GetSymbolStatsResponse`` / ``WatchSymbolStatsResponse`` (same field numbers),
        one bytes object per filter shared by every stream (see ``watch_message``)."""
        key = ("#message", *symbols) if symbols is not None else ("#message",)
        cached = self._stats_messages.get(key)
        if cached is None:
            cached = self._stats_messages[key] = self.timestamp_pb + self.stats_symbols_pb(symbols)
        return cached
