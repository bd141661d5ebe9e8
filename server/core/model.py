"""Domain records: immutable values that flow fetch → parse → aggregate → snapshot.

The two records made once per venue row, ``Market`` and ``MarketOI``, are frozen msgspec Structs
rather than frozen dataclasses: same immutability, equality and hashing, but built in C (about
70 ns against 700 ns for a frozen dataclass, whose ``__init__`` goes through ``object.__setattr__``
per field), which was a third of our parse time per market (bench/parsing.py).

Units are in the names: ``oi_base`` is open interest in canonical base-asset coins (BTC for BTC,
plain PEPE for PEPE after any 1000-prefix factor), ``oi_usd`` is US dollars (USDT and USDC taken
as 1 USD), ``*_ms`` are unix milliseconds. Venue contract counts never leave the venue modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

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


class Market(msgspec.Struct, frozen=True, kw_only=True):
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


class MarketOI(msgspec.Struct, frozen=True, kw_only=True):
    """One market's open interest from one poll, converted to base coins and USD.

    ``oi_base`` is None where the venue gives no honest way to derive base units.
    ``price_usd`` is the mark/oracle price of one canonical coin used for the conversion
    (None where the venue reports USD directly and no price was needed).
    """

    venue_symbol: str
    base: str
    oi_base: float | None
    oi_usd: float
    price_usd: float | None


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


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueFigure:
    """One source's figures for one symbol: all its perpetual markets of that base summed."""

    source: str
    oi_usd: float
    oi_base: float | None
    updated_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SymbolTotal:
    """One canonical symbol across every fresh source. Unrounded: rounding happens at the edge."""

    symbol: str
    total_oi_usd: float
    venues: tuple[VenueFigure, ...]

    @property
    def exchange_count(self) -> int:
        return len(self.venues)


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """Every symbol's totals at one instant. ``symbols`` is keyed by canonical symbol."""

    built_at_ms: int
    symbols: Mapping[str, SymbolTotal] = field(default_factory=dict)

    def same_figures(self, other: Snapshot) -> bool:
        """True when nothing but the build time differs (no need to publish a new version)."""
        return self.symbols == other.symbols
