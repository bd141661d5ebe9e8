"""Bybit: the two-sided openInterest becomes one-sided; linear in base units, inverse in USD."""

from __future__ import annotations

import copy

import pytest

from server.core.errors import SchemaDrift, VenueRateLimited, VenueRejected
from server.core.model import ContractKind
from server.venues import bybit
from server.venues.base import Bodies, Catalog, Request
from tests.support import fixture, market


def catalog() -> Catalog:
    return bybit.SPEC.parse_catalog(
        Bodies(
            {
                "instruments:linear": (fixture("bybit", "instruments_info_linear.json"),),
                "instruments:inverse": (fixture("bybit", "instruments_info_inverse.json"),),
            }
        )
    )


def cycle(linear: object, inverse: object) -> Bodies:
    return Bodies({"tickers:linear": (linear,), "tickers:inverse": (inverse,)})


def test_catalog() -> None:
    markets = catalog().markets
    assert markets["BTCUSDT"].kind is ContractKind.LINEAR and markets["BTCUSDT"].base == "BTC"
    assert markets["BTCUSD"].kind is ContractKind.INVERSE and markets["BTCUSD"].base == "BTC"


def test_golden_linear_half_of_two_sided() -> None:
    parsed = bybit.parse(
        catalog(), cycle(fixture("bybit", "tickers_linear.json"), fixture("bybit", "tickers_inverse.json"))
    )
    btc = market(parsed, "BTCUSDT")
    # No singleOpenInterest in this (2022) row: one side = openInterest 48069.549 BTC / 2 = 24034.7745 BTC
    # oi_usd = 24034.7745 × markPrice 19255.00 = 462,789,582.9975 USD
    assert btc.oi_base == pytest.approx(24034.7745, rel=1e-12)
    assert btc.oi_usd == pytest.approx(462_789_582.9975, abs=0.001)


def test_golden_inverse_half_of_two_sided() -> None:
    parsed = bybit.parse(
        catalog(), cycle(fixture("bybit", "tickers_linear.json"), fixture("bybit", "tickers_inverse.json"))
    )
    btc = market(parsed, "BTCUSD")
    # openInterest 240,113,967 USD counts both sides: one side = 120,056,983.5 USD
    # oi_base = 120,056,983.5 / markPrice 114,898.43 = 1,044.896640450 BTC
    assert btc.oi_usd == pytest.approx(120_056_983.5)
    assert btc.oi_base == pytest.approx(1044.896640450, rel=1e-9)


def test_cross_check_with_bybits_own_value() -> None:
    # Bybit's openInterestValue "2089.79" BTC is its two-sided coin figure: ours × 2 must match (0.5 %).
    tickers = fixture("bybit", "tickers_inverse.json")
    parsed = bybit.parse(catalog(), cycle(fixture("bybit", "tickers_linear.json"), tickers))
    venue_value = float(tickers["result"]["list"][0]["openInterestValue"])  # type: ignore[index]
    assert 2 * market(parsed, "BTCUSD").oi_base == pytest.approx(venue_value, rel=0.005)  # type: ignore[operator]


def test_golden_single_side_field_wins() -> None:
    # The recorded open-interest example pairs openInterest "63910691.00000000" with
    # singleOpenInterest "31955346" (exactly half): with the single field present we use it as is.
    # oi_usd = 31,955,346 USD; oi_base = 31,955,346 / 114,898.43 = 278.118212755 BTC
    tickers = copy.deepcopy(fixture("bybit", "tickers_inverse.json"))
    row = tickers["result"]["list"][0]  # type: ignore[index]
    row.update(openInterest="63910691.00000000", singleOpenInterest="31955346")
    parsed = bybit.parse(catalog(), cycle(fixture("bybit", "tickers_linear.json"), tickers))
    btc = market(parsed, "BTCUSD")
    assert btc.oi_usd == pytest.approx(31_955_346.0)
    assert btc.oi_base == pytest.approx(278.118212755, rel=1e-9)


def test_empty_single_field_falls_back_to_half() -> None:
    tickers = copy.deepcopy(fixture("bybit", "tickers_inverse.json"))
    tickers["result"]["list"][0]["singleOpenInterest"] = ""  # type: ignore[index]
    parsed = bybit.parse(catalog(), cycle(fixture("bybit", "tickers_linear.json"), tickers))
    assert market(parsed, "BTCUSD").oi_usd == pytest.approx(120_056_983.5)


def test_dated_and_prelaunch_are_skipped() -> None:
    instruments = copy.deepcopy(fixture("bybit", "instruments_info_linear.json"))
    rows = instruments["result"]["list"]  # type: ignore[index]
    rows.append({**rows[0], "symbol": "BTC-27DEC24", "contractType": "LinearFutures"})
    rows.append({**rows[0], "symbol": "NEWUSDT", "status": "PreLaunch"})
    rows.append({**rows[0], "symbol": "OLDUSDT", "isPreListing": True})
    parsed_catalog = bybit.SPEC.parse_catalog(
        Bodies(
            {
                "instruments:linear": (instruments,),
                "instruments:inverse": (fixture("bybit", "instruments_info_inverse.json"),),
            }
        )
    )
    assert sorted(parsed_catalog.markets) == ["BTCUSD", "BTCUSDT"]


def test_pagination_follows_next_page_cursor() -> None:
    request = bybit.SPEC.catalog_requests[0]
    page = copy.deepcopy(fixture("bybit", "instruments_info_linear.json"))
    assert bybit.next_page(request, page) is None  # the recorded page is the last one ("")
    page["result"]["nextPageCursor"] = "abc"  # type: ignore[index]
    following = bybit.next_page(request, page)
    assert isinstance(following, Request)
    assert ("cursor", "abc") in following.params and following.key == request.key


def test_envelope_codes() -> None:
    bybit.check_envelope(fixture("bybit", "tickers_inverse.json"))
    with pytest.raises(VenueRateLimited):
        bybit.check_envelope({"retCode": 10006, "retMsg": "Too many visits!", "result": {}})
    with pytest.raises(VenueRejected, match="10001"):
        bybit.check_envelope({"retCode": 10001, "retMsg": "params error", "result": {}})
    with pytest.raises(SchemaDrift):
        bybit.check_envelope({"ret_code": 0})


def test_drift_missing_mark_price() -> None:
    tickers = copy.deepcopy(fixture("bybit", "tickers_inverse.json"))
    del tickers["result"]["list"][0]["markPrice"]  # type: ignore[index]
    with pytest.raises(SchemaDrift, match="markPrice"):
        bybit.parse(catalog(), cycle(fixture("bybit", "tickers_linear.json"), tickers))
