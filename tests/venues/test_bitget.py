"""Bitget: holdingAmount is base coin in all three product types (USDT-M, USDC-M, coin-M), one-sided."""

from __future__ import annotations

import copy
import math

import pytest

from server.core.errors import MalformedResponse, SchemaDrift, VenueRejected
from server.core.model import ContractKind, Convention, PriceKind, Raw, RawUnit
from server.sim.render import bitget as bitget_sim
from server.venues import bitget
from server.venues.base import Bodies, Catalog
from tests.support import SHARED_EXCHANGES, assert_sim_contract, fixture, market, recorded_samples

PRODUCT_FILES = {
    "USDT-FUTURES": "usdt_futures",
    "USDC-FUTURES": "usdc_futures",
    "COIN-FUTURES": "coin_futures",
}
SAMPLES = SHARED_EXCHANGES / "bitget" / "samples"


def contracts(product_type: str) -> object:
    return fixture("bitget", f"contracts_{PRODUCT_FILES[product_type]}.json")


def tickers(product_type: str) -> object:
    return fixture("bitget", f"tickers_{PRODUCT_FILES[product_type]}.json")


def catalog(**override: object) -> Catalog:
    return bitget.parse_catalog(
        Bodies({f"contracts:{pt}": (override.get(pt, contracts(pt)),) for pt in PRODUCT_FILES})
    )


def cycle(**override: object) -> Bodies:
    return Bodies({f"tickers:{pt}": (override.get(pt, tickers(pt)),) for pt in PRODUCT_FILES})


def test_catalog_three_books_one_base() -> None:
    markets = catalog().markets
    assert sorted(markets) == ["BTCPERP", "BTCUSD", "BTCUSDT"]  # ETHUSD_231229 is a delivery
    assert {m.base for m in markets.values()} == {"BTC"}
    assert markets["BTCUSDT"].kind is ContractKind.LINEAR and markets["BTCUSDT"].settle == "USDT"
    assert markets["BTCPERP"].kind is ContractKind.LINEAR and markets["BTCPERP"].settle == "USDC"
    assert markets["BTCUSD"].kind is ContractKind.INVERSE and markets["BTCUSD"].settle == "BTC"


def test_golden_usdt_linear_base_coin() -> None:
    btc = market(bitget.parse(catalog(), cycle()), "BTCUSDT")
    # live 2025-06-19 row: holdingAmount 7452.6421 is BTC, one side, used as is (no contract size, no /2):
    # oi_usd = 7452.6421 BTC × markPrice 104,824.2 USDT = 781,217,246.01882 USD
    assert btc.base == "BTC"
    assert btc.oi_base == pytest.approx(7452.6421, rel=1e-12)
    assert btc.oi_usd == pytest.approx(781_217_246.01882, abs=0.001)
    assert btc.price_usd == pytest.approx(104_824.2)


def test_golden_usdc_linear_base_coin() -> None:
    btc = market(bitget.parse(catalog(), cycle()), "BTCPERP")
    # oi_usd = 301.5 BTC × markPrice 104,824.2 USDC = 31,604,496.3 USD
    assert btc.base == "BTC"
    assert btc.oi_base == pytest.approx(301.5, rel=1e-12)
    assert btc.oi_usd == pytest.approx(31_604_496.3, abs=0.001)


def test_golden_coin_margined_holding_is_base_coin_not_usd() -> None:
    btc = market(bitget.parse(catalog(), cycle()), "BTCUSD")
    # coin-M too: holdingAmount 125.6844 is BTC (not USD contracts):
    # oi_usd = 125.6844 BTC × markPrice 12,345 USD (doc placeholder) = 1,551,573.918 USD
    assert btc.oi_base == pytest.approx(125.6844, rel=1e-12)
    assert btc.oi_usd == pytest.approx(1_551_573.918, abs=0.001)


def test_three_books_add_up_under_btc() -> None:
    parsed = bitget.parse(catalog(), cycle())
    assert sorted(m.venue_symbol for m in parsed.markets) == ["BTCPERP", "BTCUSD", "BTCUSDT"]
    # 7452.6421 + 301.5 + 125.6844 = 7879.8265 BTC (ETHUSD_231229, a delivery, is not counted)
    assert math.fsum(m.oi_base or 0.0 for m in parsed.markets) == pytest.approx(7879.8265, rel=1e-12)
    assert parsed.skipped == ()


def test_golden_1000_prefixed_base_coin() -> None:
    # No recorded 1000-prefixed Bitget market: the recorded BTCUSDT rows with baseCoin 1000BONK and
    # illustrative numbers. holdingAmount 2,500,000 units of "1000BONK" at markPrice 0.02 USDT per 1000 BONK:
    # oi_base = 2,500,000 × 1000 = 2,500,000,000 BONK; oi_usd = 2,500,000 × 0.02 = 50,000 USD
    usdt_contracts = copy.deepcopy(contracts("USDT-FUTURES"))
    usdt_contracts["data"][0].update(symbol="1000BONKUSDT", baseCoin="1000BONK")  # type: ignore[index]
    usdt_tickers = copy.deepcopy(tickers("USDT-FUTURES"))
    usdt_tickers["data"][0].update(symbol="1000BONKUSDT", holdingAmount="2500000", markPrice="0.02")  # type: ignore[index]
    parsed = bitget.parse(
        catalog(**{"USDT-FUTURES": usdt_contracts}), cycle(**{"USDT-FUTURES": usdt_tickers})
    )
    bonk = market(parsed, "1000BONKUSDT")
    assert bonk.base == "BONK"
    assert bonk.oi_base == pytest.approx(2_500_000_000.0)
    assert bonk.oi_usd == pytest.approx(50_000.0)
    assert bonk.price_usd == pytest.approx(0.00002)


def test_mark_price_zero_falls_back_to_index_price() -> None:
    # reference page: 125.6844 BTC × indexPrice 29,132.353333 = 3,661,482.3492461 USD
    coin = copy.deepcopy(tickers("COIN-FUTURES"))
    coin["data"][0]["markPrice"] = "0"  # type: ignore[index]
    btc = market(bitget.parse(catalog(), cycle(**{"COIN-FUTURES": coin})), "BTCUSD")
    assert btc.oi_usd == pytest.approx(3_661_482.3492461, abs=0.001)


def test_skipped_contracts() -> None:
    usdt = copy.deepcopy(contracts("USDT-FUTURES"))
    row = usdt["data"][0]  # type: ignore[index]
    usdt["data"] = [  # type: ignore[index]
        row,
        {**row, "symbol": "NEWUSDT", "symbolStatus": "listed"},  # pre-launch
        {**row, "symbol": "OLDUSDT", "symbolStatus": "off"},  # delisted
        {**row, "symbol": "AAPLUSDT", "isRwa": "YES"},  # tokenised stock
        {**row, "symbol": "ETHUSDT_260626", "symbolType": "delivery"},
        {**row, "symbol": "LTCUSDT", "symbolStatus": "limit_open"},  # close-only: positions still count
    ]
    assert sorted(catalog(**{"USDT-FUTURES": usdt}).markets) == ["BTCPERP", "BTCUSD", "BTCUSDT", "LTCUSDT"]


def test_zero_holding_is_not_a_market() -> None:
    usdt = copy.deepcopy(tickers("USDT-FUTURES"))
    usdt["data"][0]["holdingAmount"] = "0"  # type: ignore[index]
    parsed = bitget.parse(catalog(), cycle(**{"USDT-FUTURES": usdt}))
    assert "BTCUSDT" not in {m.venue_symbol for m in parsed.markets} and parsed.skipped == ()


@pytest.mark.parametrize("bad", ["NaN", "-5", "abc", "1e300"])
def test_bad_holding_skips_the_row(bad: str) -> None:
    usdt = copy.deepcopy(tickers("USDT-FUTURES"))
    usdt["data"][0]["holdingAmount"] = bad  # type: ignore[index]
    parsed = bitget.parse(catalog(), cycle(**{"USDT-FUTURES": usdt}))
    assert sorted(m.venue_symbol for m in parsed.markets) == ["BTCPERP", "BTCUSD"]
    assert len(parsed.skipped) == 1 and parsed.skipped[0].startswith("BTCUSDT")


def test_no_price_at_all_skips_the_row() -> None:
    coin = copy.deepcopy(tickers("COIN-FUTURES"))
    coin["data"][0].update(markPrice="0", indexPrice="", lastPr="0")  # type: ignore[index]
    parsed = bitget.parse(catalog(), cycle(**{"COIN-FUTURES": coin}))
    assert parsed.skipped and parsed.skipped[0].startswith("BTCUSD:")


@pytest.mark.parametrize("field", ["holdingAmount", "markPrice", "symbol"])
def test_drift_missing_ticker_field(field: str) -> None:
    usdt = copy.deepcopy(tickers("USDT-FUTURES"))
    del usdt["data"][0][field]  # type: ignore[index]
    with pytest.raises(SchemaDrift, match=field):
        bitget.parse(catalog(), cycle(**{"USDT-FUTURES": usdt}))


def test_drift_missing_base_coin() -> None:
    usdt = copy.deepcopy(contracts("USDT-FUTURES"))
    del usdt["data"][0]["baseCoin"]  # type: ignore[index]
    with pytest.raises(SchemaDrift, match="baseCoin"):
        catalog(**{"USDT-FUTURES": usdt})


def test_no_markets_at_all_is_malformed() -> None:
    empty = {"code": "00000", "msg": "success", "requestTime": 1, "data": []}
    with pytest.raises(MalformedResponse):
        bitget.parse(catalog(), cycle(**dict.fromkeys(PRODUCT_FILES, empty)))


def test_envelope_codes() -> None:
    bitget.check_envelope(tickers("COIN-FUTURES"))
    with pytest.raises(VenueRejected, match="40034"):
        bitget.check_envelope({"code": "40034", "msg": "Parameter verification failed", "data": None})
    with pytest.raises(SchemaDrift):
        bitget.check_envelope({"status": "ok"})


def test_requests_one_bulk_call_per_product_type() -> None:
    cycle_requests = bitget.SPEC.cycle_requests(catalog())
    assert [(r.path, r.params) for r in cycle_requests] == [
        ("/api/v2/mix/market/tickers", (("productType", pt),)) for pt in PRODUCT_FILES
    ]
    assert [r.params for r in bitget.SPEC.catalog_requests] == [
        (("productType", pt),) for pt in PRODUCT_FILES
    ]
    assert bitget.SPEC.pacing is None  # bulk endpoints, 20 req/s/IP


@pytest.mark.skipif(not SAMPLES.exists(), reason="shared/exchanges not on this machine")
def test_every_recorded_sample_parses() -> None:
    """contracts → catalog, tickers (all-symbols and the single-symbol form) → parse; every sample,
    including the per-symbol endpoints the adapter does not use, passes the envelope check."""
    bodies = recorded_samples("bitget")
    assert len(bodies) == 5
    for body in bodies.values():
        bitget.check_envelope(body)
    sample_catalog = catalog(**{"USDT-FUTURES": bodies["contracts_usdt_futures.json"]})
    empty = {"code": "00000", "msg": "success", "requestTime": 1, "data": []}
    for name, product_type, symbols in (
        ("tickers_coin_futures.json", "COIN-FUTURES", ["BTCUSD"]),
        ("ticker_usdt_futures_BTCUSDT.json", "USDT-FUTURES", ["BTCUSDT"]),
    ):
        others = {pt: empty for pt in PRODUCT_FILES if pt != product_type}
        parsed = bitget.parse(sample_catalog, cycle(**{product_type: bodies[name]}, **others))
        assert [m.venue_symbol for m in parsed.markets] == symbols and parsed.skipped == ()


async def test_sim_contract() -> None:
    await assert_sim_contract(bitget.SPEC, bitget_sim.SIM)


# --- provenance and funding (issue 12) ----------------------------------------------------------


def test_golden_provenance() -> None:
    parsed = bitget.parse(catalog(), cycle())
    btc = market(parsed, "BTCUSDT")
    assert btc.raw == Raw(field="holdingAmount", value="7452.6421", unit=RawUnit.BASE)  # verbatim
    assert btc.convention is Convention.ONE_SIDED
    assert btc.price_kind is PriceKind.MARK
    assert btc.margin_asset == "USDT" and btc.contract_size is None  # raw counts coins, not contracts
    assert market(parsed, "BTCPERP").margin_asset == "USDC"
    coin = market(parsed, "BTCUSD")
    assert coin.margin_asset == "BTC" and coin.kind is ContractKind.INVERSE
    assert coin.raw == Raw(field="holdingAmount", value="125.6844", unit=RawUnit.BASE)


def test_price_kind_names_the_fallback_used() -> None:
    rows = copy.deepcopy(tickers("USDT-FUTURES"))
    rows["data"][0]["markPrice"] = "0"  # type: ignore[index]
    assert market(bitget.parse(catalog(), cycle(**{"USDT-FUTURES": rows})), "BTCUSDT").price_kind is (
        PriceKind.INDEX
    )


def test_golden_funding_8h() -> None:
    funding = market(bitget.parse(catalog(), cycle()), "BTCUSDT").funding
    # tickers fundingRate "-0.000014" per contracts fundInterval "8" (hours), as sent:
    # rate_8h = -0.000014 × 8 / 8 = -0.000014; apr = -0.000014 × 8760 / 8 = -0.01533
    assert funding is not None
    assert funding.rate == -0.000014 and funding.interval_hours == 8.0 and funding.next_at_ms is None
    assert funding.rate_8h == pytest.approx(-0.000014, abs=1e-15)
    assert funding.apr == pytest.approx(-0.01533, abs=1e-12)


def test_golden_funding_per_symbol_interval() -> None:
    rows = copy.deepcopy(contracts("COIN-FUTURES"))
    rows["data"][0]["fundInterval"] = "4"  # type: ignore[index]  # BTCUSD settles every 4 h
    funding = market(bitget.parse(catalog(**{"COIN-FUTURES": rows}), cycle()), "BTCUSD").funding
    # recorded coin-M fundingRate "-0.0007" per 4 h: rate_8h = -0.0007 × 8 / 4 = -0.0014;
    # apr = -0.0007 × 8760 / 4 = -1.533
    assert funding is not None and funding.interval_hours == 4.0
    assert funding.rate_8h == pytest.approx(-0.0014, abs=1e-15)
    assert funding.apr == pytest.approx(-1.533, abs=1e-12)


@pytest.mark.parametrize("bad", [None, "", "abc", "NaN"])
def test_missing_or_malformed_funding_rate_gives_none_oi_unchanged(bad: object) -> None:
    rows = copy.deepcopy(tickers("USDT-FUTURES"))
    row = rows["data"][0]  # type: ignore[index]
    if bad is None:
        del row["fundingRate"]
    else:
        row["fundingRate"] = bad
    btc = market(bitget.parse(catalog(), cycle(**{"USDT-FUTURES": rows})), "BTCUSDT")
    assert btc.funding is None
    assert btc.oi_usd == pytest.approx(781_217_246.01882, abs=0.001)


@pytest.mark.parametrize("bad", [None, "", "0", "-8", "eight"])
def test_unknown_interval_gives_no_funding(bad: object) -> None:
    rows = copy.deepcopy(contracts("USDT-FUTURES"))
    row = rows["data"][0]  # type: ignore[index]
    if bad is None:
        del row["fundInterval"]
    else:
        row["fundInterval"] = bad
    btc = market(bitget.parse(catalog(**{"USDT-FUTURES": rows}), cycle()), "BTCUSDT")
    assert btc.funding is None  # never a guessed 8 h
    assert btc.oi_usd == pytest.approx(781_217_246.01882, abs=0.001)
