"""Bybit: the two-sided openInterest becomes one-sided; linear in base units, inverse in USD."""

from __future__ import annotations

import copy

import pytest

from server.core.errors import SchemaDrift, VenueRateLimited, VenueRejected
from server.core.model import ContractKind, Convention, MarginType, MarketOI, PriceKind, Raw, RawUnit
from server.venues import bybit
from server.venues.base import Bodies, Catalog, Request
from tests.support import fixture, market


def catalog(linear: object | None = None) -> Catalog:
    return bybit.SPEC.parse_catalog(
        Bodies(
            {
                "instruments:linear": (linear or fixture("bybit", "instruments_info_linear.json"),),
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


# --- provenance and funding ---------------------------------------------------------------------


def parse_one(symbol: str, *, linear_catalog: object | None = None, **ticker: object) -> MarketOI:
    """``symbol`` parsed from the recorded tickers, with ``ticker`` fields set (None deletes one)."""
    linear = copy.deepcopy(fixture("bybit", "tickers_linear.json"))
    inverse = copy.deepcopy(fixture("bybit", "tickers_inverse.json"))
    for body in (linear, inverse):
        row = body["result"]["list"][0]  # type: ignore[index]
        if row["symbol"] == symbol:
            row.update(ticker)
            for name in [name for name, value in ticker.items() if value is None]:
                del row[name]
    return market(bybit.parse(catalog(linear_catalog), cycle(linear, inverse)), symbol)


def test_catalog_keeps_funding_intervals() -> None:
    cat = catalog()
    assert isinstance(cat, Catalog)
    # instruments-info fundingInterval 480 minutes = 8 h (the inverse fixture has the linear shape)
    assert dict(cat.funding_interval_h) == {"BTCUSDT": 8.0, "BTCUSD": 8.0}


def test_golden_provenance_linear_halved() -> None:
    btc = parse_one("BTCUSDT")
    assert btc.raw == Raw(field="openInterest", value="48069.549", unit=RawUnit.BASE)  # verbatim, two-sided
    assert btc.convention is Convention.TWO_SIDED_HALVED
    assert btc.price_kind is PriceKind.MARK and btc.venue_price == pytest.approx(19255.0)
    assert btc.kind is ContractKind.LINEAR and btc.contract_size is None
    assert btc.margin_asset == "USDT" and btc.margin_type is MarginType.STABLECOIN  # settleCoin


def test_golden_provenance_inverse_single_side_field() -> None:
    btc = parse_one("BTCUSD", openInterest="63910691.00000000", singleOpenInterest="31955346")
    assert btc.raw == Raw(field="singleOpenInterest", value="31955346", unit=RawUnit.USD)
    assert btc.convention is Convention.SINGLE_SIDE_FIELD
    assert btc.kind is ContractKind.INVERSE
    assert btc.margin_asset == "BTC" and btc.margin_type is MarginType.COIN  # settleCoin BTC


def test_golden_funding_interval_from_the_catalog() -> None:
    # The 2022 linear ticker has no fundingIntervalHour: instruments-info fundingInterval 480 min = 8 h.
    # fundingRate "0.0001" per 8 h: rate_8h = 0.0001 × 8 / 8 = 0.0001; apr = 0.0001 × 8760 / 8 = 0.1095
    btc = parse_one("BTCUSDT")
    assert btc.funding is not None
    assert btc.funding.rate == 0.0001 and btc.funding.interval_hours == 8.0
    assert btc.funding.rate_8h == pytest.approx(0.0001, rel=1e-12)
    assert btc.funding.apr == pytest.approx(0.1095, rel=1e-12)
    assert btc.funding.next_at_ms == 1663689600000  # nextFundingTime "1663689600000"


def test_golden_funding_interval_from_the_ticker_wins() -> None:
    # The recorded inverse ticker has fundingIntervalHour "8"; set to "4" it wins over the catalog's 480 min.
    # fundingRate "0.0001" per 4 h: rate_8h = 0.0001 × 8 / 4 = 0.0002; apr = 0.0001 × 8760 / 4 = 0.219
    recorded = parse_one("BTCUSD")
    assert recorded.funding is not None and recorded.funding.interval_hours == 8.0
    assert recorded.funding.next_at_ms == 1760371200000
    btc = parse_one("BTCUSD", fundingIntervalHour="4")
    assert btc.funding is not None and btc.funding.interval_hours == 4.0
    assert btc.funding.rate_8h == pytest.approx(0.0002, rel=1e-12)
    assert btc.funding.apr == pytest.approx(0.219, rel=1e-12)


def test_unusable_ticker_interval_falls_back_to_the_catalog() -> None:
    btc = parse_one("BTCUSD", fundingIntervalHour="")
    assert btc.funding is not None and btc.funding.interval_hours == 8.0  # fundingInterval 480 min


def test_unknown_interval_gives_no_funding() -> None:
    # No fundingIntervalHour in the 2022 linear ticker, and no fundingInterval in its instrument row.
    instruments = copy.deepcopy(fixture("bybit", "instruments_info_linear.json"))
    del instruments["result"]["list"][0]["fundingInterval"]  # type: ignore[index]
    btc = parse_one("BTCUSDT", linear_catalog=instruments)
    assert btc.funding is None
    assert btc.oi_usd == pytest.approx(462_789_582.9975, abs=0.001)  # OI unchanged


@pytest.mark.parametrize("rate", [None, "", "abc", "NaN", [0.0001]])  # None: the field is missing
def test_missing_or_malformed_rate_gives_no_funding(rate: object) -> None:
    btc = parse_one("BTCUSD", fundingRate=rate)
    assert btc.funding is None
    assert btc.oi_usd == pytest.approx(120_056_983.5)  # OI unchanged
    assert btc.raw == Raw(field="openInterest", value="240113967", unit=RawUnit.USD)
