"""Binance USD-M: golden figures from the recorded doc examples, skipping rules, drift."""

from __future__ import annotations

import copy

import pytest

from server.core.errors import MalformedResponse, SchemaDrift
from server.core.model import ContractKind, ParsedPoll
from server.venues import binance
from server.venues.base import Bodies, Catalog
from tests.support import fixture, market

EXCHANGE_INFO = fixture("binance", "exchangeInfo.json")


def catalog() -> Catalog:
    return binance.SPEC.parse_catalog(Bodies({"exchangeInfo": (EXCHANGE_INFO,)}))


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
