"""Simulated Deribit API v2: get_instruments and get_book_summary_by_currency, kind=future.

Formats follow tests/fixtures/deribit/ (a recorded instrument, the documented book summary, inside the
JSON-RPC envelope with ``usIn``/``usOut``). ``open_interest`` is an amount: USD for the inverse
BTC-/ETH-PERPETUAL (a multiple of their 10 / 1 USD contract), coins for the USDC-linear perpetuals (a
multiple of the amount step). Decoys the adapter must skip: a dated ``BTC-26JUN26`` and an inactive
``NEWCOIN_USDC-PERPETUAL``, both in the instruments and in the book summary. USDT lists no future.
Funding: ``funding_8h`` is the walked rate per 8 h (every listing keeps the 8 h interval, the field's
own window); ``current_funding`` stays 0, as in the documented example (the adapter does not read it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from server.core.model import ContractKind
from server.sim.market import Asset, Listing, ListingState
from server.sim.venue import SimRequest, SimRoute, SimVenue, with_synthetic
from server.venues.deribit import INSTRUMENTS_PATH, SUMMARY_PATH

INVERSE_SIZES: Final = {"BTC": 10.0, "ETH": 1.0}  # USD per contract
# Deribit's USDC-linear perpetuals among the core coins, with their amount step in coins.
LINEAR_STEPS: Final = {
    "BTC": 0.001,
    "ETH": 0.01,
    "SOL": 0.1,
    "XRP": 1.0,
    "DOGE": 10.0,
    "BNB": 0.01,
    "ADA": 1.0,
    "LINK": 0.1,
    "AVAX": 0.1,
    "LTC": 0.01,
    "DOT": 0.1,
    "TRX": 10.0,
}
PERPETUAL_EXPIRY: Final = 32503708800000  # year 3000
DATED: Final = ("BTC-26JUN26", 1782460800000)
INACTIVE: Final = "NEWCOIN_USDC-PERPETUAL"
MARKET_COUNT: Final = 22  # 2 inverse + about 20 USDC-linear perpetuals


def listings(assets: Sequence[Asset]) -> tuple[Listing, ...]:
    result: list[Listing] = []
    for asset in assets:
        if asset.symbol in INVERSE_SIZES:
            result.append(
                Listing(
                    venue_symbol=f"{asset.symbol}-PERPETUAL",
                    asset=asset.symbol,
                    kind=ContractKind.INVERSE,
                    contract_size=INVERSE_SIZES[asset.symbol],
                    settle=asset.symbol,
                    share=0.8,
                    price_skew=0.0001,
                )
            )
        if asset.symbol in LINEAR_STEPS:
            result.append(_linear(asset.symbol, LINEAR_STEPS[asset.symbol]))
    return with_synthetic(result, assets, MARKET_COUNT, lambda a: _linear(a.symbol, 1.0))


def _linear(symbol: str, step: float) -> Listing:
    return Listing(
        venue_symbol=f"{symbol}_USDC-PERPETUAL", asset=symbol, contract_size=step, settle="USDC", share=0.05
    )


def _envelope(result: list[dict[str, object]], now_ms: int) -> dict[str, object]:
    us_in = now_ms * 1000
    return {
        "jsonrpc": "2.0",
        "result": result,
        "usIn": us_in,
        "usOut": us_in + 212,
        "usDiff": 212,
        "testnet": False,
    }


def _instrument(market: ListingState) -> dict[str, object]:
    listing = market.listing
    inverse = listing.kind is ContractKind.INVERSE
    quote = "USD" if inverse else "USDC"
    return {
        "price_index": f"{listing.asset.lower()}_{quote.lower()}",
        "rfq": False,
        "kind": "future",
        "instrument_name": listing.venue_symbol,
        "maker_commission": 0.0,
        "taker_commission": 0.0005,
        "instrument_type": "reversed" if inverse else "linear",
        "expiration_timestamp": PERPETUAL_EXPIRY,
        "creation_timestamp": 1534167754000,
        "is_active": True,
        "contract_size": listing.contract_size,
        "tick_size": 0.5,
        "instrument_id": 124972,
        "settlement_period": "perpetual",
        "min_trade_amount": listing.contract_size,
        "future_type": "reversed" if inverse else "linear",
        "max_leverage": 50,
        "max_liquidation_commission": 0.0075,
        "block_trade_commission": 0.00025,
        "block_trade_min_trade_amount": 200000,
        "block_trade_tick_size": 0.01,
        "settlement_currency": listing.settle,
        "base_currency": listing.asset,
        "counter_currency": quote,
        "quote_currency": quote,
        "tick_size_steps": [],
    }


def _amount(market: ListingState) -> float:
    """``open_interest``: whole contracts, as an amount (USD inverse, coins linear)."""
    size = market.listing.contract_size
    return round(round(market.contracts) * size, 8)


def _summary(market: ListingState, now_ms: int, name: str | None = None) -> dict[str, object]:
    listing = market.listing
    price = round(market.venue_price, 8)
    return {
        "volume_usd": round(market.oi_usd * 0.3, 2),
        "volume": round(market.oi_base * 0.3, 4),
        "quote_currency": "USD" if listing.kind is ContractKind.INVERSE else "USDC",
        "price_change": -1.2945,
        "open_interest": _amount(market),
        "mid_price": price,
        "mark_price": price,
        "low": round(price * 0.98, 8),
        "last": price,
        "instrument_name": name or listing.venue_symbol,
        "high": round(price * 1.02, 8),
        "funding_8h": round(market.funding_8h, 10),
        "estimated_delivery_price": round(price * 0.9999, 8),
        "current_funding": 0,
        "creation_timestamp": now_ms,
        "bid_price": price,
        "base_currency": listing.asset,
        "ask_price": price,
    }


def _settles_in(market: ListingState, currency: str) -> bool:
    return market.listing.settle == currency


def _btc_inverse(markets: Sequence[ListingState]) -> ListingState | None:
    return next((m for m in markets if m.listing.venue_symbol == "BTC-PERPETUAL"), None)


def _usdc_linear(markets: Sequence[ListingState]) -> ListingState | None:
    return next((m for m in markets if m.listing.settle == "USDC"), None)


def instruments(request: SimRequest) -> object:
    currency = request.query.get("currency", "")
    rows = [_instrument(m) for m in request.markets if _settles_in(m, currency)]
    btc, usdc = _btc_inverse(request.markets), _usdc_linear(request.markets)
    if currency == "BTC" and btc is not None:
        name, expiry = DATED
        rows.append(
            {
                **_instrument(btc),
                "instrument_name": name,
                "settlement_period": "month",
                "expiration_timestamp": expiry,
            }
        )
    if currency == "USDC" and usdc is not None:
        rows.append(
            {**_instrument(usdc), "instrument_name": INACTIVE, "base_currency": "NEWCOIN", "is_active": False}
        )
    return _envelope(rows, request.now_ms)


def book_summary(request: SimRequest) -> object:
    currency = request.query.get("currency", "")
    rows = [_summary(m, request.now_ms) for m in request.markets if _settles_in(m, currency)]
    btc, usdc = _btc_inverse(request.markets), _usdc_linear(request.markets)
    if currency == "BTC" and btc is not None:
        rows.append(_summary(btc, request.now_ms, DATED[0]))
    if currency == "USDC" and usdc is not None:
        rows.append(_summary(usdc, request.now_ms, INACTIVE))
    return _envelope(rows, request.now_ms)


SIM: Final = SimVenue(
    id="deribit",
    listings=listings,
    routes=(
        SimRoute(path=INSTRUMENTS_PATH, respond=instruments),
        SimRoute(path=SUMMARY_PATH, respond=book_summary),
    ),
    venue_share=0.1,
    market_count=MARKET_COUNT,
)
