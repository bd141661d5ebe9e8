"""The simulator's market state: shared asset prices and per-venue listings that random-walk.

Prices belong to the asset (all venues quote nearly the same BTC price, as in reality, so a
cross-venue sanity check sees plausible data); each listing adds a small fixed skew. Open interest
belongs to the listing and is held in canonical base coins; render modules turn it into each
venue's own units (contracts, USD, bundles of 1000, two-sided counts, fixed-point integers).
Both walks revert to their starting level, so values stay positive and plausible forever.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from server.core.model import ContractKind

PRICE_STEP_SIGMA: Final = 0.001  # per tick
OI_STEP_SIGMA: Final = 0.002
MEAN_REVERSION: Final = 0.02  # pull of each tick back toward the starting level (log space)
# Funding per 8 h walks around the venues' common baseline (0.01 %/8 h ≈ 10.95 % APR), never far.
FUNDING_8H_BASELINE: Final = 0.0001
FUNDING_8H_STEP_SIGMA: Final = 0.00001
FUNDING_8H_SPREAD: Final = 0.0002  # starting levels spread over ±this around the baseline
HOUR_MS: Final = 3_600_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Asset:
    symbol: str
    price_usd: float
    oi_usd: float  # typical open interest on one large venue


# Real coins at late-2025 levels, enough for every venue's naming quirks (bundled PEPE/SHIB/BONK,
# XBT, k-prefixes). Synthetic "SIMnnn" coins extend the list to a venue's real market count.
CORE_ASSETS: Final = (
    Asset(symbol="BTC", price_usd=90_000.0, oi_usd=8e9),
    Asset(symbol="ETH", price_usd=3_000.0, oi_usd=5e9),
    Asset(symbol="SOL", price_usd=140.0, oi_usd=1.5e9),
    Asset(symbol="XRP", price_usd=2.2, oi_usd=9e8),
    Asset(symbol="DOGE", price_usd=0.16, oi_usd=6e8),
    Asset(symbol="BNB", price_usd=650.0, oi_usd=4e8),
    Asset(symbol="HYPE", price_usd=30.0, oi_usd=4e8),
    Asset(symbol="SUI", price_usd=1.6, oi_usd=3e8),
    Asset(symbol="ADA", price_usd=0.45, oi_usd=3e8),
    Asset(symbol="LINK", price_usd=13.0, oi_usd=2.5e8),
    Asset(symbol="AVAX", price_usd=14.0, oi_usd=2e8),
    Asset(symbol="LTC", price_usd=85.0, oi_usd=2e8),
    Asset(symbol="PEPE", price_usd=0.0000045, oi_usd=2e8),
    Asset(symbol="SHIB", price_usd=0.000008, oi_usd=8e7),
    Asset(symbol="BONK", price_usd=0.000009, oi_usd=6e7),
    Asset(symbol="WIF", price_usd=0.4, oi_usd=1.2e8),
    Asset(symbol="DOT", price_usd=2.5, oi_usd=1e8),
    Asset(symbol="TRX", price_usd=0.28, oi_usd=1e8),
    Asset(symbol="ARB", price_usd=0.2, oi_usd=9e7),
    Asset(symbol="OP", price_usd=0.3, oi_usd=7e7),
)


def synthetic_assets(count: int) -> tuple[Asset, ...]:
    """``count`` extra coins with a spread of prices and OI, for real-size market lists."""
    return tuple(
        Asset(symbol=f"SIM{i:03d}", price_usd=round(0.01 * 1.7 ** (i % 17), 6), oi_usd=2e7 / (1 + i % 23))
        for i in range(count)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Listing:
    """One market a simulated venue lists, in that venue's terms.

    ``venue_factor``: canonical coins per venue base unit (1000 for 1000PEPEUSDT, kPEPE).
    ``contract_size``: base units (linear) or USD (inverse) per contract.
    ``share``: this market's part of the asset's typical OI on this venue.
    """

    venue_symbol: str
    asset: str
    kind: ContractKind = ContractKind.LINEAR
    contract_size: float = 1.0
    venue_factor: float = 1.0
    settle: str = "USDT"
    share: float = 1.0
    price_skew: float = 0.0
    funding_interval_h: float = 8.0


@dataclass(slots=True)
class ListingState:
    """A listing with its current figures; read by render modules and by the truth endpoint."""

    listing: Listing
    price_usd: float  # per canonical coin
    oi_base: float  # canonical coins
    funding_8h: float = FUNDING_8H_BASELINE  # the fraction longs pay per 8 h

    @property
    def funding_rate(self) -> float:
        """The rate per the listing's own funding interval, as the venue quotes it."""
        return self.funding_8h * self.listing.funding_interval_h / 8.0

    def next_funding_ms(self, now_ms: int) -> int:
        """The next settlement: the next whole multiple of the interval since the epoch (UTC)."""
        step = int(self.listing.funding_interval_h * HOUR_MS)
        return (now_ms // step + 1) * step

    @property
    def venue_price(self) -> float:
        """USD per venue base unit (the price a 1000PEPE market quotes)."""
        return self.price_usd * self.listing.venue_factor

    @property
    def oi_usd(self) -> float:
        return self.oi_base * self.price_usd

    @property
    def venue_units(self) -> float:
        """OI in venue base units (bundles of 1000 for a 1000-prefixed market)."""
        return self.oi_base / self.listing.venue_factor

    @property
    def contracts(self) -> float:
        """OI in the venue's contracts: base units / size (linear) or USD / size (inverse)."""
        if self.listing.kind is ContractKind.INVERSE:
            return self.oi_usd / self.listing.contract_size
        return self.venue_units / self.listing.contract_size


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A deliberate move of one asset on every venue listing it: OI and price drift in percent
    per real-time minute, compounding, and funding held at a level per 8 h (each optional)."""

    symbol: str
    oi_pct_per_min: float | None = None
    price_pct_per_min: float | None = None
    funding_8h: float | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "oi_pct_per_min": self.oi_pct_per_min,
            "price_pct_per_min": self.price_pct_per_min,
            "funding_8h": self.funding_8h,
        }


# A drift faster than this per minute would trip the service's own screening (a 5x OI jump
# between polls) or leave any plausible market: refused.
MAX_DRIFT_PCT_PER_MIN: Final = 50.0


@dataclass(slots=True)
class MarketWorld:
    """Every asset's price and every venue's listings, advanced together by ``step``."""

    assets: dict[str, Asset]
    rng: random.Random
    log_price: dict[str, float] = field(default_factory=dict)
    venues: dict[str, list[ListingState]] = field(default_factory=dict)
    _log_oi: dict[tuple[str, str], float] = field(default_factory=dict)
    _start_oi: dict[tuple[str, str], float] = field(default_factory=dict)
    _start_funding: dict[tuple[str, str], float] = field(default_factory=dict)
    _start_price: dict[str, float] = field(default_factory=dict)  # log of the level prices revert to
    scenarios: dict[str, Scenario] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.log_price = {symbol: math.log(asset.price_usd) for symbol, asset in self.assets.items()}
        self._start_price = dict(self.log_price)

    def add_venue(self, venue: str, listings: Iterable[Listing], *, venue_share: float) -> None:
        states = []
        for listing in listings:
            asset = self.assets[listing.asset]
            price = asset.price_usd * (1 + listing.price_skew)
            oi_base = asset.oi_usd * venue_share * listing.share / asset.price_usd
            key = (venue, listing.venue_symbol)
            self._log_oi[key] = self._start_oi[key] = math.log(oi_base)
            funding = FUNDING_8H_BASELINE + self.rng.uniform(-FUNDING_8H_SPREAD, FUNDING_8H_SPREAD)
            self._start_funding[key] = funding
            states.append(ListingState(listing=listing, price_usd=price, oi_base=oi_base, funding_8h=funding))
        self.venues[venue] = states

    def set_scenario(self, scenario: Scenario) -> None:
        """Hold ``scenario`` until cleared: the asset's random walk stills (so the row of the
        table it makes is clean) and its funding is set on every listing at once."""
        self.scenarios[scenario.symbol] = scenario
        if scenario.funding_8h is not None:
            for states in self.venues.values():
                for state in states:
                    if state.listing.asset == scenario.symbol:
                        state.funding_8h = scenario.funding_8h

    def clear_scenario(self, symbol: str) -> bool:
        """End ``symbol``'s scenario: the walk resumes around where the drift took it (funding
        reverts to its own level); False when there was none."""
        return self.scenarios.pop(symbol, None) is not None

    def drift(self, elapsed_s: float) -> None:
        """Advance every scenario by ``elapsed_s`` of real time: the per-minute rates compound,
        so a rate holds whatever the tick length. The levels the walk reverts to move along, so
        the drift stays when the scenario ends."""
        if not self.scenarios or elapsed_s <= 0:
            return
        minutes = elapsed_s / 60.0
        for symbol, scenario in self.scenarios.items():
            if scenario.price_pct_per_min and symbol in self.log_price:
                shift = minutes * math.log1p(scenario.price_pct_per_min / 100.0)
                self.log_price[symbol] += shift
                self._start_price[symbol] += shift
            oi_shift = (
                minutes * math.log1p(scenario.oi_pct_per_min / 100.0) if scenario.oi_pct_per_min else 0.0
            )
            for venue, states in self.venues.items():
                for state in states:
                    if state.listing.asset != symbol:
                        continue
                    key = (venue, state.listing.venue_symbol)
                    if oi_shift:
                        self._log_oi[key] += oi_shift
                        self._start_oi[key] += oi_shift
                        state.oi_base = math.exp(self._log_oi[key])
                    state.price_usd = math.exp(self.log_price[symbol]) * (1 + state.listing.price_skew)

    def step(self) -> None:
        """One tick of every random walk (mean-reverting in log space, so always positive); an
        asset under a scenario only drifts (``drift``)."""
        held = self.scenarios
        for symbol in self.assets:
            if symbol in held:
                continue
            start = self._start_price[symbol]
            current = self.log_price[symbol]
            self.log_price[symbol] = (
                current + MEAN_REVERSION * (start - current) + self.rng.gauss(0, PRICE_STEP_SIGMA)
            )
        for venue, states in self.venues.items():
            for state in states:
                if state.listing.asset in held:
                    continue
                key = (venue, state.listing.venue_symbol)
                current = self._log_oi[key]
                start = self._start_oi[key]
                self._log_oi[key] = (
                    current + MEAN_REVERSION * (start - current) + self.rng.gauss(0, OI_STEP_SIGMA)
                )
                state.oi_base = math.exp(self._log_oi[key])
                state.funding_8h += MEAN_REVERSION * (
                    self._start_funding[key] - state.funding_8h
                ) + self.rng.gauss(0, FUNDING_8H_STEP_SIGMA)
                state.price_usd = math.exp(self.log_price[state.listing.asset]) * (
                    1 + state.listing.price_skew
                )
