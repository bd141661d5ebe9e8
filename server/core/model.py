"""Domain records: immutable values that flow fetch → parse → aggregate → snapshot.

The records made once per venue row (``Market``, ``MarketOI``, ``Raw``) and once per source and
symbol of a reading (``FigureSums``, ``VenueFigure``, ``SymbolTotal``) are frozen msgspec Structs
rather than frozen dataclasses: same immutability, equality and hashing, but built in C (about
70 ns against 700 ns for a frozen dataclass, whose ``__init__`` goes through ``object.__setattr__``
per field), which was a third of our parse time per market (bench/parsing.py).

They are also ``gc=False``: they hold numbers, strings, enums and tuples or dicts of one another,
so they can never be part of a reference cycle, and the cyclic garbage collector need not track
them. A full-scale poll cycle replaces ~25,000 of them; tracked, they were promoted to the oldest
generation and set off a full collection (tens of ms, over every object the process holds) about
once a cycle, a fifth to a third of the cycle's CPU (bench section 6).

Units are in the names: ``oi_base`` is open interest in canonical base-asset coins (BTC for BTC,
plain PEPE for PEPE after any 1000-prefix factor), ``oi_usd`` is US dollars (USDT and USDC taken
as 1 USD), ``*_ms`` are unix milliseconds. Venue contract counts never leave the venue modules.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

import msgspec


class ContractKind(StrEnum):
    """How one contract of a perpetual relates to the base asset.

    - LINEAR: a contract is a fixed amount of the base asset (``contract_size`` base units);
      margined and settled in USDT/USDC/USD.
    - INVERSE: a contract is a fixed amount of USD (``contract_size`` USD); settled in the base coin.
    - QUANTO: a contract pays ``contract_size`` × price in a third currency (BitMEX style).
    """

    LINEAR = "linear"
    INVERSE = "inverse"
    QUANTO = "quanto"


class VenueType(StrEnum):
    """Where a venue's order book lives: a company's matching engine or a chain."""

    CEX = "cex"
    DEX = "dex"


class RawUnit(StrEnum):
    """The unit of a venue's own OI figure, as sent (API.md section 4 ``raw.unit``)."""

    CONTRACTS = "contracts"
    BASE = "base"
    USD = "usd"
    QUOTE = "quote"


class Convention(StrEnum):
    """Which rule of API.md section 1 turned the venue's figure into a one-sided count."""

    ONE_SIDED = "one_sided"  # the venue reports one side of a matched book: taken as sent
    SINGLE_SIDE_FIELD = "single_side_field"  # a two-sided venue's own single-side field
    TWO_SIDED_HALVED = "two_sided_halved"  # a two-sided figure (longs + shorts), halved
    POOL_LONG_PLUS_SHORT = "pool_long_plus_short"  # traders against a pool: each position once
    LARGER_SIDE = "larger_side"  # vAMM venues: the larger side (the AMM takes the imbalance)


class PriceKind(StrEnum):
    """Which price of the venue converted contracts or coins to USD."""

    MARK = "mark"
    ORACLE = "oracle"
    INDEX = "index"
    LAST = "last"
    MID = "mid"


class MarginType(StrEnum):
    STABLECOIN = "stablecoin"
    COIN = "coin"


# Margin assets worth one US dollar: USD itself and the dollar stablecoins venues settle in.
STABLECOINS: Final = frozenset(
    {"USD", "USDT", "USDC", "USDE", "FDUSD", "BUSD", "DAI", "USDS", "USDH", "PYUSD"}
)


def margin_type_of(margin_asset: str) -> MarginType:
    """Stablecoin-margined (USDT, USDC, USD…) or coin-margined (inverse and quanto books)."""
    return MarginType.STABLECOIN if margin_asset.upper() in STABLECOINS else MarginType.COIN


class Raw(msgspec.Struct, frozen=True, gc=False):
    """The venue's own OI figure exactly as sent: the field, its text, its unit."""

    field: str
    value: str
    unit: RawUnit


# Funding beyond this per 8 h (5 %) is a unit or feed error, never a market: screened out.
MAX_FUNDING_8H: Final = 0.05
HOURS_PER_YEAR: Final = 8760.0


class Funding(msgspec.Struct, frozen=True, kw_only=True):
    """One market's funding as the venue quotes it: ``rate`` is the fraction longs pay per
    ``interval_hours`` (positive = longs pay shorts); ``short_rate`` where the venue quotes the
    shorts' side separately (Drift, Avantis: positive = shorts pay). Normalised figures are derived,
    never stored, so they cannot disagree with the rate:
    ``rate_8h`` = rate × 8 / interval_hours, ``apr`` = rate × 8760 / interval_hours (simple)."""

    rate: float
    interval_hours: float
    next_at_ms: int | None = None
    short_rate: float | None = None

    @property
    def rate_8h(self) -> float:
        return self.rate * 8.0 / self.interval_hours

    @property
    def apr(self) -> float:
        return self.rate * HOURS_PER_YEAR / self.interval_hours


class Market(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One perpetual instrument as the venue's own catalog describes it.

    ``base_factor`` is how many canonical coins one venue base unit holds: 1000 for ``1000PEPE``
    (one "1000PEPE" = 1000 PEPE), 1 otherwise. ``contract_size`` is per contract, in base units
    (linear), USD (inverse) or the quanto multiplier's unit (quanto).
    """

    venue_symbol: str
    base: str
    base_factor: float
    kind: ContractKind
    contract_size: float
    settle: str


class MarketOI(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One market's open interest from one poll, converted to base coins and USD, with how.

    ``oi_base`` is None where the venue gives no honest way to derive base units.
    ``price_usd`` is the mark/oracle price of one canonical coin used for the conversion
    (None where the venue reports USD directly and no price was needed); the price as the venue
    sent it is ``price_usd × base_factor`` (a 1000PEPE market quotes 1000 PEPE).

    Provenance (API.md section 4): ``raw`` is the venue's figure as sent, ``convention`` the rule
    that made it one-sided, ``price_kind`` which price converted it, ``margin_asset`` what the
    market is margined and settled in, ``contract_size`` per contract where ``raw`` counts
    contracts. ``funding`` is None where the venue has none or its interval is unknown; pool
    borrow fees are never funding: ``borrow_rate_1h`` (a fraction per hour).
    """

    venue_symbol: str
    base: str
    oi_base: float | None
    oi_usd: float
    price_usd: float | None
    kind: ContractKind = ContractKind.LINEAR
    margin_asset: str = "USDT"
    contract_size: float | None = None
    base_factor: float = 1.0
    raw: Raw | None = None
    convention: Convention = Convention.ONE_SIDED
    price_kind: PriceKind | None = None
    funding: Funding | None = None
    borrow_rate_1h: float | None = None

    @property
    def margin_type(self) -> MarginType:
        return margin_type_of(self.margin_asset)

    @property
    def venue_price(self) -> float | None:
        """The price as the venue sent it (per venue base unit), or None where none was used."""
        return None if self.price_usd is None else self.price_usd * self.base_factor


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedPoll:
    """What one parse of a venue's cycle bodies produced: markets, and the rows it had to skip."""

    markets: tuple[MarketOI, ...]
    skipped: tuple[str, ...] = ()  # "LABEL: reason" per refused row
    skipped_symbols: tuple[str, ...] = ()  # the refused rows' labels (venue symbols for most venues)


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueReading:
    """The latest good poll of one source, stamped with when it was fetched.

    ``carried`` names the markets whose value was rejected in this poll and stands in from an
    earlier one, with the fetch time of that value (see ``core/quarantine.py``).
    """

    source: str
    fetched_at_ms: int
    markets: tuple[MarketOI, ...]
    carried: Mapping[str, int] = field(default_factory=dict)
    venue_type: VenueType = VenueType.CEX


class FigureSums(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What one source's markets of one symbol contribute to the symbol's statistics, summed once
    when the reading arrives (``core/stats.py`` adds these up per symbol). ``*_cents`` are the
    figures as served: each market's USD rounded to cents, then summed, so a source's markets add
    up to its figure, and the splits to the total, exactly (API.md sections 4 and 5)."""

    oi_usd_cents: int = 0
    coins: float = 0.0  # Σ oi_base over the markets that have it
    coins_usd: float = 0.0  # their USD
    coin_markets: int = 0  # how many markets have oi_base
    price_x_usd: float = 0.0  # Σ price × oi_usd over the markets converted with a price
    priced_usd: float = 0.0
    funding_x_usd: float = 0.0  # Σ funding_8h × oi_usd over the markets with funding
    funded_usd: float = 0.0
    stablecoin_cents: int = 0  # oi_usd_cents of the stablecoin-margined markets; the rest is coin


class VenueFigure(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One source's figures for one symbol: all its perpetual markets of that base summed, with
    the markets themselves (API.md section 4) and when each was fetched (``market_updated_at_ms``
    differs from ``updated_at_ms`` only for a market whose rejected value was carried over)."""

    source: str
    oi_usd: float
    oi_base: float | None
    updated_at_ms: int
    venue_type: VenueType = VenueType.CEX
    markets: tuple[MarketOI, ...] = ()
    carried: Mapping[str, int] = msgspec.field(default_factory=dict)
    sums: FigureSums = msgspec.field(default_factory=FigureSums)

    def market_updated_at_ms(self, market: MarketOI) -> int:
        return self.carried.get(market.venue_symbol, self.updated_at_ms)


class SymbolTotal(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One canonical symbol across every fresh source. Unrounded: rounding happens at the edge."""

    symbol: str
    total_oi_usd: float
    venues: tuple[VenueFigure, ...]

    @property
    def exchange_count(self) -> int:
        return len(self.venues)


@dataclass(frozen=True, slots=True, eq=False)
class SourceFigures:
    """One counted reading's figures, by symbol, and ``samples``: each figure's values as the
    signal windows take them (``core.signals.figure_samples``, in ``figures``' order), made with
    the figures while they are at hand. The windows then take a snapshot's new readings in as
    arrays: reading ~4,800 new figure objects again cost a full-scale snapshot ~8 ms, mostly in
    waiting for memory."""

    figures: Mapping[str, VenueFigure]
    samples: array[float]


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """Every symbol's totals at one instant. ``symbols`` is keyed by canonical symbol;
    ``sources``, by source, holds the figures of each counted reading (the aggregator's, the same
    object while the reading is; empty in a snapshot made by hand, whose figures
    ``core.signals.by_source`` groups)."""

    built_at_ms: int
    symbols: Mapping[str, SymbolTotal] = field(default_factory=dict)
    sources: Mapping[str, SourceFigures] = field(default_factory=dict, compare=False)

    def same_figures(self, other: Snapshot) -> bool:
        """True when nothing but the build time differs (no need to publish a new version)."""
        return self.symbols == other.symbols
