"""KuCoin Futures: lots × multiplier (linear) or lots of 1 USD (inverse), one-sided, from one bulk call."""

from __future__ import annotations

from typing import Any

import pytest

from server.core.errors import MalformedResponse, SchemaDrift, VenueRateLimited, VenueRejected
from server.core.model import ContractKind, Convention, PriceKind, Raw, RawUnit
from server.sim.render import kucoin as kucoin_sim
from server.venues import kucoin
from server.venues.base import Bodies, Catalog, obj
from tests.support import SHARED_EXCHANGES, assert_sim_contract, fixture, market, pages, recorded_samples

SAMPLES = SHARED_EXCHANGES / "kucoin" / "samples"


def xbtusdtm() -> dict[str, Any]:
    row: dict[str, Any] = fixture("kucoin", "contracts_active.json")["data"][0]  # type: ignore[index]
    return row


def xbtusdm() -> dict[str, Any]:
    row: dict[str, Any] = fixture("kucoin", "contracts_XBTUSDM.json")["data"]  # type: ignore[index]
    return row


def active(*contracts: dict[str, Any]) -> Bodies:
    return pages({"contracts": {"code": "200000", "data": list(contracts)}})


def parse(*contracts: dict[str, Any]) -> list[str]:
    return sorted(m.venue_symbol for m in kucoin.parse(Catalog(), active(*contracts)).markets)


def test_golden_linear_usdt() -> None:
    parsed = kucoin.parse(Catalog(), pages({"contracts": fixture("kucoin", "contracts_active.json")}))
    btc = market(parsed, "XBTUSDTM")
    assert btc.base == "BTC"
    # oi_base = openInterest 6,748,176 lots × multiplier 0.001 BTC = 6,748.176 BTC (one side, not halved)
    assert btc.oi_base == pytest.approx(6748.176, rel=1e-12)
    # oi_usd = 6,748.176 BTC × markPrice 86,378.69 = 582,898,602.76944 USD
    assert btc.oi_usd == pytest.approx(582_898_602.76944, abs=0.001)
    assert btc.price_usd == 86378.69


def test_golden_inverse() -> None:
    btc = market(kucoin.parse(Catalog(), active(xbtusdtm(), xbtusdm())), "XBTUSDM")
    assert btc.base == "BTC"
    # oi_usd = openInterest 61,725,904 lots × |multiplier -1.0| USD = 61,725,904 USD
    assert btc.oi_usd == pytest.approx(61_725_904.0, rel=1e-12)
    # oi_base = 61,725,904 USD / markPrice 68,336.7 = 903.26141004760 BTC
    assert btc.oi_base == pytest.approx(903.26141004760, rel=1e-11)


def test_golden_usdc_book_adds_up_under_btc() -> None:
    usdc = {**xbtusdtm(), "symbol": "XBTUSDCM", "quoteCurrency": "USDC", "settleCurrency": "USDC"}
    usdc["openInterest"] = "150000"
    book = market(kucoin.parse(Catalog(), active(xbtusdtm(), usdc)), "XBTUSDCM")
    # oi_base = 150,000 lots × 0.001 = 150 BTC; oi_usd = 150 × 86,378.69 = 12,956,803.5 USD
    assert book.base == "BTC"
    assert book.oi_base == pytest.approx(150.0, rel=1e-12)
    assert book.oi_usd == pytest.approx(12_956_803.5, abs=0.001)


@pytest.mark.parametrize("base_currency", ["1000BONK", "BONK"])
def test_golden_1000_prefixed(base_currency: str) -> None:
    bonk = {**xbtusdtm(), "symbol": "1000BONKUSDTM", "baseCurrency": base_currency, "multiplier": 100}
    bonk.update(openInterest="2500000", markPrice=0.0185)
    parsed = market(kucoin.parse(Catalog(), active(xbtusdtm(), bonk)), "1000BONKUSDTM")
    assert parsed.base == "BONK"
    # venue units = 2,500,000 lots × 100 = 250,000,000 (1000BONK);
    # oi_base = 250,000,000 × 1000 = 250,000,000,000 BONK
    assert parsed.oi_base == pytest.approx(250_000_000_000.0, rel=1e-12)
    # oi_usd = 250,000,000 × markPrice 0.0185 USD per 1000BONK = 4,625,000 USD (no factor)
    assert parsed.oi_usd == pytest.approx(4_625_000.0, rel=1e-12)
    # price of one BONK = 0.0185 / 1000 = 0.0000185 USD
    assert parsed.price_usd == pytest.approx(0.0000185, rel=1e-12)


def test_golden_funding_8h() -> None:
    btc = market(kucoin.parse(Catalog(), active(xbtusdtm(), xbtusdm())), "XBTUSDTM")
    assert btc.funding is not None
    # fundingFeeRate 0.000052 per fundingRateGranularity 28,800,000 ms = 8 h
    assert btc.funding.rate == 0.000052 and btc.funding.interval_hours == 8.0
    # rate_8h = 0.000052 × 8 / 8 = 0.000052; apr = 0.000052 × 8760 / 8 = 0.05694
    assert btc.funding.rate_8h == pytest.approx(0.000052, rel=1e-12)
    assert btc.funding.apr == pytest.approx(0.05694, rel=1e-12)
    # nextFundingRateTime 17,752,926 is ms remaining, and parse has no clock: no next time
    assert btc.funding.next_at_ms is None and btc.funding.short_rate is None
    inverse = market(kucoin.parse(Catalog(), active(xbtusdtm(), xbtusdm())), "XBTUSDM")
    assert inverse.funding is not None
    # fundingFeeRate 1.75E-4 per 8 h: apr = 0.000175 × 8760 / 8 = 0.191625
    assert inverse.funding.rate == 0.000175 and inverse.funding.apr == pytest.approx(0.191625, rel=1e-12)


def test_golden_funding_4h() -> None:
    row = {**xbtusdtm(), "fundingFeeRate": 0.0001, "fundingRateGranularity": 14400000}
    funding = market(kucoin.parse(Catalog(), active(row)), "XBTUSDTM").funding
    assert funding is not None and funding.interval_hours == 4.0  # 14,400,000 ms / 3,600,000
    # rate 0.0001 per 4 h: rate_8h = 0.0001 × 8 / 4 = 0.0002; apr = 0.0001 × 8760 / 4 = 0.219
    assert funding.rate_8h == pytest.approx(0.0002, rel=1e-12)
    assert funding.apr == pytest.approx(0.219, rel=1e-12)


def test_golden_provenance() -> None:
    parsed = kucoin.parse(Catalog(), active(xbtusdtm(), xbtusdm()))
    linear, inverse = market(parsed, "XBTUSDTM"), market(parsed, "XBTUSDM")
    assert linear.raw == Raw(field="openInterest", value="6748176", unit=RawUnit.CONTRACTS)
    assert inverse.raw == Raw(field="openInterest", value="61725904", unit=RawUnit.CONTRACTS)
    assert linear.convention is inverse.convention is Convention.ONE_SIDED
    assert linear.price_kind is inverse.price_kind is PriceKind.MARK
    assert (linear.kind, linear.margin_asset, linear.contract_size) == (ContractKind.LINEAR, "USDT", 0.001)
    assert (inverse.kind, inverse.margin_asset, inverse.contract_size) == (ContractKind.INVERSE, "XBT", 1.0)
    assert linear.margin_type == "stablecoin" and inverse.margin_type == "coin"
    assert linear.venue_price == 86378.69


@pytest.mark.parametrize("value", [None, "abc", "NaN", [0.0001], "absent"])
def test_missing_or_malformed_funding_rate_gives_no_funding(value: object) -> None:
    row = xbtusdtm()
    if value == "absent":
        del row["fundingFeeRate"]
    else:
        row["fundingFeeRate"] = value
    parsed = kucoin.parse(Catalog(), active(row))
    btc = market(parsed, "XBTUSDTM")
    assert btc.funding is None and not parsed.skipped
    assert btc.oi_base == pytest.approx(6748.176, rel=1e-12)  # the OI reading is untouched
    assert btc.oi_usd == pytest.approx(582_898_602.76944, abs=0.001)


@pytest.mark.parametrize("value", [0, -28800000, None, "8h", "absent"])
def test_unknown_interval_gives_no_funding(value: object) -> None:
    row = xbtusdtm()
    if value == "absent":
        del row["fundingRateGranularity"]
    else:
        row["fundingRateGranularity"] = value
    btc = market(kucoin.parse(Catalog(), active(row)), "XBTUSDTM")
    assert btc.funding is None and btc.oi_base == pytest.approx(6748.176, rel=1e-12)


def test_dated_and_not_open_are_skipped() -> None:
    dated = {**xbtusdtm(), "symbol": "XBTMH26", "type": "FFICSX", "expireDate": 1774598400000}
    rows = [dated] + [
        {**xbtusdtm(), "symbol": f"S{status}USDTM", "status": status}
        for status in ("Init", "Paused", "BeingSettled", "Settled", "Closed", "CancelOnly")
    ]
    assert parse(xbtusdtm(), *rows) == ["XBTUSDTM"]


def test_is_quanto_is_ignored() -> None:
    # isQuanto is deprecated and true on the recorded linear XBTUSDTM: flipping it changes nothing.
    flipped = {**xbtusdtm(), "isQuanto": False}
    assert market(kucoin.parse(Catalog(), active(flipped)), "XBTUSDTM").oi_base == pytest.approx(6748.176)


@pytest.mark.parametrize("value", ["NaN", "-5", "", "1e20"])
def test_bad_open_interest_skips_the_row(value: str) -> None:
    bad = {**xbtusdm(), "openInterest": value}
    parsed = kucoin.parse(Catalog(), active(xbtusdtm(), bad))
    assert [m.venue_symbol for m in parsed.markets] == ["XBTUSDTM"]
    assert len(parsed.skipped) == 1 and parsed.skipped[0].startswith("XBTUSDM")


def test_bad_multiplier_skips_the_row() -> None:
    parsed = kucoin.parse(Catalog(), active(xbtusdm(), {**xbtusdtm(), "multiplier": -0.001}))
    assert [m.venue_symbol for m in parsed.markets] == ["XBTUSDM"] and len(parsed.skipped) == 1


@pytest.mark.parametrize("field", ["openInterest", "markPrice", "multiplier", "isInverse", "baseCurrency"])
def test_drift_missing_field(field: str) -> None:
    row = xbtusdtm()
    del row[field]
    with pytest.raises(SchemaDrift, match=field):
        kucoin.parse(Catalog(), active(row))


def test_drift_data_not_a_list() -> None:
    with pytest.raises(SchemaDrift, match="data"):
        kucoin.parse(Catalog(), pages({"contracts": fixture("kucoin", "contracts_XBTUSDM.json")}))


def test_no_perpetuals_is_malformed() -> None:
    with pytest.raises(MalformedResponse):
        kucoin.parse(Catalog(), active({**xbtusdtm(), "type": "FFICSX"}))


def test_envelope_codes() -> None:
    kucoin.check_envelope(fixture("kucoin", "contracts_active.json"))
    with pytest.raises(VenueRateLimited):
        kucoin.check_envelope({"code": "429000", "msg": "Too Many Requests"})
    with pytest.raises(VenueRateLimited):
        kucoin.check_envelope(
            {"code": "200002", "msg": "Too many requests in a short period of time, please retry later"}
        )
    with pytest.raises(VenueRejected, match="400100"):
        kucoin.check_envelope({"code": "400100", "msg": "Parameter Error"})
    with pytest.raises(SchemaDrift):
        kucoin.check_envelope({"data": []})


def test_one_bulk_request_per_cycle() -> None:
    (request,) = kucoin.SPEC.cycle_requests(Catalog())
    assert request.path == "/api/v1/contracts/active" and not request.optional
    assert kucoin.SPEC.catalog_requests == () and kucoin.SPEC.pacing is None


def parse_sample(name: str, body: object) -> None:
    """Parse one recorded sample with the function for its endpoint."""
    kucoin.check_envelope(body)
    if name == "contracts_active.json":  # GET /api/v1/contracts/active
        assert kucoin.parse(Catalog(), pages({"contracts": body})).markets
    elif name == "contracts_XBTUSDM.json":  # GET /api/v1/contracts/{symbol}: data is one contract
        single = kucoin.contract_oi(obj(obj(body, name)["data"], "data"))
        assert single is not None and single.oi_usd == pytest.approx(61_725_904.0)
    else:
        raise AssertionError(f"no parser assigned to the recorded sample {name}")


@pytest.mark.skipif(not SAMPLES.exists(), reason="shared/exchanges is not on this machine")
def test_every_recorded_sample_parses() -> None:
    samples = recorded_samples("kucoin")
    assert samples
    for name, body in samples.items():
        parse_sample(name, body)


async def test_simulator_contract() -> None:
    await assert_sim_contract(kucoin.SPEC, kucoin_sim.SIM)
