"""Drift Protocol v2 (Solana), source ``drift``: every perpetual from one bulk Data API call.

Docs: https://drift-labs.github.io/v2-teacher/#data-api (playground: https://data.api.drift.trade/playground)

Endpoint: ``GET /stats/markets`` every cycle, spot and perp markets in one list; no catalog request
(the same body carries each market's type, status and name, and Drift has no contract-size field).
Body ``{"success": true, "markets": [...]}``; ``success`` other than true fails the cycle. Rate limit
not published (HTTP 429 when passed; shared layer); the API caches for seconds to minutes.

Units (decimal strings, already human-readable: the API decodes the on-chain 1e9 base and 1e6 price
fixed points; ``precision`` 9 is informational and never applied again):
- ``openInterest.long`` L ≥ 0 and ``openInterest.short`` S ≤ 0 (negative sign), base units of the
  market's asset: bundles of 1,000,000 BONK for ``1MBONK``, of 1000 WEN for ``1KWEN``, else coins;
- ``oraclePrice``: USD (USDC) per unit of that asset (the 1MBONK oracle prices a million BONK).
Every market is LINEAR, USDC-margined, one contract = one base unit:
base coins = max(L, |S|) × m (m = 1e6 for ``1M…``, 1000 for ``1K…``, else 1); USD = max(L, |S|) × oraclePrice.
Price: ``oraclePrice``, the protocol's margin price (reference page); ``markPrice`` is the AMM/book mark.
One-sided (reference page): Drift is a hybrid order book + vAMM, not a pool. The vAMM takes the other
side of the users' imbalance, so L ≠ |S| (BTC sample: 264.7866 vs 312.3766); counting the AMM as a
participant, each side of the open contracts is max(L, |S|), the figure API.md asks for. L + |S| (what
DefiLlama's adapter sums) would count matched user pairs twice.
Counted: ``marketType`` perp, ``symbol`` ``<BASE>-PERP``, ``status`` active, reduceOnly or a *Paused
status (positions still open). Skipped: spot markets; prediction markets (``-BET`` and other non-PERP
symbols); initialized (pre-launch), settlement, delisted; L = S = 0. An unknown status skips the row.
Undecided on the page, chosen here: reduceOnly/paused markets count; the bundle factor is the one
named in ``symbol`` or ``baseAsset`` (Drift's SDK names both ``1MBONK``); non-crypto perps are not
filtered (no field marks them and the page names none).
Fixtures: tests/fixtures/drift/ (see SOURCES.md there).
"""

from __future__ import annotations

from typing import Final

from server.core.errors import ImplausibleValue, VenueRejected
from server.core.model import ContractKind, Market, MarketOI, ParsedPoll
from server.core.symbols import canonical_base
from server.core.units import market_oi, require_amount
from server.venues.base import (
    Bodies,
    Catalog,
    Request,
    Row,
    VenueSpec,
    always,
    collect,
    field_of,
    num,
    obj,
    rows,
    text,
)

MARKETS_PATH: Final = "/stats/markets"
PERP_SUFFIX: Final = "-PERP"
THOUSANDS_PREFIX: Final = "1K"  # Drift's own bundle prefix (1KWEN); "1M" is a shared one (1MBONK)
COUNTED: Final = frozenset(
    {"active", "reduceonly", "fundingpaused", "ammpaused", "fillpaused", "withdrawpaused"}
)
NOT_COUNTED: Final = frozenset({"initialized", "settlement", "delisted"})


def drift_base(raw: str) -> tuple[str, float]:
    """Canonical symbol and coins per unit of a Drift asset name (``1KWEN`` → WEN ×1000)."""
    if raw.startswith(THOUSANDS_PREFIX) and raw[len(THOUSANDS_PREFIX) : len(THOUSANDS_PREFIX) + 1].isalpha():
        name, factor = canonical_base(raw[len(THOUSANDS_PREFIX) :])
        return name, factor * 1_000.0
    return canonical_base(raw)


def perp_market(row: Row) -> Market | None:
    """The perpetual a row describes, or None for spot, prediction and not-counted markets."""
    symbol = text(row, "symbol")
    if text(row, "marketType") != "perp" or not symbol.endswith(PERP_SUFFIX):
        return None
    status = text(row, "status").lower()
    if status in NOT_COUNTED:
        return None
    if status not in COUNTED:
        raise ImplausibleValue(f"unknown status {row['status']!r}")
    stem = symbol.removesuffix(PERP_SUFFIX)
    asset = row.get("baseAsset")  # the page: prefer baseAsset when present
    base, factor = drift_base(asset if isinstance(asset, str) and asset else stem)
    return Market(
        venue_symbol=symbol,
        base=base,
        base_factor=max(factor, drift_base(stem)[1]),  # a bundle named in either name is the market's unit
        kind=ContractKind.LINEAR,
        contract_size=1.0,  # openInterest is already in base units
        settle="USDC",
    )


def one_side(row: Row) -> float:
    """max(L, |S|): each side of Drift's open contracts, the vAMM counted as a participant."""
    sides = obj(field_of(row, "openInterest"), "openInterest")
    long = require_amount(num(sides, "long"), "openInterest.long")
    short = num(sides, "short")
    if short > 0:
        raise ImplausibleValue(f"openInterest.short {short!r} is positive (Drift sends shorts ≤ 0)")
    return max(long, -short)


def convert(row: Row) -> MarketOI | None:
    market = perp_market(row)
    if market is None:
        return None
    side = one_side(row)
    if side == 0:
        return None  # listed but nobody holds a position
    return market_oi(market, side, num(row, "oraclePrice"))


def parse(_: Catalog, bodies: Bodies) -> ParsedPoll:
    markets = rows(field_of(obj(bodies.one("markets"), "stats/markets"), "markets"), "markets")
    return collect(markets, convert, label=lambda row: str(row.get("symbol")))


def check_envelope(body: object) -> None:
    """Every Data API body carries ``success``; anything but true fails the cycle."""
    success = field_of(obj(body, "drift response"), "success")
    if success is not True:
        raise VenueRejected(f"drift success {success!r}")


SPEC: Final = VenueSpec(
    id="drift",
    base_url="https://data.api.drift.trade",
    docs_url="https://drift-labs.github.io/v2-teacher/#data-api",
    cycle_requests=always(Request(key="markets", path=MARKETS_PATH)),
    parse=parse,
    check_envelope=check_envelope,
)
