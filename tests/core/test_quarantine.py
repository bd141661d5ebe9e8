"""Quarantine of implausible readings: the previous good value stays, with the reason reported."""

from __future__ import annotations

from server.core.model import MarketOI, VenueReading
from server.core.quarantine import MAX_OI_JUMP, MAX_PRICE_DEVIATION, screen

STALE = 90_000


def market(
    symbol: str, usd: float, price: float | None, base: str = "BTC", coins: float | None = None
) -> MarketOI:
    if coins is None and price:
        coins = usd / price
    return MarketOI(venue_symbol=symbol, base=base, oi_base=coins, oi_usd=usd, price_usd=price)


def reading(source: str, at: int, *markets: MarketOI) -> VenueReading:
    return VenueReading(source=source, fetched_at_ms=at, markets=markets)


PEERS = [reading("a", 0, market("A", 1e9, 90_000.0)), reading("b", 0, market("B", 1e9, 90_300.0))]


def test_price_far_from_the_other_venues_is_rejected_and_the_previous_value_kept() -> None:
    previous = reading(
        "x", 1000, market("X1", 5e8, 90_100.0), market("X2", 1e8, 90_100.0), market("X3", 1e8, 90_000.0)
    )
    # X1 quotes 25 % above the median of a and b (90,150): beyond the 20 % limit
    new = reading(
        "x", 2000, market("X1", 6e8, 112_700.0), market("X2", 1.1e8, 90_200.0), market("X3", 1e8, 90_000.0)
    )
    result = screen(new, previous=previous, others=PEERS, stale_after_ms=STALE)
    assert result.refused is None
    assert [r.venue_symbol for r in result.rejections] == ["X1"]
    assert (
        "25%" in result.rejections[0].reason and f"{MAX_PRICE_DEVIATION:.0%}" in result.rejections[0].reason
    )
    kept = {m.venue_symbol: m.oi_usd for m in result.reading.markets}
    assert kept == {"X1": 5e8, "X2": 1.1e8, "X3": 1e8}  # X1's last good value, the others' new ones
    assert result.reading.carried == {"X1": 1000}


def test_price_check_needs_two_other_venues() -> None:
    new = reading("x", 2000, market("X1", 6e8, 150_000.0))
    assert screen(new, previous=None, others=PEERS[:1], stale_after_ms=STALE).rejections == ()


def test_oi_jump_without_price_move_is_rejected() -> None:
    previous = reading(
        "x", 1000, market("X1", 1e8, 90_000.0), market("X2", 1e8, 90_000.0), market("X3", 1e8, 90_000.0)
    )
    jump = MAX_OI_JUMP * 1.2
    new = reading(
        "x",
        2000,
        market("X1", 1e8 * jump, 90_000.0),
        market("X2", 1.02e8, 90_000.0),
        market("X3", 1e8, 90_000.0),
    )
    result = screen(new, previous=previous, others=(), stale_after_ms=STALE)
    assert [r.venue_symbol for r in result.rejections] == ["X1"] and "6x" in result.rejections[0].reason
    # a fall to a tenth is a jump too
    fall = reading(
        "x", 2000, market("X1", 1e7, 90_000.0), market("X2", 1e8, 90_000.0), market("X3", 1e8, 90_000.0)
    )
    assert [
        r.venue_symbol for r in screen(fall, previous=previous, others=(), stale_after_ms=STALE).rejections
    ] == ["X1"]


def test_usd_only_venue_jump_is_judged_after_the_price_move() -> None:
    previous = reading("x", 1000, market("X1", 1e8, 100.0, coins=None), market("X2", 1e8, 1.0, coins=None))
    # USD tripled because the price tripled: not a jump in size
    moved = reading("x", 2000, market("X1", 3e8, 300.0, coins=None), market("X2", 1e8, 1.0, coins=None))
    assert screen(moved, previous=previous, others=(), stale_after_ms=STALE).rejections == ()


def test_small_markets_may_jump() -> None:
    previous = reading("x", 1000, market("X1", 50_000.0, 1.0), market("X2", 1e8, 1.0))
    new = reading("x", 2000, market("X1", 5_000_000.0, 1.0), market("X2", 1e8, 1.0))
    assert screen(new, previous=previous, others=(), stale_after_ms=STALE).rejections == ()


def test_rows_refused_by_the_parser_keep_their_previous_value_until_stale() -> None:
    previous = reading("x", 1000, market("X1", 1e8, 1.0), market("X2", 1e8, 1.0), market("X3", 1e8, 1.0))
    new = reading("x", 2000, market("X2", 1e8, 1.0), market("X3", 1e8, 1.0))
    first = screen(new, previous=previous, others=(), skipped_symbols=["X1"], stale_after_ms=STALE)
    assert {m.venue_symbol for m in first.reading.markets} == {"X1", "X2", "X3"}
    assert first.reading.carried == {"X1": 1000} and first.rejections[0].reason == "row refused by the parser"
    # still refused much later: the stand-in keeps its original fetch time and ages out
    later = reading("x", 1000 + STALE + 1, market("X2", 1e8, 1.0), market("X3", 1e8, 1.0))
    second = screen(later, previous=first.reading, others=(), skipped_symbols=["X1"], stale_after_ms=STALE)
    assert {m.venue_symbol for m in second.reading.markets} == {"X2", "X3"}


def test_mostly_rejected_reading_is_refused_whole() -> None:
    previous = reading("x", 1000, market("X1", 1e8, 90_000.0), market("X2", 1e8, 90_000.0))
    absurd = reading("x", 2000, market("X1", 1e8, 9e13), market("X2", 1e8, 9e13))
    result = screen(absurd, previous=previous, others=PEERS, stale_after_ms=STALE)
    assert result.refused is not None and "2 of 2 markets rejected" in result.refused


def test_good_reading_passes_untouched() -> None:
    new = reading("x", 2000, market("X1", 1e8, 90_000.0))
    result = screen(new, previous=None, others=PEERS, stale_after_ms=STALE)
    assert result.rejections == () and result.refused is None and result.reading.markets == new.markets
