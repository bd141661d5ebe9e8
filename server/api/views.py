"""The views sections 4 and 5 of API.md add: every counted market of a symbol, and per-symbol
statistics, as JSON documents and protobuf messages. Pure functions of one snapshot's figures;
``PreparedSnapshot`` builds each at most once per snapshot version, on first request.

Rounding happens here, as everywhere at the edge: USD to cents (a source's markets sum to its
``exchanges.<source>.oi_usd`` to the cent because that figure is the sum of these cents), coins to
1e-8, shares to 1e-6, prices to 10 significant digits, rates to 1e-10. Splits are sums of market
cents too, so each split sums to the total exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.core.model import MarginType, MarketOI, SymbolTotal, VenueFigure, VenueType
from server.core.stats import SymbolStats, symbol_stats

COIN_DECIMALS: Final = 8
SHARE_DECIMALS: Final = 6
RATE_DECIMALS: Final = 10
PRICE_DIGITS: Final = 10


def cents(usd: float) -> int:
    return round(usd * 100)


def market_cents(figure: VenueFigure) -> int:
    """A source's USD for one symbol in cents: the sum of its markets' cents (so the markets view
    and the seed endpoint agree to the cent), or the figure itself where no market is attached."""
    return figure.sums.oi_usd_cents if figure.markets else cents(figure.oi_usd)


def price_text(value: float) -> float:
    return float(f"{value:.{PRICE_DIGITS}g}")


def _coins(value: float | None) -> float | None:
    return None if value is None else round(value, COIN_DECIMALS)


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, RATE_DECIMALS)


# --- markets (API.md section 4) ------------------------------------------------------------------


def market_json(figure: VenueFigure, market: MarketOI) -> dict[str, object]:
    raw = market.raw
    price = market.venue_price
    funding = market.funding
    document: dict[str, object] = {
        "source": figure.source,
        "venue_symbol": market.venue_symbol,
        "venue_type": figure.venue_type.value,
        "kind": market.kind.value,
        "margin_asset": market.margin_asset,
        "margin_type": market.margin_type.value,
        "contract_size": market.contract_size,
        "raw": None if raw is None else {"field": raw.field, "value": raw.value, "unit": raw.unit.value},
        "convention": market.convention.value,
        "oi_contracts": _coins(market.oi_base),
        "oi_usd": cents(market.oi_usd) / 100,
        "price": None
        if price is None
        else {
            "usd": price_text(price),
            "kind": None if market.price_kind is None else market.price_kind.value,
            **({"base_factor": market.base_factor} if market.base_factor != 1 else {}),
        },
        "funding": None
        if funding is None
        else {
            "rate": funding.rate,
            "interval_hours": funding.interval_hours,
            "rate_8h": _rate(funding.rate_8h),
            "apr": _rate(funding.apr),
            "next_at": funding.next_at_ms,
            **({"short_rate": funding.short_rate} if funding.short_rate is not None else {}),
        },
    }
    if market.borrow_rate_1h is not None:
        document["borrow_rate_1h"] = market.borrow_rate_1h
    document["updated_at"] = figure.market_updated_at_ms(market)
    return document


def counted_markets(total: SymbolTotal, source: str | None) -> list[tuple[VenueFigure, MarketOI]]:
    """The symbol's markets (of one source, or all), ordered by oi_usd descending."""
    pairs = [
        (figure, market)
        for figure in total.venues
        if source is None or figure.source == source
        for market in figure.markets
    ]
    pairs.sort(key=lambda pair: (-cents(pair[1].oi_usd), pair[0].source, pair[1].venue_symbol))
    return pairs


def markets_json_data(total: SymbolTotal, source: str | None) -> dict[str, object]:
    return {
        "symbol": total.symbol,
        "markets": [market_json(figure, market) for figure, market in counted_markets(total, source)],
    }


_VENUE_TYPE_PB: Final = {VenueType.CEX: pb.VENUE_TYPE_CEX, VenueType.DEX: pb.VENUE_TYPE_DEX}
_MARGIN_PB: Final = {MarginType.STABLECOIN: pb.MARGIN_TYPE_STABLECOIN, MarginType.COIN: pb.MARGIN_TYPE_COIN}


def market_pb(figure: VenueFigure, market: MarketOI) -> pb.Market:
    message = pb.Market(
        source=figure.source,
        venue_symbol=market.venue_symbol,
        venue_type=_VENUE_TYPE_PB[figure.venue_type],
        kind=pb.ContractKind.Value(f"CONTRACT_KIND_{market.kind.name}"),
        margin_asset=market.margin_asset,
        margin_type=_MARGIN_PB[market.margin_type],
        convention=pb.Convention.Value(f"CONVENTION_{market.convention.name}"),
        oi_usd=cents(market.oi_usd) / 100,
        updated_at=figure.market_updated_at_ms(market),
    )
    if market.contract_size is not None:
        message.contract_size = market.contract_size
    if market.raw is not None:
        message.raw.CopyFrom(
            pb.RawFigure(
                field=market.raw.field,
                value=market.raw.value,
                unit=pb.RawUnit.Value(f"RAW_UNIT_{market.raw.unit.name}"),
            )
        )
    if market.oi_base is not None:
        message.oi_contracts = round(market.oi_base, COIN_DECIMALS)
    price = market.venue_price
    if price is not None:
        kind = pb.PRICE_KIND_UNSPECIFIED
        if market.price_kind is not None:
            kind = pb.PriceKind.Value(f"PRICE_KIND_{market.price_kind.name}")
        message.price.CopyFrom(pb.Price(usd=price_text(price), kind=kind, base_factor=market.base_factor))
    funding = market.funding
    if funding is not None:
        message.funding.CopyFrom(
            pb.Funding(
                rate=funding.rate,
                interval_hours=funding.interval_hours,
                rate_8h=_rate(funding.rate_8h) or 0.0,
                apr=_rate(funding.apr) or 0.0,
            )
        )
        if funding.next_at_ms is not None:
            message.funding.next_at = funding.next_at_ms
        if funding.short_rate is not None:
            message.funding.short_rate = funding.short_rate
    if market.borrow_rate_1h is not None:
        message.borrow_rate_1h = market.borrow_rate_1h
    return message


def markets_pb(timestamp_ms: int, total: SymbolTotal, source: str | None) -> pb.ListMarketsResponse:
    return pb.ListMarketsResponse(
        timestamp=timestamp_ms,
        symbol=total.symbol,
        markets=[market_pb(figure, market) for figure, market in counted_markets(total, source)],
    )


# --- symbol statistics (API.md section 5) --------------------------------------------------------


def splits(total: SymbolTotal, total_cents: int) -> tuple[dict[str, float], dict[str, float]]:
    """USD by margin type and by venue type, each the sum of its markets' cents, so each split
    sums exactly to the symbol's total ``total_cents`` (the sum of every source's ``market_cents``,
    as the caller has it already)."""
    stable = sum(f.sums.stablecoin_cents for f in total.venues)
    dex = sum(market_cents(f) for f in total.venues if f.venue_type is VenueType.DEX)
    return (
        {MarginType.STABLECOIN.value: stable / 100, MarginType.COIN.value: (total_cents - stable) / 100},
        {VenueType.CEX.value: (total_cents - dex) / 100, VenueType.DEX.value: dex / 100},
    )


def stats_json(total: SymbolTotal, total_cents: int, stats: SymbolStats) -> dict[str, object]:
    by_margin, by_venue_type = splits(total, total_cents)
    return {
        "total_oi_usd": total_cents / 100,
        "exchange_count": total.exchange_count,
        "total_oi_coins": _coins(stats.total_oi_coins),
        "coins_coverage": round(stats.coins_coverage, SHARE_DECIMALS),
        "price_usd": None if stats.price_usd is None else price_text(stats.price_usd),
        "funding_8h": _rate(stats.funding_8h),
        "funding_apr": _rate(stats.funding_apr),
        "funding_coverage": round(stats.funding_coverage, SHARE_DECIMALS),
        "by_margin": by_margin,
        "by_venue_type": by_venue_type,
    }


def stats_pb(total: SymbolTotal, total_cents: int, stats: SymbolStats) -> pb.SymbolStats:
    margin, venue = splits(total, total_cents)
    message = pb.SymbolStats(
        symbol=total.symbol,
        total_oi_usd=total_cents / 100,
        exchange_count=total.exchange_count,
        coins_coverage=round(stats.coins_coverage, SHARE_DECIMALS),
        funding_coverage=round(stats.funding_coverage, SHARE_DECIMALS),
        oi_usd_stablecoin_margined=margin[MarginType.STABLECOIN.value],
        oi_usd_coin_margined=margin[MarginType.COIN.value],
        oi_usd_cex=venue[VenueType.CEX.value],
        oi_usd_dex=venue[VenueType.DEX.value],
    )
    if stats.total_oi_coins is not None:
        message.total_oi_coins = round(stats.total_oi_coins, COIN_DECIMALS)
    if stats.price_usd is not None:
        message.price_usd = price_text(stats.price_usd)
    if stats.funding_8h is not None and stats.funding_apr is not None:
        message.funding_8h = round(stats.funding_8h, RATE_DECIMALS)
        message.funding_apr = round(stats.funding_apr, RATE_DECIMALS)
    return message


def stats_of(totals: Sequence[SymbolTotal]) -> dict[str, SymbolStats]:
    return {total.symbol: symbol_stats(total) for total in totals}
