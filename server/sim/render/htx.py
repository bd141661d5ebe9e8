"""Simulated HTX: ``swap_contract_info``, ``swap_open_interest`` and ``swap_batch_funding_rate`` for
USDT-M and coin-M swaps.

Formats follow tests/fixtures/htx/ (the official doc examples): JSON numbers, ``status`` "ok" envelopes.
USDT-M rows carry ``volume`` (contracts of ``contract_size`` coins), ``amount`` (coins) and ``value``
(USDT), each the sum of both sides (twice the one-sided state), as that doc says; coin-M rows ``volume``
(contracts of 100 USD for BTC, 10 USD otherwise) and ``amount`` (coins), one side ("Single side"). Funding:
``funding_rate`` as an 18-decimal string per HTX's fixed 8 h, and ``funding_time`` the next settlement (ms,
a string); the deprecated fields are null. As in the recorded examples, the USDT-M endpoints also list dated
futures (``BTC-USDT-260626``, ``contract_type`` quarter), which the adapter must skip, as well as a
pending-listing swap (``contract_status`` 2); BTC-USD shows status 7 (settlement completed), as in the
recorded coin-M example, and is counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from server.core.model import ContractKind
from server.sim.market import Asset, Listing, ListingState
from server.sim.venue import SimRequest, SimRoute, SimVenue, real_assets, sub_dollar_size, with_synthetic
from server.venues.htx import PRODUCTS

CONTRACT_SIZES: Final = {"BTC": 0.001, "ETH": 0.01, "SOL": 1.0, "XRP": 10.0, "DOGE": 100.0, "LTC": 0.1}
COINM_ASSETS: Final = ("BTC", "ETH", "XRP", "DOGE", "LTC", "ADA", "LINK", "DOT", "TRX", "SOL")
DATED_CODE: Final = "BTC-USDT-260626"
PENDING_CODE: Final = "NEWCOIN-USDT"
SETTLED_STATUS_CODE: Final = "BTC-USD"  # shows contract_status 7 (settlement completed)
MARKET_COUNT: Final = 320  # reference page: ~300 USDT-M swaps, plus the coin-M swaps


def contract_size_for(asset: Asset) -> float:
    """HTX's size where known, else a power of ten worth between 0.1 and 1 USDT per contract."""
    return CONTRACT_SIZES.get(asset.symbol, sub_dollar_size(asset.price_usd))


def listings(assets: Sequence[Asset]) -> tuple[Listing, ...]:
    result: list[Listing] = []
    for asset in real_assets(assets):
        result.append(
            Listing(
                venue_symbol=f"{asset.symbol}-USDT",
                asset=asset.symbol,
                contract_size=contract_size_for(asset),
                share=0.85,
            )
        )
        if asset.symbol in COINM_ASSETS:
            result.append(
                Listing(
                    venue_symbol=f"{asset.symbol}-USD",
                    asset=asset.symbol,
                    kind=ContractKind.INVERSE,
                    contract_size=100.0 if asset.symbol == "BTC" else 10.0,
                    settle=asset.symbol,
                    share=0.15,
                    price_skew=0.0001,
                )
            )
    return with_synthetic(
        result,
        assets,
        MARKET_COUNT,
        lambda a: Listing(
            venue_symbol=f"{a.symbol}-USDT", asset=a.symbol, contract_size=contract_size_for(a)
        ),
    )


def _envelope(rows: list[dict[str, object]], now_ms: int) -> dict[str, object]:
    return {"status": "ok", "data": rows, "ts": now_ms}


def _book(markets: Sequence[ListingState], kind: ContractKind) -> list[ListingState]:
    return [m for m in markets if m.listing.kind is kind]


def _contract(market: ListingState) -> dict[str, object]:
    listing = market.listing
    row: dict[str, object] = {
        "symbol": listing.asset,
        "contract_code": listing.venue_symbol,
        "contract_size": listing.contract_size,
        "price_tick": 0.1,
        "delivery_date": "",
        "delivery_time": "",
        "create_date": "20211202",
        "contract_status": 7 if listing.venue_symbol == SETTLED_STATUS_CODE else 1,
        "settlement_date": "1638518400000",
    }
    if listing.kind is ContractKind.LINEAR:
        row.update(
            support_margin_mode="all",
            business_type="swap",
            pair=listing.venue_symbol,
            contract_type="swap",
        )
    else:
        del row["delivery_date"]  # the coin-M info has no delivery_date
    return row


def _open_interest(market: ListingState) -> dict[str, object]:
    listing = market.listing
    sides = 2 if listing.kind is ContractKind.LINEAR else 1  # USDT-M: "Sum of both buy and sell sides"
    row: dict[str, object] = {
        "volume": sides * round(market.contracts),
        "amount": round(sides * market.venue_units, 6),
        "symbol": listing.asset,
    }
    if listing.kind is ContractKind.LINEAR:
        row["value"] = round(sides * market.oi_usd, 4)
    row.update(contract_code=listing.venue_symbol, trade_amount=0, trade_volume=0, trade_turnover=0)
    if listing.kind is ContractKind.LINEAR:
        row.update(business_type="swap", pair=listing.venue_symbol, contract_type="swap")
    return row


def _linear_decoys(markets: Sequence[ListingState], rows: list[dict[str, object]], info: bool) -> None:
    """A dated quarterly sharing the USDT-M endpoints, and a swap still pending listing."""
    btc = next(m for m in markets if m.listing.venue_symbol == "BTC-USDT")
    row = _contract(btc) if info else _open_interest(btc)
    rows.append({**row, "contract_code": DATED_CODE, "business_type": "futures", "contract_type": "quarter"})
    if info:
        rows.append({**row, "symbol": "NEWCOIN", "contract_code": PENDING_CODE, "contract_status": 2})
    else:
        rows.append(
            {**row, "symbol": "NEWCOIN", "contract_code": PENDING_CODE, "volume": 0, "amount": 0, "value": 0}
        )


def book_endpoint(kind: ContractKind, *, info: bool) -> Callable[[SimRequest], object]:
    """``swap_contract_info`` (``info``) or ``swap_open_interest`` of one book, with the USDT-M decoys."""
    row = _contract if info else _open_interest

    def respond(request: SimRequest) -> object:
        rows = [row(m) for m in _book(request.markets, kind)]
        if kind is ContractKind.LINEAR:
            _linear_decoys(request.markets, rows, info=info)
        return _envelope(rows, request.now_ms)

    return respond


def _funding(market: ListingState, now_ms: int) -> dict[str, object]:
    listing = market.listing
    return {
        "estimated_rate": None,
        "funding_rate": f"{market.funding_rate:.18f}",
        "contract_code": listing.venue_symbol,
        "symbol": listing.asset,
        "fee_asset": listing.settle,
        "funding_time": str(market.next_funding_ms(now_ms)),
        "next_funding_time": None,
    }


def batch_funding(kind: ContractKind) -> Callable[[SimRequest], object]:
    """``swap_batch_funding_rate`` of one book: every swap of it (no dated futures carry funding)."""

    def respond(request: SimRequest) -> object:
        return _envelope([_funding(m, request.now_ms) for m in _book(request.markets, kind)], request.now_ms)

    return respond


SIM: Final = SimVenue(
    id="htx",
    listings=listings,
    routes=(
        *(
            SimRoute(path=f"{product.api}/{endpoint}", respond=book_endpoint(product.kind, info=info))
            for product in PRODUCTS
            for endpoint, info in (("swap_contract_info", True), ("swap_open_interest", False))
        ),
        *(
            SimRoute(path=f"{product.api}/swap_batch_funding_rate", respond=batch_funding(product.kind))
            for product in PRODUCTS
        ),
    ),
    venue_share=0.25,
    market_count=MARKET_COUNT,
)
