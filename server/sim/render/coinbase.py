"""Simulated Coinbase (source ``coinbase``): INTX ``/api/v1/instruments`` and Advanced Trade
``/api/v3/brokerage/market/products`` with the US CDE perp-style futures, on one simulated host
(the adapter's two hosts both point at it, as any base-URL override does).

Formats follow tests/fixtures/coinbase/ (the recorded BTC-PERP instrument and BIP product). INTX
lists a BTC-USDC spot row and a delisted perp; the products list has a dated BIT-24APR26-CDE and an
INTX perp row (``product_venue`` INTX): all decoys the adapters must skip. The 1000-bundles are
unverified on INTX, so the two readings the reference page allows are both served: 1000SHIB-PERP
names its base ``1000SHIB`` (multiplier 1.0), 1000PEPE-PERP names it ``PEPE`` with multiplier 1000.
CDE product codes beyond BIP/ETP/SLP and the SOL/XRP contract sizes are illustrative.
Funding: both books run hourly (every listing has ``funding_interval_h`` 1.0). INTX serves the walked
rate as ``quote.predicted_funding`` with ``funding_interval`` in nanoseconds ("3600000000000"); CDE as
``future_product_details.funding_rate`` with ``funding_interval`` "3600s" and ``funding_time`` the
current hour (its meaning is unrecorded; the adapter does not read it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from server.sim.market import Asset, Listing, ListingState
from server.sim.venue import SimRequest, SimRoute, SimVenue, fmt, with_synthetic
from server.venues.coinbase import INSTRUMENTS_PATH, PRODUCTS_PATH

INTX_ASSETS: Final = (
    "BTC", "ETH", "SOL", "XRP", "DOGE", "BNB", "HYPE", "SUI", "ADA", "LINK",
    "AVAX", "LTC", "PEPE", "SHIB", "WIF", "DOT", "ARB", "OP",
)  # fmt: skip
INTX_NAMING: Final = {"SHIB": ("1000SHIB", "1.0"), "PEPE": ("PEPE", "1000.0")}  # base_asset_name, multiplier
CDE_CONTRACTS: Final = {"BTC": ("BIP", 0.01), "ETH": ("ETP", 0.1), "SOL": ("SLP", 5.0), "XRP": ("XPP", 500.0)}
CDE_EXPIRY: Final = "20DEC30"
DEFAULT_LIMIT: Final = 50
FUNDING_HOURS: Final = 1.0  # both books accrue funding hourly
RATE_DECIMALS: Final = 10  # rates as decimal strings, like the recorded "0.000031"


def intx_listings(assets: Sequence[Asset]) -> tuple[Listing, ...]:
    known = {a.symbol for a in assets}
    result = [
        Listing(
            venue_symbol=f"1000{symbol}-PERP" if symbol in INTX_NAMING else f"{symbol}-PERP",
            asset=symbol,
            venue_factor=1000.0 if symbol in INTX_NAMING else 1.0,
            settle="USDC",
            funding_interval_h=FUNDING_HOURS,
        )
        for symbol in INTX_ASSETS
        if symbol in known
    ]
    return with_synthetic(
        result,
        assets,
        80,
        lambda a: Listing(
            venue_symbol=f"{a.symbol}-PERP", asset=a.symbol, settle="USDC", funding_interval_h=FUNDING_HOURS
        ),
    )


def cde_listings(assets: Sequence[Asset]) -> tuple[Listing, ...]:
    known = {a.symbol for a in assets}
    result = [
        Listing(
            venue_symbol=f"{code}-{CDE_EXPIRY}-CDE",
            asset=symbol,
            contract_size=size,
            settle="USD",
            funding_interval_h=FUNDING_HOURS,
        )
        for symbol, (code, size) in CDE_CONTRACTS.items()
        if symbol in known
    ]
    return with_synthetic(
        result,
        assets,
        8,
        lambda a: Listing(
            venue_symbol=f"{a.symbol}P-{CDE_EXPIRY}-CDE",
            asset=a.symbol,
            settle="USD",
            funding_interval_h=FUNDING_HOURS,
        ),
    )


def _iso(now_ms: int) -> str:
    return datetime.fromtimestamp(now_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _instrument(market: ListingState, index: int, now_ms: int) -> dict[str, object]:
    listing = market.listing
    name, multiplier = INTX_NAMING.get(listing.asset, (listing.asset, "1.0"))
    price, units = market.venue_price, market.venue_units
    return {
        "instrument_id": str(149264167780483072 + index),
        "instrument_uuid": f"b3469e0b-222c-4f8a-9f68-{index:012d}",
        "symbol": listing.venue_symbol,
        "type": "PERP",
        "mode": "STANDARD",
        "base_asset_id": str(118059611751202816 + index),
        "base_asset_uuid": f"5b71fc48-3dd3-540c-809b-{index:012d}",
        "base_asset_name": name,
        "quote_asset_id": "1",
        "quote_asset_uuid": "2b92315d-eab7-5bef-84fa-089a131333f5",
        "quote_asset_name": "USDC",
        "base_increment": "0.0001",
        "quote_increment": "0.1",
        "price_band_percent": 0.05,
        "market_order_percent": 0.01,
        "qty_24hr": fmt(units * 1.3, 4),
        "notional_24hr": fmt(units * 1.3 * price, 6),
        "open_interest": fmt(units, 4),
        "position_limit_qty": fmt(units * 2.6, 4),
        "position_limit_adq_pct": 1.0,
        "position_notional_limit": "120000000",
        "open_interest_notional_limit": "300000000",
        "replacement_cost": "0.19",
        "base_imf": 0.1,
        "min_notional_value": "10",
        "funding_interval": str(round(listing.funding_interval_h * 3_600_000_000_000)),
        "trading_state": "TRADING",
        "quote": {
            "best_bid_price": fmt(price * 0.9999, 8),
            "best_bid_size": "0.0005",
            "best_ask_price": fmt(price * 1.0001, 8),
            "best_ask_size": "0.0001",
            "trade_price": fmt(price * 1.0001, 8),
            "trade_qty": "0.0005",
            "index_price": fmt(price * 0.9998, 8),
            "mark_price": fmt(price, 8),
            "settlement_price": fmt(price, 8),
            "limit_up": fmt(price * 1.1, 8),
            "limit_down": fmt(price * 0.9, 8),
            "predicted_funding": fmt(market.funding_rate, RATE_DECIMALS),
            "timestamp": _iso(now_ms),
        },
        "default_imf": 0.2,
        "base_asset_multiplier": multiplier,
        "underlying_type": "SPOT",
    }


def _is_cde(market: ListingState) -> bool:
    return market.listing.venue_symbol.endswith("-CDE")


def instruments(request: SimRequest) -> object:
    intx = [m for m in request.markets if not _is_cde(m)]
    rows = [_instrument(m, i, request.now_ms) for i, m in enumerate(intx)]
    btc = next(r for r in rows if r["symbol"] == "BTC-PERP")
    spot = {**btc, "symbol": "BTC-USDC", "type": "SPOT", "open_interest": "0", "funding_interval": "0"}
    delisted = {**btc, "symbol": "LUNA-PERP", "base_asset_name": "LUNA", "trading_state": "DELISTED"}
    return [spot, *rows, delisted]


def _product(market: ListingState, now_ms: int) -> dict[str, object]:
    listing = market.listing
    asset, code = listing.asset, listing.venue_symbol.split("-")[0]
    price = market.venue_price
    contracts = fmt(round(market.contracts), 0)
    return {
        "product_id": listing.venue_symbol,
        "price": fmt(price, 6),
        "price_percentage_change_24h": "-0.18101513286511",
        "volume_24h": "678476",
        "volume_percentage_change_24h": "129.78077765849",
        "base_increment": "1",
        "quote_increment": "0.01",
        "quote_min_size": "0",
        "quote_max_size": "100000000",
        "base_min_size": "1",
        "base_max_size": "5000",
        "base_name": "",
        "quote_name": "US Dollar",
        "watched": False,
        "is_disabled": False,
        "new": False,
        "status": "",
        "cancel_only": False,
        "limit_only": False,
        "post_only": False,
        "trading_disabled": False,
        "auction_mode": False,
        "product_type": "FUTURE",
        "quote_currency_id": "USD",
        "base_currency_id": "",
        "fcm_trading_session_details": {
            "is_session_open": True,
            "open_time": "2026-04-06T21:00:00Z",
            "close_time": "2026-04-07T21:00:00Z",
            "session_state": "FCM_TRADING_SESSION_STATE_OPEN",
            "after_hours_order_entry_disabled": False,
            "closed_reason": "FCM_TRADING_SESSION_CLOSED_REASON_EXCHANGE_MAINTENANCE",
            "maintenance": {"start_time": "2026-04-18T14:00:00Z", "end_time": "2026-04-18T17:00:00Z"},
        },
        "mid_market_price": fmt(price * 0.99995, 6),
        "alias": "",
        "alias_to": [],
        "base_display_symbol": "",
        "quote_display_symbol": "USD",
        "view_only": False,
        "price_increment": "5",
        "display_name": f"{asset} PERP",
        "product_venue": "FCM",
        "approximate_quote_24h_volume": "467673506.8",
        "new_at": None,
        "market_cap": "",
        "base_cbrn": "",
        "quote_cbrn": "",
        "product_cbrn": "",
        "icon_color": "",
        "icon_url": "",
        "display_name_overwrite": "",
        "is_alpha_testing": False,
        "about_description": "",
        "best_bid_price": "",
        "best_ask_price": "",
        "future_product_details": {
            "venue": "cde",
            "contract_code": code,
            "contract_expiry": "2030-12-20T16:00:00Z",
            "contract_size": fmt(listing.contract_size),
            "contract_root_unit": asset,
            "group_description": f"nano {asset} Perp Futures",
            "contract_expiry_timezone": "Europe/London",
            "group_short_description": f"nano {asset} Perp",
            "risk_managed_by": "MANAGED_BY_FCM",
            "contract_expiry_type": "EXPIRING",
            "perpetual_details": {
                "open_interest": contracts,
                "funding_rate": "",
                "funding_time": None,
                "max_leverage": "",
                "base_asset_uuid": "",
                "underlying_type": "",
            },
            "contract_display_name": f"{asset} PERP",
            "time_to_expiry_ms": str(max(0, 1_924_531_200_000 - now_ms)),
            "non_crypto": False,
            "contract_expiry_name": "2030-12",
            "twenty_four_by_seven": True,
            "funding_interval": f"{round(listing.funding_interval_h * 3600)}s",
            "open_interest": contracts,
            "funding_rate": fmt(market.funding_rate, RATE_DECIMALS),
            "funding_time": _iso(now_ms - now_ms % 3_600_000),
            "display_name": f"{asset} Perpetual",
            "region_enabled": {},
            "intraday_margin_rate": {"long_margin_rate": "0.1000185", "short_margin_rate": "0.1000008"},
            "overnight_margin_rate": {"long_margin_rate": "0.245625", "short_margin_rate": "0.306375"},
            "settlement_price": fmt(price * 1.001, 6),
            "futures_asset_type": "FUTURES_ASSET_TYPE_CRYPTO",
            "index_price": fmt(price * 0.9998, 6),
            "contract_code_display_name": "",
            "product_group_cbrn": "",
        },
    }


def _decoys(btc: dict[str, object]) -> list[dict[str, object]]:
    details = btc["future_product_details"]
    assert isinstance(details, dict)
    dated = {
        **btc,
        "product_id": "BIT-24APR26-CDE",
        "display_name": "BTC 24 APR 26",
        "future_product_details": {
            **details,
            "contract_code": "BIT",
            "group_description": "nano Bitcoin Futures",
            "group_short_description": "nano BTC",
            "funding_interval": None,
            "funding_rate": "",
            "funding_time": None,
            "index_price": "",
        },
    }
    intx = {
        **btc,
        "product_id": "BTC-PERP-INTX",
        "product_venue": "INTX",
        "future_product_details": {**details, "contract_expiry_type": "PERPETUAL", "contract_size": "1"},
    }
    return [dated, intx]


def products(request: SimRequest) -> object:
    rows = [_product(m, request.now_ms) for m in request.markets if _is_cde(m)]
    rows += _decoys(next(r for r in rows if r["product_id"] == f"BIP-{CDE_EXPIRY}-CDE"))
    limit = int(request.query.get("limit", DEFAULT_LIMIT))
    start = int(request.query.get("cursor") or 0)
    page = rows[start : start + limit]
    more = start + limit < len(rows)
    pagination = (
        None
        if start == 0 and not more
        else {"next_cursor": str(start + limit) if more else "", "has_next": more}
    )
    return {"products": page, "num_products": len(page), "pagination": pagination}


def listings(assets: Sequence[Asset]) -> tuple[Listing, ...]:
    """Both books: INTX perpetuals and the US CDE perp-style futures."""
    return intx_listings(assets) + cde_listings(assets)


SIM: Final = SimVenue(
    id="coinbase",
    listings=listings,
    routes=(
        SimRoute(path=INSTRUMENTS_PATH, respond=instruments),
        SimRoute(path=PRODUCTS_PATH, respond=products),
    ),
    venue_share=0.015,
    market_count=88,
)
