"""dYdX v4 Indexer, source ``dydx``: every perpetual market in one bulk GET.

Docs: https://docs.dydx.xyz/indexer-client/http#get-perpetual-markets (type page:
https://docs.dydx.xyz/types/perpetual_market)

Endpoint: ``GET /v4/perpetualMarkets`` every cycle, no catalog request (the same body carries each
market's status). No ``limit`` parameter: the indexer then applies its maximum (comlink's
``API_LIMIT_V4``, 1000 in its current config), far above dYdX's ~200+ markets. The answer is
``{"markets": {"<ticker>": {...}}}``, an object keyed by ticker, with no envelope; errors are HTTP
statuses (shared layer).

Units (decimal strings): ``openInterest`` in base coins (the indexer already applied
``atomicResolution``; it is not quantums), ``oraclePrice`` USD per coin. Only LINEAR USD(C)-margined
perpetuals with no multiplier: base coins = openInterest; USD = openInterest × oraclePrice.
Price: ``oraclePrice``, the only price the endpoint has and the one the protocol margins and
liquidates with. ``baseOpenInterest`` is an OI-cap reference snapshot, not current OI: never read.
One-sided (reference page): the protocol defines ``Perpetual.open_interest`` as the "total size of open
long contracts", and a single 5-quantum match emits open_interest 5, not 10; used as is.
Counted: ``status`` ACTIVE, and PAUSED / CANCEL_ONLY / POST_ONLY (positions still exist); skipped:
INITIALIZING (pre-launch), FINAL_SETTLEMENT (delisting) and ``openInterest`` zero; an unknown status
skips the row and is reported. ``marketType`` ISOLATED markets are crypto perps too: counted.
Symbols: ``<BASE>-USD`` → BASE, then the shared 1000-prefix rule (none observed on dYdX).
Provenance: ``raw`` = ``openInterest`` as sent (base coins), convention one_sided, price kind oracle.
Funding: ``nextFundingRate`` (decimal string), the PREDICTED rate longs pay for the current hour
(positive = longs pay shorts), as a fraction: the indexer averages the protocol's premium samples
of the hour and adds ``defaultFundingRate1H`` (dydxprotocol/v4-chain
``indexer/packages/redis/src/caches/next-funding-cache.ts`` @ 0e2e39bd7da60fcdf05376b010180b76308c8dc6,
``getNextFunding``). dYdX v4 pays funding every hour, so the interval is that fixed hour
(``FUNDING_INTERVAL_H``; the row has no interval field). The recorded ETH row's "0.00000125" is
0.01 %/8 h ÷ 8, the usual baseline. No next-funding time is sent. The indexer leaves the rate
undefined just after a settlement: a missing or unusable ``nextFundingRate`` gives funding None and
never touches the OI reading.
Fixtures: tests/fixtures/dydx/ (see SOURCES.md there).
"""

from __future__ import annotations

import functools
from typing import Final

from server.core.errors import ImplausibleValue
from server.core.model import ContractKind, Market, MarketOI, ParsedPoll, PriceKind, RawUnit, VenueType
from server.core.symbols import canonical_base
from server.core.units import market_oi
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
    text,
)

MARKETS_PATH: Final = "/v4/perpetualMarkets"
QUOTE_SUFFIX: Final = "-USD"
COUNTED: Final = frozenset({"ACTIVE", "PAUSED", "CANCEL_ONLY", "POST_ONLY"})
NOT_COUNTED: Final = frozenset({"INITIALIZING", "FINAL_SETTLEMENT"})
# Funding is paid every hour; nextFundingRate is the predicted 1-hour rate (next-funding-cache.ts).
FUNDING_INTERVAL_H: Final = 1.0


def markets(body: object) -> list[Row]:
    by_ticker = obj(field_of(obj(body, "perpetualMarkets"), "markets"), "perpetualMarkets.markets")
    # an exact dict needs no check (and no label built for it); anything else is checked by obj()
    return [
        row if type(row) is dict else obj(row, f"markets[{ticker!r}]") for ticker, row in by_ticker.items()
    ]


def perp_market(row: Row) -> Market | None:
    """The market a row describes, or None when its status is not counted."""
    status = text(row, "status")
    if status in NOT_COUNTED:
        return None
    if status not in COUNTED:
        raise ImplausibleValue(f"unknown status {status!r}")
    return ticker_market(text(row, "ticker"))


@functools.lru_cache(maxsize=4096)  # pure, and the same few hundred tickers come every poll
def ticker_market(ticker: str) -> Market:
    """The market a ticker names (``BTC-USD``): dYdX's markets differ by nothing else."""
    if not ticker.endswith(QUOTE_SUFFIX):
        raise ImplausibleValue(f"ticker {ticker!r} is not <BASE>{QUOTE_SUFFIX}")
    base, factor = canonical_base(ticker.removesuffix(QUOTE_SUFFIX))
    return Market(
        venue_symbol=ticker,
        base=base,
        base_factor=factor,
        kind=ContractKind.LINEAR,
        contract_size=1.0,  # openInterest is already in base coins
        settle="USDC",
    )


def convert(row: Row) -> MarketOI | None:
    market = perp_market(row)
    if market is None:
        return None
    open_interest = num(row, "openInterest")
    if open_interest == 0:
        return None
    return market_oi(
        market,
        open_interest,
        num(row, "oraclePrice"),
        raw=raw_figure(row, "openInterest", RawUnit.BASE),
        price_kind=PriceKind.ORACLE,
        funding=optional(lambda: funding_of(num(row, "nextFundingRate"), FUNDING_INTERVAL_H)),
    )


def parse(_: Catalog, bodies: Bodies) -> ParsedPoll:
    return collect(markets(bodies.one("perpetualMarkets")), convert, label=lambda row: str(row.get("ticker")))


SPEC: Final = VenueSpec(
    id="dydx",
    base_url="https://indexer.dydx.trade",
    docs_url="https://docs.dydx.xyz/indexer-client/http#get-perpetual-markets",
    cycle_requests=always(Request(key="perpetualMarkets", path=MARKETS_PATH)),
    parse=parse,
    venue_type=VenueType.DEX,
)
