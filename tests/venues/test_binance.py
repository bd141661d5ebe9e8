"""Binance USD-M: golden figures from the recorded doc examples, skipping rules, drift, provenance
and funding (premiumIndex rate over fundingInfo's interval)."""

from __future__ import annotations

import copy

import pytest

from server.core.errors import MalformedResponse, SchemaDrift
from server.core.model import (
    ContractKind,
    Convention,
    MarginType,
    ParsedPoll,
    PriceKind,
    Raw,
    RawUnit,
)
from server.sim.render import binance as sim_binance
from server.venues import binance
from server.venues.base import Bodies, Catalog
from tests.support import fixture, market, poll_with_failing

EXCHANGE_INFO = fixture("binance", "exchangeInfo.json")
FUNDING_INFO = fixture("binance", "fundingInfo.json")  # the doc example: BLZUSDT only, at 8 h


def catalog(funding_info: object | None = None) -> Catalog:
    """The recorded catalog; with ``funding_info`` the fundingInfo body too (None: that request failed)."""
    pages: dict[str, tuple[object, ...]] = {"exchangeInfo": (EXCHANGE_INFO,)}
    if funding_info is not None:
        pages["fundingInfo"] = (funding_info,)
    return binance.SPEC.parse_catalog(Bodies(pages))


def cycle(catalog: Catalog, oi_by_symbol: dict[str, object], premium: object) -> Bodies:
    pages: dict[str, tuple[object, ...]] = {"premiumIndex": (premium,)}
    pages.update({f"oi:{symbol}": (body,) for symbol, body in oi_by_symbol.items()})
    return Bodies(pages)


def parse_btcusdt_only() -> ParsedPoll:
    """The recorded premiumIndex and BTCUSDT openInterest; ETHUSDT's per-symbol body is missing."""
    return binance.parse(
        catalog(),
        cycle(
            catalog(),
            {"BTCUSDT": fixture("binance", "openInterest.json")},
            fixture("binance", "premiumIndex.json"),
        ),
    )


def test_catalog_keeps_trading_coin_perpetuals_only() -> None:
    markets = catalog().markets
    # BTCUSDT_220325 is CURRENT_QUARTER: a dated future, not counted.
    assert sorted(markets) == ["BTCUSDT", "ETHUSDT"]
    assert markets["BTCUSDT"].kind is ContractKind.LINEAR
    assert markets["BTCUSDT"].contract_size == 1.0
    assert catalog().weight_limit_per_minute == 6000  # rateLimits REQUEST_WEIGHT / 1 MINUTE


def test_golden_btcusdt_linear_base_units() -> None:
    parsed = parse_btcusdt_only()
    btc = market(parsed, "BTCUSDT")
    # openInterest "10659.509" is BTC (fapi contracts are 1 base unit):
    # oi_base = 10659.509 BTC; oi_usd = 10659.509 × markPrice 11793.63104562 = 125,714,316.2734658 USD
    assert btc.base == "BTC"
    assert btc.oi_base == pytest.approx(10659.509, rel=1e-12)
    assert btc.oi_usd == pytest.approx(125_714_316.27, abs=0.01)
    assert btc.price_usd == pytest.approx(11793.63104562)


def test_open_interest_statistics_confirm_base_units() -> None:
    # openInterestHist reports base and USD side by side: USD / base = a BTC price (7,379.61),
    # so sumOpenInterest (like openInterest) is in BTC, not contracts or USD.
    first = fixture("binance", "openInterestHist.json")[0]  # type: ignore[index]
    implied_price = float(first["sumOpenInterestValue"]) / float(first["sumOpenInterest"])
    assert implied_price == pytest.approx(7379.61, abs=0.01)


def test_golden_1000pepe_bundle_factor() -> None:
    # No recorded 1000PEPE response exists: the rows take the recorded ETHUSDT shape, with
    # illustrative numbers. openInterest 2,000,000 "1000PEPE" units at markPrice 0.0045 USD per 1000 PEPE:
    # oi_base = 2,000,000 × 1000 = 2,000,000,000 PEPE; oi_usd = 2,000,000 × 0.0045 = 9,000 USD.
    info = copy.deepcopy(EXCHANGE_INFO)
    row = info["symbols"][1]  # type: ignore[index]
    row.update(symbol="1000PEPEUSDT", pair="1000PEPEUSDT", baseAsset="1000PEPE")
    pepe_catalog = binance.SPEC.parse_catalog(Bodies({"exchangeInfo": (info,)}))
    parsed = binance.parse(
        pepe_catalog,
        cycle(
            pepe_catalog,
            {"1000PEPEUSDT": {"openInterest": "2000000", "symbol": "1000PEPEUSDT", "time": 1589437530011}},
            [{"symbol": "1000PEPEUSDT", "markPrice": "0.0045000", "time": 1597370495002}],
        ),
    )
    pepe = market(parsed, "1000PEPEUSDT")
    assert pepe.base == "PEPE"
    assert pepe.oi_base == pytest.approx(2_000_000_000.0)
    assert pepe.oi_usd == pytest.approx(9_000.0)
    assert pepe.price_usd == pytest.approx(0.0000045)  # per PEPE, comparable across venues


def test_per_symbol_requests_are_paced_and_optional() -> None:
    requests = binance.SPEC.cycle_requests(catalog())
    assert [r.key for r in requests] == ["premiumIndex", "oi:BTCUSDT", "oi:ETHUSDT"]
    assert requests[0].weight == 10 and not requests[0].optional
    assert all(r.optional and r.weight == 1 and r.params == (("symbol", r.key[3:]),) for r in requests[1:])
    assert binance.SPEC.pacing is not None
    assert binance.SPEC.pacing.used_weight_header == "X-MBX-USED-WEIGHT-1M"


def test_failed_symbol_request_skips_only_that_market() -> None:
    parsed = parse_btcusdt_only()
    assert [m.venue_symbol for m in parsed.markets] == ["BTCUSDT"]  # ETHUSDT's body is missing


def test_drift_missing_open_interest_field() -> None:
    with pytest.raises(SchemaDrift, match="openInterest"):
        binance.parse(
            catalog(),
            cycle(
                catalog(),
                {"BTCUSDT": {"symbol": "BTCUSDT", "time": 1}},
                fixture("binance", "premiumIndex.json"),
            ),
        )


@pytest.mark.parametrize("bad", ["NaN", "-5", "abc", "1e300"])
def test_bad_numbers_skip_the_row(bad: str) -> None:
    with pytest.raises(MalformedResponse, match="rows skipped"):
        binance.parse(
            catalog(),
            cycle(
                catalog(),
                {"BTCUSDT": {"openInterest": bad, "symbol": "BTCUSDT", "time": 1}},
                fixture("binance", "premiumIndex.json"),
            ),
        )


def test_error_body_is_rejected() -> None:
    with pytest.raises(Exception, match="-1121"):
        binance.SPEC.check_envelope({"code": -1121, "msg": "Invalid symbol."})


# --- provenance and funding ---------------------------------------------------------------------


def with_eth_at_4h() -> list[dict[str, object]]:
    """The documented fundingInfo array plus an ETHUSDT row of the same shape at 4 h."""
    rows = copy.deepcopy(FUNDING_INFO)
    assert isinstance(rows, list)
    return [*rows, {**rows[0], "symbol": "ETHUSDT", "fundingIntervalHours": 4}]


def parse_both(funding_info: object | None, premium: list[dict[str, object]]) -> ParsedPoll:
    cat = catalog(funding_info)
    oi = fixture("binance", "openInterest.json")
    eth_oi = {**oi, "symbol": "ETHUSDT"}  # type: ignore[dict-item]
    return binance.parse(cat, cycle(cat, {"BTCUSDT": oi, "ETHUSDT": eth_oi}, premium))


def premium_rows(**eth: object) -> list[dict[str, object]]:
    """The recorded premiumIndex row (BTCUSDT) and an ETHUSDT row of the same shape."""
    btc = fixture("binance", "premiumIndex.json")[0]  # type: ignore[index]
    return [btc, {**btc, "symbol": "ETHUSDT", "markPrice": "400.5", "lastFundingRate": "-0.00012000", **eth}]


def test_catalog_requests_funding_info_hourly_and_optionally() -> None:
    keys = [(r.key, r.path, r.weight, r.optional) for r in binance.SPEC.catalog_requests]
    assert keys == [
        ("exchangeInfo", "/fapi/v1/exchangeInfo", 1, False),
        ("fundingInfo", "/fapi/v1/fundingInfo", 0, True),  # weight 0 per the doc
    ]


def test_funding_intervals_from_funding_info() -> None:
    cat = catalog(with_eth_at_4h())
    assert isinstance(cat, Catalog)
    # BTCUSDT is not listed (not adjusted): Binance's standard 8 h; ETHUSDT is listed at 4 h.
    # BLZUSDT is listed but not in the catalog: ignored.
    assert dict(cat.funding_interval_h) == {"BTCUSDT": 8.0, "ETHUSDT": 4.0}


def test_golden_provenance_btcusdt() -> None:
    btc = market(parse_both(FUNDING_INFO, premium_rows()), "BTCUSDT")
    assert btc.raw == Raw(field="openInterest", value="10659.509", unit=RawUnit.BASE)  # verbatim
    assert btc.convention is Convention.ONE_SIDED
    assert btc.price_kind is PriceKind.MARK and btc.venue_price == pytest.approx(11793.63104562)
    assert btc.kind is ContractKind.LINEAR
    assert btc.margin_asset == "USDT" and btc.margin_type is MarginType.STABLECOIN  # marginAsset
    assert btc.contract_size is None  # the raw figure is base units, not contracts


def test_golden_funding_standard_8h() -> None:
    btc = market(parse_both(FUNDING_INFO, premium_rows()), "BTCUSDT")
    assert btc.funding is not None
    # lastFundingRate "0.00038246" per 8 h (BTCUSDT is not in fundingInfo):
    # rate_8h = 0.00038246 × 8 / 8 = 0.00038246; apr = 0.00038246 × 8760 / 8 = 0.4187937
    assert btc.funding.rate == 0.00038246
    assert btc.funding.interval_hours == 8.0
    assert btc.funding.rate_8h == pytest.approx(0.00038246, rel=1e-12)
    assert btc.funding.apr == pytest.approx(0.4187937, rel=1e-12)
    assert btc.funding.next_at_ms == 1597392000000  # nextFundingTime
    assert btc.funding.short_rate is None


def test_golden_funding_adjusted_4h() -> None:
    eth = market(parse_both(with_eth_at_4h(), premium_rows()), "ETHUSDT")
    assert eth.funding is not None
    # lastFundingRate "-0.00012000" per 4 h (fundingInfo fundingIntervalHours 4): shorts pay
    # rate_8h = -0.00012 × 8 / 4 = -0.00024; apr = -0.00012 × 8760 / 4 = -0.2628
    assert eth.funding.interval_hours == 4.0
    assert eth.funding.rate_8h == pytest.approx(-0.00024, rel=1e-12)
    assert eth.funding.apr == pytest.approx(-0.2628, rel=1e-12)


def test_failed_funding_info_gives_no_funding_and_the_same_oi() -> None:
    # Without fundingInfo no symbol's interval is known (any may be adjusted): funding None everywhere.
    with_info = parse_both(FUNDING_INFO, premium_rows())
    without = parse_both(None, premium_rows())
    assert [m.funding for m in without.markets] == [None, None]
    figures = [(m.oi_usd, m.oi_base) for m in with_info.markets]
    assert [(m.oi_usd, m.oi_base) for m in without.markets] == figures


@pytest.mark.parametrize("body", [{"code": -1000, "msg": "x"}, [1, 2], "oops"])
def test_funding_info_not_the_documented_array_gives_no_interval(body: object) -> None:
    cat = catalog(body)
    assert sorted(cat.markets) == ["BTCUSDT", "ETHUSDT"]  # the catalog itself is unharmed
    assert isinstance(cat, Catalog) and dict(cat.funding_interval_h) == {}


@pytest.mark.parametrize("hours", ["abc", None, "NaN"])
def test_listed_symbol_with_unusable_interval_is_unknown_not_8h(hours: object) -> None:
    info = [*with_eth_at_4h()[:1], {**with_eth_at_4h()[1], "fundingIntervalHours": hours}]
    eth = market(parse_both(info, premium_rows()), "ETHUSDT")
    assert eth.funding is None
    assert eth.oi_usd == pytest.approx(10659.509 * 400.5)


@pytest.mark.parametrize("rate", ["", "abc", "NaN", None, [1]])
def test_malformed_funding_rate_gives_none_with_oi_unchanged(rate: object) -> None:
    good = market(parse_both(with_eth_at_4h(), premium_rows()), "ETHUSDT")
    bad = market(parse_both(with_eth_at_4h(), premium_rows(lastFundingRate=rate)), "ETHUSDT")
    assert good.funding is not None and bad.funding is None
    assert (bad.oi_usd, bad.oi_base, bad.raw) == (good.oi_usd, good.oi_base, good.raw)


def test_missing_funding_rate_gives_none_with_oi_unchanged() -> None:
    premium = premium_rows()
    del premium[1]["lastFundingRate"]
    eth = market(parse_both(with_eth_at_4h(), premium), "ETHUSDT")
    assert eth.funding is None
    # oi_usd = openInterest 10659.509 × markPrice 400.5 = 4,269,133.3545
    assert eth.oi_usd == pytest.approx(4_269_133.3545)


@pytest.mark.parametrize("next_time", ["soon", 12345, None])
def test_bad_next_funding_time_drops_only_the_time(next_time: object) -> None:
    eth = market(parse_both(with_eth_at_4h(), premium_rows(nextFundingTime=next_time)), "ETHUSDT")
    assert eth.funding is not None and eth.funding.next_at_ms is None
    assert eth.funding.rate == -0.00012


async def test_poll_survives_a_failed_funding_request() -> None:
    healthy = await poll_with_failing(binance.SPEC, sim_binance.USDM, None)
    failed = await poll_with_failing(binance.SPEC, sim_binance.USDM, "/fapi/v1/fundingInfo")
    assert all(m.funding is not None for m in healthy.markets)
    assert failed.markets and all(m.funding is None for m in failed.markets)
    # the same seeded world: the same OI, market by market
    assert [(m.venue_symbol, m.oi_usd) for m in failed.markets] == [
        (m.venue_symbol, m.oi_usd) for m in healthy.markets
    ]
