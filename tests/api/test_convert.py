"""The edge: rounding, ordering, and pre-serialized bytes that parse as the real messages."""

from __future__ import annotations

import json
from collections.abc import Callable

from server.api.convert import PreparedSnapshot, SymbolRow, cents, symbol_row, totals_json
from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.core.aggregate import Aggregator
from tests.api.conftest import NOW, reading, snapshot


def test_cents() -> None:
    assert cents(5_200_000_000.004) == 520_000_000_000
    assert cents(1_000_000.0055) == 100_000_001  # 1,000,000.0055 USD -> 1,000,000.01 USD
    assert cents(0.0) == 0


def test_all_json_layout() -> None:
    prepared = PreparedSnapshot(snapshot())
    document = json.loads(prepared.all_json)
    assert list(document) == ["status", "timestamp", "data"]
    assert document["status"] == "ok" and document["timestamp"] == NOW
    assert list(document["data"]) == ["BTC", "ETH", "PEPE"]  # by total_oi_usd, descending
    # BTC: 5,200,000,000.00 + 3,100,000,000.00 + 1,000,000.01 = 8,301,000,000.01
    assert document["data"]["BTC"] == {"total_oi_usd": 8_301_000_000.01, "exchange_count": 3}


def test_symbol_json_layout_and_total_is_the_sum() -> None:
    document = json.loads(PreparedSnapshot(snapshot()).symbol_json("BTC") or b"")
    data = document["data"]
    assert list(data) == ["symbol", "total_oi_usd", "exchanges"]
    assert list(data["exchanges"]) == ["binance", "bybit", "okx"]
    assert data["exchanges"]["binance"] == {
        "oi_usd": 5_200_000_000.0,
        "oi_contracts": 73_239.5,
        "updated_at": NOW - 100_000,
    }
    assert "oi_contracts" not in data["exchanges"]["bybit"]  # absent, not null, not 0
    assert data["exchanges"]["okx"]["oi_contracts"] == 10.12345679  # base units to 1e-8
    total_cents = sum(round(e["oi_usd"] * 100) for e in data["exchanges"].values())
    assert round(data["total_oi_usd"] * 100) == total_cents


def test_pb_bytes_parse_as_both_response_messages() -> None:
    prepared = PreparedSnapshot(snapshot())
    get = pb.GetOpenInterestResponse.FromString(prepared.all_pb)
    watch = pb.WatchOpenInterestResponse.FromString(prepared.all_pb)
    assert get.timestamp == watch.timestamp == NOW
    assert [s.symbol for s in get.symbols] == [s.symbol for s in watch.symbols] == ["BTC", "ETH", "PEPE"]
    assert get.symbols[0].total_oi_usd == 8_301_000_000.01 and get.symbols[0].exchange_count == 3
    assert not get.symbols[0].exchanges  # totals only for all symbols


def test_one_symbol_pb_has_exchanges_and_optional_contracts() -> None:
    one = pb.GetOpenInterestResponse.FromString(PreparedSnapshot(snapshot()).one_symbol_pb("BTC") or b"")
    (btc,) = one.symbols
    assert [e.exchange for e in btc.exchanges] == ["binance", "bybit", "okx"]
    assert btc.exchanges[0].HasField("oi_contracts") and btc.exchanges[0].oi_contracts == 73_239.5
    assert not btc.exchanges[1].HasField("oi_contracts")


def test_watch_filter_is_cached_and_ordered() -> None:
    prepared = PreparedSnapshot(snapshot())
    part = prepared.watch_symbols_pb(("BTC", "ETH", "NOPE"))
    assert prepared.watch_symbols_pb(("BTC", "ETH", "NOPE")) is part  # built once per version
    message = pb.WatchOpenInterestResponse.FromString(prepared.timestamp_pb + part)
    assert [s.symbol for s in message.symbols] == ["BTC", "ETH"]
    assert all(s.exchanges for s in message.symbols)


def test_unknown_symbol() -> None:
    prepared = PreparedSnapshot(snapshot())
    assert prepared.symbol_json("DOGE") is None and prepared.one_symbol_pb("DOGE") is None


def test_a_version_built_on_the_previous_one_serves_the_same_bytes_as_a_fresh_one() -> None:

    aggregator = Aggregator()
    limits = {"binance": 10**9, "okx": 10**9}
    readings = {
        "binance": reading("binance", NOW, ("BTC", 1.0, 100.0), ("ETH", 2.0, 50.0)),
        "okx": reading("okx", NOW, ("BTC", 0.5, 49.994)),
    }
    old = PreparedSnapshot(aggregator.build(readings, now_ms=NOW, stale_after_ms=limits))
    old.symbols_json(None)  # pieces built on the old version are taken over
    readings["okx"] = reading("okx", NOW + 1, ("BTC", 0.7, 70.005))
    snapshot = aggregator.build(readings, now_ms=NOW + 2, stale_after_ms=limits)
    reused, fresh = PreparedSnapshot(snapshot, previous=old), PreparedSnapshot(snapshot)
    assert reused.pieces["ETH"] is old.pieces["ETH"] and reused.pieces["BTC"] is not old.pieces["BTC"]
    views: tuple[Callable[[PreparedSnapshot], bytes | None], ...] = (
        lambda p: p.all_json,
        lambda p: p.all_pb,
        lambda p: p.symbol_json("BTC"),
        lambda p: p.symbols_json(None),
        lambda p: p.markets_json("ETH", None),
        lambda p: p.markets_pb("BTC", "okx"),
        lambda p: p.stats_message(None),
        lambda p: p.watch_message(("BTC", "ETH")),
    )
    for view in views:
        assert view(reused) == view(fresh)


def test_a_changed_symbol_keeps_the_rounded_rows_of_its_unchanged_sources() -> None:
    aggregator = Aggregator()
    limits = {"binance": 10**9, "okx": 10**9}
    readings = {
        "binance": reading("binance", NOW, ("BTC", 1.0, 100.0)),
        "okx": reading("okx", NOW, ("BTC", 0.5, 49.994)),
    }
    old = PreparedSnapshot(aggregator.build(readings, now_ms=NOW, stale_after_ms=limits))
    readings["okx"] = reading("okx", NOW + 1, ("BTC", 2.0, 200.004))  # okx now first
    new = PreparedSnapshot(aggregator.build(readings, now_ms=NOW + 2, stale_after_ms=limits), previous=old)
    before = {e.source: e for e in old.pieces["BTC"].row.exchanges}
    after = {e.source: e for e in new.pieces["BTC"].row.exchanges}
    assert after["binance"] is before["binance"] and after["okx"] is not before["okx"]
    assert new.pieces["BTC"].row == symbol_row(new.snapshot.symbols["BTC"])  # as if built afresh
    assert [e.source for e in new.pieces["BTC"].row.exchanges] == ["okx", "binance"]
    assert new.pieces["BTC"].row.total_cents == 30_000


def test_the_totals_entry_is_what_json_dumps_writes() -> None:
    for symbol, total_cents in [
        ("BTC", 830_100_000_001),
        ("PEPE", 0),
        ("Ü", 1),  # escaped as json.dumps does
        ('A"B', 12_345),
        ("HUGE", 10**18 + 7),  # 1e+16 USD: json writes a float's repr, exponent and all
    ]:
        row = SymbolRow(symbol=symbol, total_cents=total_cents, exchanges=())
        expected = json.dumps(
            {symbol: {"total_oi_usd": total_cents / 100, "exchange_count": 0}}, separators=(",", ":")
        )[1:-1].encode()
        assert totals_json(row) == expected
