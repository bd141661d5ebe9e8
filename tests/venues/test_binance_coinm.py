"""Binance COIN-M: inverse contracts of contractSize USD, from the recorded doc examples."""

from __future__ import annotations

import pytest

from server.core.model import ContractKind, Convention, MarginType, MarketOI, PriceKind, Raw, RawUnit
from server.venues import binance_coinm
from server.venues.base import Bodies, Catalog
from tests.support import fixture, market

FUNDING_INFO = fixture("binance_coinm", "fundingInfo.json")  # the doc example: BTCUSD_PERP at 8 h
PREMIUM = fixture("binance_coinm", "premiumIndex.json")


def catalog(funding_info: object | None = None) -> Catalog:
    pages: dict[str, tuple[object, ...]] = {"exchangeInfo": (fixture("binance_coinm", "exchangeInfo.json"),)}
    if funding_info is not None:
        pages["fundingInfo"] = (funding_info,)
    return binance_coinm.SPEC.parse_catalog(Bodies(pages))


def parse_btc(funding_info: object | None, premium: object) -> MarketOI:
    parsed = binance_coinm.SPEC.parse(
        catalog(funding_info),
        Bodies(
            {
                "premiumIndex": (premium,),
                "oi:BTCUSD_PERP": (fixture("binance_coinm", "openInterest_BTCUSD_PERP.json"),),
            }
        ),
    )
    return market(parsed, "BTCUSD_PERP")


def test_catalog_keeps_the_perpetual_with_its_contract_size() -> None:
    markets = catalog().markets
    assert list(markets) == ["BTCUSD_PERP"]  # BTCUSD_200925 is a quarterly
    assert markets["BTCUSD_PERP"].kind is ContractKind.INVERSE
    assert markets["BTCUSD_PERP"].contract_size == 100.0  # exchangeInfo contractSize, USD per contract


def test_golden_btcusd_perp_inverse() -> None:
    parsed = binance_coinm.SPEC.parse(
        catalog(),
        Bodies(
            {
                "premiumIndex": (fixture("binance_coinm", "premiumIndex.json"),),
                "oi:BTCUSD_PERP": (fixture("binance_coinm", "openInterest_BTCUSD_PERP.json"),),
            }
        ),
    )
    btc = market(parsed, "BTCUSD_PERP")
    # oi_usd = openInterest 15004 contracts × contractSize 100 USD = 1,500,400 USD
    # oi_base = 1,500,400 USD / markPrice 68,234.2 = 21.988973271 BTC
    assert btc.oi_usd == pytest.approx(1_500_400.0)
    assert btc.oi_base == pytest.approx(21.988973271, rel=1e-9)


def test_inverse_rule_is_not_the_linear_rule() -> None:
    # The same contract count read as linear would be 15004 BTC: the golden figure above must differ.
    oi = fixture("binance_coinm", "openInterest_ETHUSD_PERP.json")
    assert oi["openInterest"] == "26542436"  # type: ignore[index]
    assert oi["contractType"] == "PERPETUAL"  # type: ignore[index]


def test_catalog_requests_dapi_funding_info_optionally() -> None:
    assert [(r.key, r.path, r.weight, r.optional) for r in binance_coinm.SPEC.catalog_requests] == [
        ("exchangeInfo", "/dapi/v1/exchangeInfo", 1, False),
        ("fundingInfo", "/dapi/v1/fundingInfo", 0, True),
    ]


def test_golden_provenance_btcusd_perp() -> None:
    btc = parse_btc(FUNDING_INFO, PREMIUM)
    assert btc.raw == Raw(field="openInterest", value="15004", unit=RawUnit.CONTRACTS)  # verbatim
    assert btc.contract_size == 100.0  # USD per contract, from exchangeInfo contractSize
    assert btc.convention is Convention.ONE_SIDED
    assert btc.price_kind is PriceKind.MARK and btc.venue_price == pytest.approx(68234.2)
    assert btc.kind is ContractKind.INVERSE
    assert btc.margin_asset == "BTC" and btc.margin_type is MarginType.COIN  # marginAsset: the coin


def test_golden_funding_listed_at_8h() -> None:
    # The doc example lists BTCUSD_PERP in fundingInfo with fundingIntervalHours 8 (its cap adjusted).
    # lastFundingRate "0.00010000" per 8 h: rate_8h = 0.0001 × 8 / 8 = 0.0001;
    # apr = 0.0001 × 8760 / 8 = 0.1095
    btc = parse_btc(FUNDING_INFO, PREMIUM)
    assert btc.funding is not None
    assert btc.funding.rate == 0.0001 and btc.funding.interval_hours == 8.0
    assert btc.funding.rate_8h == pytest.approx(0.0001, rel=1e-12)
    assert btc.funding.apr == pytest.approx(0.1095, rel=1e-12)
    assert btc.funding.next_at_ms == 1597392000000


def test_golden_funding_adjusted_to_4h() -> None:
    # The same row at fundingIntervalHours 4:
    # rate_8h = 0.0001 × 8 / 4 = 0.0002; apr = 0.0001 × 8760 / 4 = 0.219
    info = [{**FUNDING_INFO[0], "fundingIntervalHours": 4}]  # type: ignore[index]
    btc = parse_btc(info, PREMIUM)
    assert btc.funding is not None and btc.funding.interval_hours == 4.0
    assert btc.funding.rate_8h == pytest.approx(0.0002, rel=1e-12)
    assert btc.funding.apr == pytest.approx(0.219, rel=1e-12)


def test_no_funding_info_means_unknown_interval() -> None:
    btc = parse_btc(None, PREMIUM)
    assert btc.funding is None
    assert btc.oi_usd == pytest.approx(1_500_400.0)  # OI unchanged


@pytest.mark.parametrize("rate", [None, "x", ""])
def test_missing_or_malformed_rate_gives_no_funding(rate: object) -> None:
    row = dict(PREMIUM[0])  # type: ignore[index]
    if rate is None:
        del row["lastFundingRate"]
    else:
        row["lastFundingRate"] = rate
    btc = parse_btc(FUNDING_INFO, [row])
    assert btc.funding is None
    assert btc.oi_usd == pytest.approx(1_500_400.0)
    assert btc.oi_base == pytest.approx(21.988973271, rel=1e-9)
