"""OKX: contracts of ctVal × ctMult; the venue's own oiCcy/oiUsd, with the formula as fallback."""

from __future__ import annotations

import copy

import pytest

from server.core.errors import SchemaDrift, VenueRateLimited, VenueRejected
from server.core.model import (
    ContractKind,
    Convention,
    MarginType,
    MarketOI,
    PriceKind,
    Raw,
    RawUnit,
)
from server.sim.render import okx as sim_okx
from server.venues import okx
from server.venues.base import Bodies, Catalog
from tests.support import fixture, market, poll_with_failing

FUNDING = fixture("okx", "funding_rate_ANY.json")  # the doc example: BTC-USDT-SWAP


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


# --- provenance and funding ---------------------------------------------------------------------


def btc_usdt(funding: object | None) -> MarketOI:
    """The recorded BTC-USDT-SWAP open interest and mark, with ``funding`` as the funding-rate body
    (None: that optional request failed)."""
    pages: dict[str, tuple[object, ...]] = {
        "openInterest": (fixture("okx", "open_interest_swap_BTC-USDT-SWAP.json"),),
        "markPrice": (fixture("okx", "mark_price_swap.json"),),
    }
    if funding is not None:
        pages["fundingRate"] = (funding,)
    return market(okx.parse(catalog(), Bodies(pages)), "BTC-USDT-SWAP")


def funding_with(**fields: object) -> object:
    """The documented funding-rate body with fields of its one row set (None deletes one)."""
    body = copy.deepcopy(FUNDING)
    row = body["data"][0]  # type: ignore[index]
    row.update(fields)
    for name in [name for name, value in fields.items() if value is None]:
        del row[name]
    return body


def test_funding_rate_is_one_optional_bulk_request() -> None:
    requests = {r.key: r for r in okx.SPEC.cycle_requests(catalog())}
    funding = requests["fundingRate"]
    assert (funding.path, funding.params, funding.optional) == (
        "/api/v5/public/funding-rate",
        (("instId", "ANY"),),
        True,
    )
    assert not requests["openInterest"].optional and not requests["markPrice"].optional


def test_golden_provenance_linear() -> None:
    btc = btc_usdt(FUNDING)
    assert btc.raw == Raw(field="oiCcy", value="21254.19", unit=RawUnit.BASE)  # verbatim
    assert btc.convention is Convention.ONE_SIDED
    assert btc.price_kind is PriceKind.MARK and btc.venue_price == pytest.approx(84660.1)
    assert btc.kind is ContractKind.LINEAR and btc.contract_size is None
    assert btc.margin_asset == "USDT" and btc.margin_type is MarginType.STABLECOIN  # settleCcy


def test_golden_provenance_inverse_from_contracts() -> None:
    open_interest = {"code": "0", "msg": "", "data": [{"instId": "BTC-USD-SWAP", "oi": "1000", "oiCcy": ""}]}
    marks = {"code": "0", "msg": "", "data": [{"instId": "BTC-USD-SWAP", "markPx": "84000"}]}
    btc = market(okx.parse(catalog(), cycle(open_interest, marks)), "BTC-USD-SWAP")
    assert btc.raw == Raw(field="oi", value="1000", unit=RawUnit.CONTRACTS)
    assert btc.contract_size == 100.0  # ctVal 100 USD × ctMult 1
    assert btc.kind is ContractKind.INVERSE
    assert btc.margin_asset == "BTC" and btc.margin_type is MarginType.COIN
    assert btc.funding is None  # no funding-rate body in this cycle


def test_golden_funding_doc_example() -> None:
    btc = btc_usdt(FUNDING)
    assert btc.funding is not None
    # interval = (nextFundingTime 1743638400000 − fundingTime 1743609600000) / 3,600,000 = 8 h
    # fundingRate "0.0000182221218054" per 8 h: rate_8h = 0.0000182221218054;
    # apr = 0.0000182221218054 × 8760 / 8 = 0.019953223376913
    assert btc.funding.rate == 0.0000182221218054
    assert btc.funding.interval_hours == 8.0
    assert btc.funding.rate_8h == pytest.approx(0.0000182221218054, rel=1e-12)
    assert btc.funding.apr == pytest.approx(0.019953223376913, rel=1e-12)
    # fundingTime is the upcoming settlement (the example's ts 1743588686291 precedes it)
    assert btc.funding.next_at_ms == 1743609600000


def test_golden_funding_adjusted_interval() -> None:
    # nextFundingTime 1743624000000 − fundingTime 1743609600000 = 14,400,000 ms = 4 h; rate -0.0001 per 4 h:
    # rate_8h = -0.0001 × 8 / 4 = -0.0002; apr = -0.0001 × 8760 / 4 = -0.219
    btc = btc_usdt(funding_with(fundingRate="-0.0001", nextFundingTime="1743624000000"))
    assert btc.funding is not None and btc.funding.interval_hours == 4.0
    assert btc.funding.rate_8h == pytest.approx(-0.0002, rel=1e-12)
    assert btc.funding.apr == pytest.approx(-0.219, rel=1e-12)


def test_failed_funding_request_keeps_the_oi() -> None:
    with_funding, without = btc_usdt(FUNDING), btc_usdt(None)
    assert without.funding is None
    assert (without.oi_usd, without.oi_base, without.raw) == (
        with_funding.oi_usd,
        with_funding.oi_base,
        with_funding.raw,
    )
    # oi_usd = oiCcy 21254.19 × markPx 84660.1 = 1,799,381,850.819 USD
    assert without.oi_usd == pytest.approx(1_799_381_850.819, abs=0.001)


@pytest.mark.parametrize(
    "body",
    [{"code": "0", "data": {"oops": 1}}, {"code": "0"}, [], "x", {"code": "0", "data": [1, 2]}],
)
def test_funding_body_not_the_documented_shape_keeps_the_oi(body: object) -> None:
    btc = btc_usdt(body)
    assert btc.funding is None
    assert btc.oi_usd == pytest.approx(1_799_381_850.819, abs=0.001)


@pytest.mark.parametrize(
    "fields",
    [
        {"fundingRate": None},  # missing
        {"fundingRate": ""},
        {"fundingRate": "abc"},
        {"fundingRate": "NaN"},
        {"nextFundingTime": None},  # interval unknown
        {"nextFundingTime": ""},
        {"fundingTime": "soon"},
        {"nextFundingTime": "1743609600000"},  # zero interval
        {"nextFundingTime": "1743580800000"},  # before fundingTime
        {"instId": "ETH-USDT-SWAP"},  # no row for this market
    ],
)
def test_missing_or_malformed_funding_gives_none_with_oi_unchanged(fields: dict[str, object]) -> None:
    btc = btc_usdt(funding_with(**fields))
    assert btc.funding is None
    assert btc.raw == Raw(field="oiCcy", value="21254.19", unit=RawUnit.BASE)
    assert btc.oi_usd == pytest.approx(1_799_381_850.819, abs=0.001)


async def test_poll_survives_a_failed_funding_request() -> None:
    healthy = await poll_with_failing(okx.SPEC, sim_okx.SIM, None)
    failed = await poll_with_failing(okx.SPEC, sim_okx.SIM, "/api/v5/public/funding-rate")
    assert all(m.funding is not None for m in healthy.markets)
    assert failed.markets and all(m.funding is None for m in failed.markets)
    # the same seeded world: the same OI, market by market
    assert [(m.venue_symbol, m.oi_usd) for m in failed.markets] == [
        (m.venue_symbol, m.oi_usd) for m in healthy.markets
    ]
