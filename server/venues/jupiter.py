"""Jupiter Perpetuals (Solana, JLP pool), source ``jupiter``: SOL, ETH and BTC (wBTC) from the perps API.

Docs: https://dev.jup.ag/docs/perps (Jupiter publishes no OI field; the shapes below come from
shared/exchanges/jupiter/README.md, which found no recorded response of any endpoint).

Endpoints (public, no key; every number is a string):
- catalog, hourly: ``GET /v1/jlp-info``: per custody ``mint``, ``aumTokenAmount`` (raw token units) and
  ``aumTokenAmountFormatted`` (tokens): token decimals = round(log10(raw / formatted)), the "contract
  size" of one raw unit (10^-decimals tokens). Read, never hard-coded (SOL 9, ETH 8, wBTC 8 today).
- cycle: ``GET /v1/jlp-info`` (``locked``: raw token units = total long size in tokens;
  ``globalShortSizes``: total short size, USD × 1e6) and ``GET /v1/market-stats?mint=<mint>`` per
  market (``price``, USD per token). No bulk price endpoint exists, so the three market-stats calls
  are optional (the page: HTTP 400 when market data is missing) and paced inside Jupiter's published
  keyless limit (30 requests/min, dev.jup.ag/docs/portal/rate-limits; perps-api states none of its own).
  The page asks for a timeout of 5 s or more (jlp-info takes 3 s+ under load): the default is 10 s.

Units per market (one kind: USD-quoted pool perpetual; longs held in tokens, shorts in USD):
  long_base = locked / 10^decimals; short_usd = globalShortSizes / 1e6;
  oi_usd = long_base × price + short_usd; oi_base = long_base + short_usd / price.
Price: ``market-stats.price``, Jupiter's own oracle mark (Doves/Edge), at which positions are marked
and liquidated. Shorts exist in USD only, so their coins are taken at that mark, as the page does.
One convention (API.md): pool venue, long + short. The JLP pool is the counterparty of every
position; longs (``locked``) and shorts (``globalShortSizes``) are tracked apart and never matched,
so each trader position is counted once by adding them (the page; DefiLlama's jupiter-perpetual-oi
adds long + short too). ``guaranteedUsd`` is Σ(size − collateral) of longs, not OI: never added.
Counted: the SOL, ETH and wBTC custodies, matched by mint (not by symbol text); the mint is also our
venue symbol, since both endpoints key markets by it. USDC/USDT custodies hold collateral only and
are skipped. A custody with locked = shorts = 0 reports 0 OI, not missing.
Undecided on the page, and chosen: (1) decimals from the raw/formatted ratio (the page's hint),
tolerating thousands separators in the formatted string (a third-party client strips them); a
ratio that is no power of ten fails the catalog refresh (the poller keeps the previous catalog);
(2) no fallback to the pool valuation ``aumUsd / aumTokenAmount`` as a price: a market whose
market-stats failed is left out of that cycle. Not implemented: the on-chain fallback (Solana
``getMultipleAccounts`` on the Custody accounts). It lives on another host (a VenueSpec has one base
URL), still needs market-stats for a price (so it does not survive a perps-api outage), and no
response of it was recorded either.
Provenance: convention pool_long_plus_short; ``raw`` = ``locked`` as sent (the main field: raw
token units of the longs, counted as contracts of the catalog's 10^-decimals tokens), with
``globalShortSizes`` (USD × 1e6) added for the shorts; price kind oracle (``market-stats.price`` is
Jupiter's own oracle price, at which it marks positions). Margin asset: the catalog's "USD" (a
USD-quoted linear pool market; longs actually post the token itself and shorts USDC/USDT, which one
field cannot say).
Funding: none. Jupiter Perps has no funding, only an hourly, utilisation-driven borrow fee
(API.md: funding null). ``borrow_rate_1h`` stays None too: neither polled response carries a
borrow rate (jlp-info and market-stats field lists on the reference page); it lives in
``/v1/pool-info``, whose field names are unverified and which no recording shows, so it is not
polled.
Errors: HTTP statuses only (no in-body error codes documented). Fixtures: tests/fixtures/jupiter/.
"""

from __future__ import annotations

import math
from typing import Final

from server.core.errors import ImplausibleValue, MalformedResponse
from server.core.model import (
    ContractKind,
    Convention,
    Market,
    MarketOI,
    ParsedPoll,
    PriceKind,
    RawUnit,
    VenueType,
)
from server.core.units import reported_oi, require_amount, require_price
from server.venues.base import (
    Bodies,
    Catalog,
    Pacing,
    Request,
    Row,
    VenueSpec,
    catalog_of,
    collect,
    field_of,
    field_rows,
    num,
    obj,
    raw_figure,
    text,
)

SOL_MINT: Final = "So11111111111111111111111111111111111111112"
ETH_MINT: Final = "7vfCXTUXx5WJV5JADk17DUJ4ksgau7utNKj4b963voxs"  # Wormhole wETH
WBTC_MINT: Final = "3NZ9JMVBmGAqocybic2c7LQCJScmgsAZ6vQqTDzcqmJh"  # wBTC (Portal)
BASES: Final = {SOL_MINT: "SOL", ETH_MINT: "ETH", WBTC_MINT: "BTC"}
JLP_INFO_PATH: Final = "/v1/jlp-info"
MARKET_STATS_PATH: Final = "/v1/market-stats"
USD_SCALE: Final = 1e6  # USD fields are integers in millionths of a dollar
MAX_DECIMALS: Final = 18
DECIMALS_TOLERANCE: Final = 0.05  # log10 units: a rounded formatted amount is still near an integer
KEYLESS_REQUESTS_PER_MINUTE: Final = 30


def token_decimals(row: Row) -> int:
    """Decimals of the custody's token: round(log10(aumTokenAmount / aumTokenAmountFormatted))."""
    formatted = field_of(row, "aumTokenAmountFormatted")
    if isinstance(formatted, str):
        formatted = formatted.replace(",", "")
    tokens = num({"aumTokenAmountFormatted": formatted}, "aumTokenAmountFormatted")
    raw = num(row, "aumTokenAmount")
    if raw <= 0 or tokens <= 0:
        raise ImplausibleValue(f"aumTokenAmount {raw!r} / formatted {tokens!r}: no decimals derivable")
    exponent = math.log10(raw / tokens)
    decimals = round(exponent)
    if abs(exponent - decimals) > DECIMALS_TOLERANCE or not 0 <= decimals <= MAX_DECIMALS:
        raise ImplausibleValue(f"aumTokenAmount / formatted = 10^{exponent:.3f}: not a decimals count")
    return decimals


def custody_market(row: Row) -> Market | None:
    """The market of a SOL, ETH or wBTC custody, keyed by its mint; None for the USDC/USDT ones
    (collateral custodies, no market)."""
    mint = text(row, "mint")
    if mint not in BASES:
        return None
    return Market(
        venue_symbol=mint,
        base=BASES[mint],
        base_factor=1.0,
        kind=ContractKind.LINEAR,
        contract_size=10.0 ** -token_decimals(row),  # tokens per raw unit of `locked`
        settle="USD",
    )


def parse_catalog(bodies: Bodies) -> Catalog:
    catalog = catalog_of(
        custody_market(row) for row in field_rows(bodies.one("jlpInfo"), "custodies", "jlp-info")
    )
    if not catalog.markets:
        raise MalformedResponse("jlp-info lists none of the SOL, ETH, wBTC custodies")
    return catalog


def stats_key(mint: str) -> str:
    return f"marketStats:{mint}"


def price_of(stats: object) -> float:
    """``price`` of one market-stats body: USD per token."""
    return num(obj(stats, "market-stats"), "price")


def parse(catalog: Catalog, bodies: Bodies) -> ParsedPoll:
    def convert(row: Row) -> MarketOI | None:
        market = catalog.markets.get(text(row, "mint"))
        if market is None:
            return None  # a stablecoin custody
        stats = bodies.get(stats_key(market.venue_symbol))
        if stats is None:
            return None  # its market-stats request failed this cycle (logged by the poller)
        price = require_price(price_of(stats), "market-stats price")
        long_base = require_amount(num(row, "locked"), "locked") * market.contract_size
        short_usd = require_amount(num(row, "globalShortSizes"), "globalShortSizes") / USD_SCALE
        return reported_oi(  # pool venue: long + short
            market,
            oi_base=long_base + short_usd / price,
            oi_usd=long_base * price + short_usd,
            price_usd=price,
            raw=raw_figure(row, "locked", RawUnit.CONTRACTS),
            price_kind=PriceKind.ORACLE,
            convention=Convention.POOL_LONG_PLUS_SHORT,
        )

    return collect(
        field_rows(bodies.one("jlpInfo"), "custodies", "jlp-info"),
        convert,
        label=lambda row: str(row.get("symbol")),
    )


def cycle_requests(catalog: Catalog) -> tuple[Request, ...]:
    stats = tuple(
        Request(key=stats_key(mint), path=MARKET_STATS_PATH, params=(("mint", mint),), optional=True)
        for mint in sorted(catalog.markets)
    )
    return (Request(key="jlpInfo", path=JLP_INFO_PATH), *stats)


SPEC: Final = VenueSpec(
    id="jupiter",
    base_url="https://perps-api.jup.ag",
    docs_url="https://dev.jup.ag/docs/perps",
    catalog_requests=(Request(key="jlpInfo", path=JLP_INFO_PATH),),
    parse_catalog=parse_catalog,
    cycle_requests=cycle_requests,
    parse=parse,
    pacing=Pacing(weight_per_minute=KEYLESS_REQUESTS_PER_MINUTE),
    venue_type=VenueType.DEX,
)
