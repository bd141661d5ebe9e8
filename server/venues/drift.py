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
Provenance: convention larger_side; ``raw`` = the larger of ``openInterest.long`` /
``openInterest.short`` (field named with its side, text verbatim, so a short side keeps its minus
sign), base units; price kind oracle.
Funding (``fundingRate.long`` / ``fundingRate.short``, decimal strings; 1 h, fixed): the Data API has
no documentation of these fields. Decided from the evidence, with the remaining doubt stated:
- What they are: the Data API's market-summary task (found through the code index in a fork of the
  Data API backend; repository name not returned, so not authoritative) fills them with the SDK's
  ``calculateFormattedLiveFundingRate(market, ..., 'hour')`` ``longRate`` / ``shortRate`` and
  writes ``fundingRate24h`` and ``fundingRateUpdateTs`` (= ``amm.lastFundingRateTs``) beside them,
  exactly the sample's field set.
- Unit: PERCENT PER HOUR. That SDK function (drift-labs/protocol-v2 ``sdk/src/math/funding.ts``)
  returns "the hourly payment as a percentage" (spread × 100 / oracle TWAP / 24), and
  drift-labs/v2-teacher says funding is paid each hour and 'hour' returns "the actual percentage
  being paid each hour". The sample agrees: BTC 0.00093 %/h = 8.1 % a year, the size of Drift's
  built-in funding offset (1/5000 or 1/3333 of the price a day = 0.00083 or 0.00125 %/h); read as a
  fraction it would be 0.093 %/h = 815 % a year on BTC, with mark and oracle 0.064 % apart in the
  same row (an hourly fraction of at most ≈ 0.00004 at that spread). So rate = value / 100.
- Sign: that function returns each side's rate as RECEIVED (``longRate`` = −|rate| when longs pay,
  ``shortRate`` = −|rate| when shorts pay). The sample has long +0.00093, short −0.00093 with the
  mark BELOW the oracle (68481.85 < 68525.84): shorts pay longs, which is what that sign rule
  reads. Our ``rate`` is the rate longs PAY and ``short_rate`` the rate shorts PAY, so both flip:
  rate = −long / 100, short_rate = −short / 100 (BTC sample: rate −0.0000093, short_rate +0.0000093).
  The sides differ when the vAMM caps the smaller side's payment (the capped estimate).
- Doubt: none of this is in Drift's API documentation; the unit and sign rest on that backend code
  and the sample's own prices. If Drift ever documents the fields otherwise, this is the place.
Interval: 1 h (``funding_period`` 3600 on every perp; v2-teacher: "funding is paid each hour"), a
constant: the row carries no period. Next funding: the program's ``on_the_hour_update``
(drift-labs/protocol-v2 ``programs/drift/src/math/helpers.rs``) allows the next update on the next
whole hour after ``fundingRateUpdateTs`` (unix seconds), or the one after when the last update came
more than a third of the period late; that time is ``next_at``. The row returns ``""`` for both
rates when the backend's calculation failed: a missing or unusable funding field leaves funding
None and never touches the OI reading.
Fixtures: tests/fixtures/drift/ (see SOURCES.md there).
"""

from __future__ import annotations

from typing import Final

from server.core.errors import ImplausibleValue, VenueRejected
from server.core.model import (
    ContractKind,
    Convention,
    Funding,
    Market,
    MarketOI,
    ParsedPoll,
    PriceKind,
    Raw,
    RawUnit,
    VenueType,
)
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
    funding_of,
    num,
    obj,
    optional,
    raw_figure,
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
# Every Drift perp has funding_period 3600 s (v2-teacher: "funding is paid each hour").
FUNDING_INTERVAL_H: Final = 1.0
FUNDING_PERIOD_S: Final = 3600
PERCENT: Final = 100.0


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


def larger_side(row: Row) -> tuple[float, Raw]:
    """max(L, |S|): each side of Drift's open contracts, the vAMM counted as a participant; with the
    side it came from, as sent."""
    sides = obj(field_of(row, "openInterest"), "openInterest")
    long = require_amount(num(sides, "long"), "openInterest.long")
    short = num(sides, "short")
    if short > 0:
        raise ImplausibleValue(f"openInterest.short {short!r} is positive (Drift sends shorts ≤ 0)")
    name = "long" if long >= -short else "short"
    sent = raw_figure(sides, name, RawUnit.BASE)
    return max(long, -short), Raw(field=f"openInterest.{name}", value=sent.value, unit=sent.unit)


def next_funding_s(last_update_s: int) -> int:
    """When the program next allows a funding update (``on_the_hour_update``): the next whole hour
    after the last update, or the one after that when the last came over a third of an hour late."""
    delay = last_update_s % FUNDING_PERIOD_S
    if delay == 0:
        return last_update_s + FUNDING_PERIOD_S
    wait = 2 * FUNDING_PERIOD_S - delay if delay > FUNDING_PERIOD_S // 3 else FUNDING_PERIOD_S - delay
    return last_update_s + wait


def funding(row: Row) -> Funding | None:
    """Funding from ``fundingRate`` (percent per hour, each side as RECEIVED; see the module note):
    rate = −long / 100 (what longs pay), short_rate = −short / 100 (what shorts pay)."""
    rates = obj(field_of(row, "fundingRate"), "fundingRate")
    last = row.get("fundingRateUpdateTs")
    next_ms = next_funding_s(last) * 1000 if type(last) is int and last > 0 else None
    return funding_of(
        -num(rates, "long") / PERCENT,
        FUNDING_INTERVAL_H,
        next_at_ms=next_ms,
        short_rate=optional(lambda: -num(rates, "short") / PERCENT),
    )


def convert(row: Row) -> MarketOI | None:
    market = perp_market(row)
    if market is None:
        return None
    side, raw = larger_side(row)
    if side == 0:
        return None  # listed but nobody holds a position
    return market_oi(
        market,
        side,
        num(row, "oraclePrice"),
        raw=raw,
        price_kind=PriceKind.ORACLE,
        convention=Convention.LARGER_SIDE,
        funding=optional(lambda: funding(row)),
    )


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
    venue_type=VenueType.DEX,
)
