"""Simulated Gate APIv4 futures: contracts and tickers for the ``usdt`` and ``btc`` settle currencies.

Formats follow tests/fixtures/gateio/ (doc examples; bare arrays, numbers as strings). Contracts'
``position_size`` is one side (the long side) in whole contracts of ``quanto_multiplier`` base units (USDT
book) or of 1 USD (``BTC_USD``, the only BTC-settled perpetual, ``quanto_multiplier`` "0"); tickers'
``total_size`` is both sides, twice it, as Gate's 2026 captures show. Contracts also carry the mark price
and funding: ``funding_rate`` per ``funding_interval`` seconds (28800; a few contracts 14400 or 3600, as
Gate sets per contract) and ``funding_next_apply`` (unix s); tickers repeat the rate. Multipliers are
Gate-like (0.0001 BTC, 10000 SHIB, 10 DOGE). Decoys the adapter must skip, each with open positions: a
``prelaunch`` contract, a ``delisted`` one and a TradFi (``contract_type`` stocks) one; and a quanto ETH_USD
settled in BTC.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from server.core.model import ContractKind
from server.sim.market import Asset, Listing, ListingState
from server.sim.venue import SimRequest, SimRoute, SimVenue, fmt, real_assets, with_synthetic
from server.venues.gateio import API, SETTLES

MULTIPLIERS: Final = {
    "BTC": 0.0001,
    "ETH": 0.01,
    "SOL": 1.0,
    "XRP": 10.0,
    "DOGE": 10.0,
    "BNB": 0.01,
    "HYPE": 0.1,
    "SUI": 1.0,
    "ADA": 10.0,
    "LINK": 1.0,
    "AVAX": 1.0,
    "LTC": 0.1,
    "PEPE": 10_000_000.0,
    "SHIB": 10_000.0,
    "BONK": 100_000.0,
    "WIF": 1.0,
    "DOT": 1.0,
    "TRX": 100.0,
    "ARB": 1.0,
    "OP": 1.0,
}
# Gate sets the funding interval per contract: a few off the 8 h default.
FUNDING_INTERVALS_H: Final = {"DOGE_USDT": 4.0, "PEPE_USDT": 4.0, "WIF_USDT": 1.0, "BTC_USD": 4.0}
# (name, settle, type, quanto_multiplier, field overrides): listed with positions, never counted.
DECOYS: Final[tuple[tuple[str, str, str, str, dict[str, object]], ...]] = (
    ("NEWCOIN_USDT", "usdt", "direct", "1", {"status": "prelaunch"}),
    ("OLDCOIN_USDT", "usdt", "direct", "1", {"status": "delisted", "in_delisting": True}),
    ("TSLAX_USDT", "usdt", "direct", "0.01", {"contract_type": "stocks"}),
    ("ETH_USD", "btc", "direct", "0.000001", {}),  # quanto: ETH priced in USD, settled in BTC
)


def listings(assets: Sequence[Asset]) -> tuple[Listing, ...]:
    result: list[Listing] = []
    for asset in real_assets(assets):
        coin = asset.symbol
        result.append(
            Listing(
                venue_symbol=f"{coin}_USDT",
                asset=coin,
                contract_size=MULTIPLIERS.get(coin, 1.0),
                share=0.9,
                funding_interval_h=FUNDING_INTERVALS_H.get(f"{coin}_USDT", 8.0),
            )
        )
        if coin == "BTC":
            result.append(
                Listing(
                    venue_symbol="BTC_USD",
                    asset=coin,
                    kind=ContractKind.INVERSE,
                    contract_size=1.0,  # USD
                    settle="BTC",
                    share=0.1,
                    price_skew=0.0001,
                    funding_interval_h=FUNDING_INTERVALS_H["BTC_USD"],
                )
            )
    return with_synthetic(
        result, assets, 600, lambda a: Listing(venue_symbol=f"{a.symbol}_USDT", asset=a.symbol)
    )


def settle_of(market: ListingState) -> str:
    return market.listing.settle.lower()


def _contract(
    name: str, kind: str, multiplier: str, price: float, size: int, /, **extra: object
) -> dict[str, object]:
    """A contracts row; ``size`` is one side (``position_size``)."""
    row: dict[str, object] = {
        "name": name,
        "type": kind,
        "quanto_multiplier": multiplier,
        "ref_discount_rate": "0",
        "order_price_deviate": "0.5",
        "maintenance_rate": "0.005",
        "mark_type": "index",
        "last_price": fmt(price * 1.0001, 10),
        "mark_price": fmt(price, 10),
        "index_price": fmt(price * 0.9999, 10),
        "funding_rate_indicative": "0.000219",
        "mark_price_round": "0.01",
        "funding_offset": 0,
        "in_delisting": False,
        "risk_limit_base": "1000000",
        "interest_rate": "0.0003",
        "order_price_round": "0.1",
        "order_size_min": "1",
        "enable_decimal": False,
        "ref_rebate_rate": "0.2",
        "funding_interval": 28800,
        "risk_limit_step": "1000000",
        "leverage_min": "1",
        "leverage_max": "100",
        "risk_limit_max": "8000000",
        "maker_fee_rate": "-0.00025",
        "taker_fee_rate": "0.00075",
        "funding_rate": "0.002053",
        "order_size_max": "1000000",
        "funding_next_apply": 1610035200,
        "short_users": 977,
        "config_change_time": 1609899548,
        "trade_size": "28530850594",
        "position_size": str(size),  # "current total long position size": one side
        "long_users": 455,
        "funding_impact_value": "60000",
        "orders_limit": 50,
        "trade_id": 10851092,
        "orderbook_id": 2129638396,
        "enable_bonus": True,
        "enable_credit": True,
        "create_time": 1669688556,
        "funding_cap_ratio": "0.75",
        "status": "trading",
        "launch_time": 1609899548,
        "delisting_time": 0,
        "delisted_time": 0,
        "market_order_slip_ratio": "0.05",
        "market_order_size_max": "0",
        "funding_rate_limit": "0.003",
        "contract_type": "",
        "enable_circuit_breaker": False,
    }
    row.update(extra)
    return row


def _ticker(name: str, price: float, size: int, funding_rate: str = "0.0001") -> dict[str, object]:
    """A tickers row; ``size`` is one side, and ``total_size`` counts both (twice it)."""
    return {
        "contract": name,
        "last": fmt(price * 1.0001, 10),
        "low_24h": fmt(price * 0.98, 10),
        "high_24h": fmt(price * 1.02, 10),
        "change_percentage": "4.43",
        "total_size": str(2 * size),  # whole contracts, long + short
        "volume_24h": str(size * 5),
        "volume_24h_btc": "28613220",
        "volume_24h_usd": "184040233284",
        "volume_24h_base": "28613220",
        "volume_24h_quote": "184040233284",
        "volume_24h_settle": "28613220",
        "mark_price": fmt(price, 10),
        "funding_rate": funding_rate,
        "funding_rate_indicative": funding_rate,
        "index_price": fmt(price * 0.9999, 10),
        "highest_bid": fmt(price * 0.9999, 10),
        "highest_size": "100",
        "lowest_ask": fmt(price * 1.0001, 10),
        "lowest_size": "1000",
    }


def _listed(market: ListingState) -> tuple[str, str, str, float, int]:
    listing = market.listing
    inverse = listing.kind is ContractKind.INVERSE
    multiplier = "0" if inverse else fmt(listing.contract_size, 10)
    kind = "inverse" if inverse else "direct"
    return listing.venue_symbol, kind, multiplier, market.venue_price, round(market.contracts)


def _funding(market: ListingState, now_ms: int) -> dict[str, object]:
    """The contracts row's funding fields for this listing: rate per its interval, in Gate's units."""
    return {
        "funding_rate": fmt(market.funding_rate, 10),
        "funding_interval": round(market.listing.funding_interval_h * 3600),
        "funding_next_apply": market.next_funding_ms(now_ms) // 1000,
    }


def contracts(settle: str) -> Callable[[SimRequest], object]:
    def respond(request: SimRequest) -> object:
        rows = [
            _contract(*_listed(m), **_funding(m, request.now_ms))
            for m in request.markets
            if settle_of(m) == settle
        ]
        rows += [
            _contract(name, kind, multiplier, 3.0, 50_000, **extra)
            for name, decoy_settle, kind, multiplier, extra in DECOYS
            if decoy_settle == settle
        ]
        return rows

    return respond


def tickers(settle: str) -> Callable[[SimRequest], object]:
    def respond(request: SimRequest) -> object:
        rows = []
        for m in request.markets:
            if settle_of(m) == settle:
                name, _, _, price, size = _listed(m)
                rows.append(_ticker(name, price, size, fmt(m.funding_rate, 10)))
        rows += [_ticker(name, 3.0, 50_000) for name, decoy_settle, *_ in DECOYS if decoy_settle == settle]
        return rows

    return respond


SIM: Final = SimVenue(
    id="gateio",
    listings=listings,
    routes=tuple(
        SimRoute(path=f"{API}/{settle}/{endpoint}", respond=respond(settle))
        for settle in SETTLES
        for endpoint, respond in (("contracts", contracts), ("tickers", tickers))
    ),
    venue_share=0.4,
    market_count=600,
)
