"""Screening of a new venue reading before it may replace the previous good one. Pure.

A parsed market that is wildly off the other venues' price for the same coin, or whose open
interest jumped by more than ``MAX_OI_JUMP`` between two polls without a price move to explain it,
is *rejected*: the previous good value of that market stays (for at most the staleness limit),
and the rejection is reported with its reason. Rows the parser already refused (negative, NaN/inf,
non-numeric, absurd) are carried over the same way. When most of a reading is rejected, the whole
poll is refused instead: the venue's last good reading keeps serving and ages out as usual, and
its ``updated_at`` does not claim a fresh fetch for figures that are not fresh.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Final

import msgspec

from server.core.model import MAX_FUNDING_8H, MarketOI, VenueReading

# A perpetual's mark is pinned to its index by arbitrage: venues agree within a few tenths of a
# percent, even in crashes within a few percent. 20 % off the other venues' median is a unit or
# feed error, never a market.
MAX_PRICE_DEVIATION: Final = 0.20
# The median needs at least this many other venues to mean anything.
MIN_PRICE_WITNESSES: Final = 2
# Open interest moves by percents per minute; even a liquidation cascade rarely halves it within
# a poll. A 5x jump (or a fall to a fifth) with no comparable price move is a unit or parse error.
MAX_OI_JUMP: Final = 5.0
# Below this previous size (USD) a market is too small for jumps to mean anything (new listings).
JUMP_CHECK_MIN_USD: Final = 100_000.0
# A reading with more than half of its markets rejected is refused as a whole.
MAX_REJECTED_SHARE: Final = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejection:
    venue_symbol: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Screened:
    """The reading to store (rejected markets replaced by their previous good values), what was
    rejected, and ``refused`` (a reason) when the reading must not be stored at all."""

    reading: VenueReading
    rejections: tuple[Rejection, ...]
    refused: str | None = None


def price_votes(reading: VenueReading) -> dict[str, float]:
    """One venue's vote per coin: the median of its markets' prices (USD per canonical coin).
    A function of the reading alone, so whoever keeps readings can keep their votes with them."""
    per_base: dict[str, list[float]] = defaultdict(list)
    for market in reading.markets:
        if market.price_usd is not None:
            per_base[market.base].append(market.price_usd)
    return {base: statistics.median(values) for base, values in per_base.items()}


def reference_prices(
    votes: Mapping[str, Mapping[str, float]], *, excluding: str, bases: Iterable[str]
) -> dict[str, list[float]]:
    """Each of ``bases``' prices as the *other* venues last reported them (one vote per venue)."""
    others = [v for source, v in votes.items() if source != excluding]
    return {base: [v[base] for v in others if base in v] for base in set(bases)}


def _price_problem(market: MarketOI, witnesses: Mapping[str, list[float]]) -> str | None:
    others = witnesses.get(market.base, [])
    if market.price_usd is None or len(others) < MIN_PRICE_WITNESSES:
        return None
    median = statistics.median(others)
    deviation = abs(market.price_usd / median - 1)
    if deviation > MAX_PRICE_DEVIATION:
        return (
            f"price {market.price_usd:.6g} USD is {deviation:.0%} off the other venues' median {median:.6g}"
            f" (limit {MAX_PRICE_DEVIATION:.0%})"
        )
    return None


def _quantity(market: MarketOI) -> float | None:
    """A price-independent size: coins if known, else USD / price."""
    if market.oi_base is not None:
        return market.oi_base
    if market.price_usd:
        return market.oi_usd / market.price_usd
    return None


def _jump_problem(market: MarketOI, previous: MarketOI | None) -> str | None:
    if previous is None or previous.oi_usd < JUMP_CHECK_MIN_USD:
        return None
    before, after = _quantity(previous), _quantity(market)
    if before is None or after is None:
        before, after = previous.oi_usd, market.oi_usd  # USD-only venues: USD moves with price too
        if previous.price_usd and market.price_usd:
            after *= previous.price_usd / market.price_usd
    if before <= 0:
        return None
    ratio = after / before if after > 0 else math.inf
    if ratio > MAX_OI_JUMP or ratio < 1 / MAX_OI_JUMP:
        return (
            f"open interest moved {ratio:.3g}x in one poll without a comparable price move"
            f" (limit {MAX_OI_JUMP:g}x)"
        )
    return None


def _funding_screened(market: MarketOI) -> tuple[MarketOI, str | None]:
    """``market`` without its funding when the rate is implausible (beyond ±5 % per 8 h: a unit or
    feed error), with the reason; the OI reading itself stays (funding is extra, OI is the product)."""
    funding = market.funding
    if funding is None or abs(funding.rate_8h) <= MAX_FUNDING_8H:
        return market, None
    reason = (
        f"funding {funding.rate:.6g} per {funding.interval_hours:g} h is {funding.rate_8h:.4%} per 8 h"
        f" (limit ±{MAX_FUNDING_8H:.0%}): funding dropped, open interest kept"
    )
    return msgspec.structs.replace(market, funding=None), reason


def screen(
    reading: VenueReading,
    *,
    previous: VenueReading | None,
    others: Iterable[VenueReading] = (),
    votes: Mapping[str, Mapping[str, float]] | None = None,
    skipped_symbols: Iterable[str] = (),
    stale_after_ms: int,
) -> Screened:
    """Screen ``reading`` against the venue's ``previous`` good reading and the other venues'
    prices: their ``votes`` (source → coin → ``price_votes``) when the caller keeps them, else
    computed from the ``others``' readings."""
    before = {m.venue_symbol: m for m in previous.markets} if previous else {}
    if votes is None:
        votes = {other.source: price_votes(other) for other in others}
    witnesses = reference_prices(votes, excluding=reading.source, bases=(m.base for m in reading.markets))
    kept: list[MarketOI] = []
    carried: dict[str, int] = {}
    rejections: list[Rejection] = []

    def carry(symbol: str, reason: str) -> None:
        rejections.append(Rejection(venue_symbol=symbol, reason=reason))
        fallback = before.get(symbol)
        if previous is None or fallback is None:
            return
        as_of = previous.carried.get(symbol, previous.fetched_at_ms)
        if reading.fetched_at_ms - as_of <= stale_after_ms:  # a stand-in ages out like any value
            kept.append(fallback)
            carried[symbol] = as_of

    funding_rejections: list[Rejection] = []
    for market in reading.markets:
        market, funding_problem = _funding_screened(market)  # noqa: PLW2901  # the screened market
        if funding_problem is not None:
            funding_rejections.append(Rejection(venue_symbol=market.venue_symbol, reason=funding_problem))
        problem = _price_problem(market, witnesses) or _jump_problem(market, before.get(market.venue_symbol))
        if problem is None:
            kept.append(market)
        else:
            carry(market.venue_symbol, problem)
    present = {m.venue_symbol for m in reading.markets}
    refused_rows = [s for s in dict.fromkeys(skipped_symbols) if s not in present and s in before]
    for symbol in refused_rows:  # rows the parser refused: their previous good value stays too
        carry(symbol, "row refused by the parser")
    total = len(reading.markets) + len(refused_rows)
    if len(rejections) > MAX_REJECTED_SHARE * total:
        reasons = "; ".join(f"{r.venue_symbol}: {r.reason}" for r in rejections[:2])
        return Screened(
            reading=reading,
            rejections=tuple(rejections),
            refused=f"{len(rejections)} of {total} markets rejected, e.g. {reasons}",
        )
    return Screened(
        reading=replace(reading, markets=tuple(kept), carried=carried),
        rejections=(*rejections, *funding_rejections),
    )
