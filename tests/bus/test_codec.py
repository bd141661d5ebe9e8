"""The bus's values: what a collector encodes, a replica decodes to the same thing; what it
cannot take (corrupt, newer format, unknown key) is refused with a reason, never half-applied."""

from __future__ import annotations

import msgspec
import pytest

from server.bus.codec import (
    COMPRESS_OVER,
    FORMAT,
    Frame,
    Message,
    ReadingMessage,
    SignalsMessage,
    SnapshotMessage,
    StatusMessage,
    Undecodable,
    decode,
    encode,
    key_of,
    symbol_key,
)
from server.core.model import (
    ContractKind,
    Convention,
    Funding,
    MarketOI,
    PriceKind,
    Raw,
    RawUnit,
    VenueReading,
    VenueType,
)
from server.core.signals import Change, Crowding, Signal
from server.core.sources import SourceRecord


def market(symbol: str, base: str, oi_usd: float, **extra: object) -> MarketOI:
    return MarketOI(
        venue_symbol=symbol,
        base=base,
        oi_base=oi_usd / 50_000,
        oi_usd=oi_usd,
        price_usd=50_000.0,
        raw=Raw(field="openInterest", value=f"{oi_usd / 50_000:.8f}", unit=RawUnit.BASE),
        convention=Convention.ONE_SIDED,
        price_kind=PriceKind.MARK,
        funding=Funding(rate=0.0001, interval_hours=8.0, next_at_ms=1_700_000_000_000),
        **extra,  # type: ignore[arg-type]
    )


def reading(source: str = "bybit", n: int = 3, fetched_at_ms: int = 1_700_000_000_000) -> VenueReading:
    return VenueReading(
        source=source,
        fetched_at_ms=fetched_at_ms,
        markets=(
            *(market(f"C{i}USDT", f"C{i}", 1_000_000.0 + i) for i in range(n)),
            market("BTCUSD", "BTC", 2e9, kind=ContractKind.INVERSE, margin_asset="BTC", contract_size=1.0),
        ),
        carried={"C1USDT": fetched_at_ms - 30_000},
        venue_type=VenueType.CEX,
    )


def change(window: str = "1h") -> Change:
    return Change(
        window=window,
        oi_pct=1.5,
        oi_usd_pct=2.0,
        price_pct=None,
        signal=Signal.NEW_LONGS,
        crowding=Crowding.LONGS,
        now_ms=2,
        then_ms=1,
        oldest_ms=1,
        oi_coins=(1.0, 1.015),
        oi_usd=(10.0, 10.2),
        price_usd=None,
        coverage=0.9,
        coins_coverage=0.8,
        sources=3,
    )


def test_every_kind_of_value_round_trips_under_its_key() -> None:
    values: list[Message] = [
        ReadingMessage(reading=reading(), stale_after_ms=90_000),
        StatusMessage(
            record=SourceRecord(source="okx", poll_interval_s=30.0, last_error="VenueTimeout: 10 s")
        ),
        SignalsMessage(symbol="BTC", changes=(change("1m"), change("1h"))),
        SnapshotMessage(
            version=7,
            built_at_ms=5,
            published_at_ms=6,
            counted={"bybit": 1},
            stale_after_ms={"bybit": 90_000},
            symbols=4,
        ),
    ]
    for value in values:
        key = key_of(value)
        assert decode(key, encode(value)) == value
    assert [key_of(v) for v in values] == ["reading.bybit", "status.okx", "signals.BTC", "snapshot"]


def test_a_reading_keeps_every_market_field_exactly() -> None:
    sent = reading(n=50)
    got = decode("reading.bybit", encode(ReadingMessage(reading=sent, stale_after_ms=1)))
    assert isinstance(got, ReadingMessage)
    assert got.reading == sent  # floats, enums, funding, raw text, carried times: all equal
    assert got.reading.markets[-1].kind is ContractKind.INVERSE


def test_large_readings_are_compressed_and_still_decode() -> None:
    big = ReadingMessage(reading=reading(n=3_000), stale_after_ms=1)
    plain = msgspec.msgpack.encode(big)
    assert len(plain) > COMPRESS_OVER
    body = encode(big)
    assert len(body) < len(plain) / 2
    assert decode("reading.bybit", body) == big


def test_symbols_a_key_cannot_hold_are_spelt_in_hex() -> None:
    assert symbol_key("1000PEPE") == "signals.1000PEPE"
    assert symbol_key("xyz:NVDA") == "signals.x." + b"xyz:NVDA".hex()
    message = SignalsMessage(symbol="xyz:NVDA", changes=())
    assert decode(key_of(message), encode(message)) == message


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("reading.bybit", b"\xc1garbage", "reading.bybit"),
        ("snapshot", msgspec.msgpack.encode({"format": 1, "version": "seven"}), "snapshot"),
        ("status.okx", b"z\x00not zlib", "status.okx"),
        ("elsewhere.x", b"", "unknown key"),
        (
            "snapshot",
            msgspec.msgpack.encode(
                {
                    "format": FORMAT + 1,
                    "version": 1,
                    "built_at_ms": 1,
                    "published_at_ms": 1,
                    "counted": {},
                    "stale_after_ms": {},
                    "symbols": 0,
                }
            ),
            "newer than this replica",
        ),
    ],
)
def test_values_that_cannot_be_taken_are_refused_with_the_reason(key: str, value: bytes, reason: str) -> None:
    with pytest.raises(Undecodable, match=reason):
        decode(key, value)


def test_a_field_added_by_a_newer_collector_is_ignored_and_one_it_lacks_takes_its_default() -> None:
    """Additive changes within a format: the rolling-upgrade rule of codec.py."""
    newer = {
        "format": FORMAT,
        "record": {"source": "okx", "poll_interval_s": 30.0, "brand_new_field": [1, 2]},
    }
    got = decode("status.okx", msgspec.msgpack.encode(newer))
    assert isinstance(got, StatusMessage)
    assert got.record == SourceRecord(source="okx", poll_interval_s=30.0)


def test_a_frame_names_each_counted_reading_by_its_fetch_time() -> None:
    frame = Frame(
        version=3,
        built_at_ms=10,
        readings={"okx": reading("okx", fetched_at_ms=4), "bybit": reading("bybit", fetched_at_ms=5)},
        stale_after_ms={"okx": 90_000, "bybit": 60_000},
        changes={},
        symbols=2,
    )
    message = frame.snapshot_message(published_at_ms=11)
    assert message.counted == {"bybit": 5, "okx": 4}
    assert message.stale_after_ms == {"bybit": 60_000, "okx": 90_000}
    assert (message.version, message.built_at_ms, message.published_at_ms) == (3, 10, 11)
