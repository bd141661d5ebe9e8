"""OKX: contracts of ctVal × ctMult; the venue's own oiCcy/oiUsd, with the formula as fallback."""

from __future__ import annotations

import copy

import pytest

from server.core.errors import SchemaDrift, VenueRateLimited, VenueRejected
from server.core.model import ContractKind
from server.venues import okx
from server.venues.base import Bodies, Catalog
from tests.support import fixture, market


def catalog() -> Catalog:
    return okx.SPEC.parse_catalog(Bodies({"instruments": (fixture("okx", "instruments_swap.json"),)}))


def cycle(open_interest: object, mark_price: object) -> Bodies:
    return Bodies({"openInterest": (open_interest,), "markPrice": (mark_price,)})


def test_catalog_contract_values() -> None:
    markets = catalog().markets
    assert (
        markets["BTC-USDT-SWAP"].kind is ContractKind.LINEAR
        and markets["BTC-USDT-SWAP"].contract_size == 0.01
    )
    assert markets["ETH-USDT-SWAP"].contract_size == 0.1
    assert (
        markets["BTC-USD-SWAP"].kind is ContractKind.INVERSE
        and markets["BTC-USD-SWAP"].contract_size == 100.0
    )
    assert {m.base for m in markets.values()} == {"BTC", "ETH"}


def test_golden_linear_without_oi_usd() -> None:
    parsed = okx.parse(
        catalog(),
        cycle(
            fixture("okx", "open_interest_swap_BTC-USDT-SWAP.json"), fixture("okx", "mark_price_swap.json")
        ),
    )
    btc = market(parsed, "BTC-USDT-SWAP")
    # oiCcy 21254.19 BTC (= oi 2,125,419 × ctVal 0.01); no oiUsd in this 2022 row:
    # oi_usd = 21254.19 × markPx 84660.1 = 1,799,381,850.819 USD
    assert btc.oi_base == pytest.approx(21254.19)
    assert btc.oi_usd == pytest.approx(1_799_381_850.819, abs=0.001)


def test_cross_check_oi_ccy_against_contract_formula() -> None:
    row = fixture("okx", "open_interest_swap_BTC-USDT-SWAP.json")["data"][0]  # type: ignore[index]
    from_contracts = float(row["oi"]) * catalog().markets["BTC-USDT-SWAP"].contract_size
    assert float(row["oiCcy"]) == pytest.approx(from_contracts, rel=0.005)


def test_golden_inverse_from_contracts() -> None:
    # Reference page: BTC-USD-SWAP is inverse, ctVal 100 USD: 1,000 contracts = 100,000 USD;
    # with no oiCcy the formula applies: oi_base = 100,000 / markPx 84,000 = 1.19047619 BTC.
    open_interest = {
        "code": "0",
        "data": [{"instId": "BTC-USD-SWAP", "instType": "SWAP", "oi": "1000", "oiCcy": "", "ts": "1"}],
        "msg": "",
    }
    marks = {
        "code": "0",
        "msg": "",
        "data": [{"instType": "SWAP", "instId": "BTC-USD-SWAP", "markPx": "84000", "ts": "1"}],
    }
    btc = market(okx.parse(catalog(), cycle(open_interest, marks)), "BTC-USD-SWAP")
    assert btc.oi_usd == pytest.approx(100_000.0)
    assert btc.oi_base == pytest.approx(1.19047619, rel=1e-8)


def test_oi_usd_from_the_venue_wins_when_present() -> None:
    open_interest = copy.deepcopy(fixture("okx", "open_interest_swap_BTC-USDT-SWAP.json"))
    open_interest["data"][0]["oiUsd"] = "1800000000.5"  # type: ignore[index]
    btc = market(
        okx.parse(catalog(), cycle(open_interest, fixture("okx", "mark_price_swap.json"))), "BTC-USDT-SWAP"
    )
    assert btc.oi_usd == 1_800_000_000.5


def test_preopen_and_pre_market_skipped() -> None:
    instruments = copy.deepcopy(fixture("okx", "instruments_swap.json"))
    rows = instruments["data"]  # type: ignore[index]
    rows[0]["state"] = "preopen"
    rows[1]["ruleType"] = "pre_market"
    markets = okx.SPEC.parse_catalog(Bodies({"instruments": (instruments,)})).markets
    assert list(markets) == ["BTC-USDT-SWAP"]


def test_envelope() -> None:
    okx.check_envelope(fixture("okx", "mark_price_swap.json"))
    with pytest.raises(VenueRateLimited):
        okx.check_envelope({"code": "50011", "msg": "Too Many Requests", "data": []})
    with pytest.raises(VenueRejected, match="51001"):
        okx.check_envelope({"code": "51001", "msg": "Instrument ID does not exist", "data": []})


def test_drift_data_not_a_list() -> None:
    with pytest.raises(SchemaDrift, match="data"):
        okx.parse(
            catalog(), cycle({"code": "0", "data": {"oops": 1}}, fixture("okx", "mark_price_swap.json"))
        )
