"""Symbol statistics (API.md section 5) on hand-made markets, every figure computed by hand."""

from __future__ import annotations

import pytest

from server.core.aggregate import aggregate
from server.core.model import ContractKind, Funding, MarketOI, VenueReading, VenueType
from server.core.stats import SymbolStats, figure_sums, symbol_stats

NOW = 1_709_640_000_000


def btc(
    symbol: str,
    usd: float,
    coins: float | None,
    price: float | None,
    *,
    kind: ContractKind = ContractKind.LINEAR,
    margin_asset: str = "USDT",
    funding: Funding | None = None,
) -> MarketOI:
    return MarketOI(
        venue_symbol=symbol,
        base="BTC",
        oi_base=coins,
        oi_usd=usd,
        price_usd=price,
        kind=kind,
        margin_asset=margin_asset,
        funding=funding,
    )


def stats_of(*readings: VenueReading) -> SymbolStats:
    snapshot = aggregate(
        {r.source: r for r in readings}, now_ms=NOW, stale_after_ms={r.source: 60_000 for r in readings}
    )
    return symbol_stats(snapshot.symbols["BTC"])


def test_weighted_price_funding_coverage_and_splits() -> None:
    stats = stats_of(
        VenueReading(
            source="binance",
            fetched_at_ms=NOW,
            markets=(
                # 600 USD at 100 USD/coin, funding 0.0001 per 8 h
                btc("BTCUSDT", 600.0, 6.0, 100.0, funding=Funding(rate=0.0001, interval_hours=8)),
                # 200 USD, coin-margined, funding 0.0001 per 4 h = 0.0002 per 8 h
                btc(
                    "BTCUSD_PERP",
                    200.0,
                    1.9,
                    105.0,
                    kind=ContractKind.INVERSE,
                    margin_asset="BTC",
                    funding=Funding(rate=0.0001, interval_hours=4),
                ),
            ),
        ),
        VenueReading(
            source="avantis",
            fetched_at_ms=NOW,
            venue_type=VenueType.DEX,
            markets=(btc("BTC/USD", 200.0, None, None, margin_asset="USDC"),),  # USD only, no funding
        ),
    )
    assert stats.total_oi_usd == 1000.0
    # coins: 6 + 1.9 = 7.9 over 800 of 1000 USD
    assert stats.total_oi_coins == pytest.approx(7.9)
    assert stats.coins_coverage == pytest.approx(0.8)
    # price: (100 × 600 + 105 × 200) / 800 = 101.25
    assert stats.price_usd == pytest.approx(101.25)
    # funding per 8 h: (0.0001 × 600 + 0.0002 × 200) / 800 = 0.000125; APR = 0.000125 × 1095 = 0.136875
    assert stats.funding_8h == pytest.approx(0.000125)
    assert stats.funding_apr == pytest.approx(0.136875)
    assert stats.funding_coverage == pytest.approx(0.8)


def test_figure_sums_in_cents_as_served() -> None:
    markets = (
        btc("BTCUSDT", 600.004, 6.0, 100.0),  # 60,000 cents
        btc("BTCUSD_PERP", 200.006, 1.9, 105.0, kind=ContractKind.INVERSE, margin_asset="BTC"),  # 20,001
    )
    sums = figure_sums(markets)
    assert (sums.oi_usd_cents, sums.stablecoin_cents, sums.coin_markets) == (80_001, 60_000, 2)
    # price × USD: 100 × 600.004 + 105 × 200.006 = 81,001.03
    assert sums.price_x_usd == pytest.approx(81_001.03) and sums.priced_usd == pytest.approx(800.01)
    assert sums.funded_usd == 0.0


def test_nothing_with_funding_or_price_gives_none() -> None:
    stats = stats_of(
        VenueReading(source="avantis", fetched_at_ms=NOW, markets=(btc("BTC/USD", 50.0, None, None),))
    )
    assert stats.funding_8h is None and stats.funding_apr is None and stats.funding_coverage == 0.0
    assert stats.price_usd is None and stats.total_oi_coins is None and stats.coins_coverage == 0.0
