"""BitMEX: inverse contracts of 1 USD, linear ones of 1/underlyingToPositionMultiplier coins, quanto
ones of 100 XBt per USD of price; XBt priced at XBTUSD's mark; one-sided."""

from __future__ import annotations

from typing import Any

import pytest

from server.core.errors import MalformedResponse, SchemaDrift, VenueRejected
from server.core.model import ContractKind, Convention, PriceKind, Raw, RawUnit
from server.sim.render import bitmex as bitmex_sim
from server.venues import bitmex
from server.venues.base import Catalog, obj
from tests.support import SHARED_EXCHANGES, assert_sim_contract, fixture, market, pages, recorded_samples

SAMPLES = SHARED_EXCHANGES / "bitmex" / "samples"


def subset() -> dict[str, dict[str, Any]]:
    """The recorded 2024-03-02 records by symbol: JTOUSDT, XBTETH, XBTUSD."""
    records: list[dict[str, Any]] = fixture("bitmex", "instrument_active_subset_2024-03-02.json")  # type: ignore[assignment]
    return {row["symbol"]: row for row in records}


def ethusd() -> dict[str, Any]:
    row: dict[str, Any] = fixture("bitmex", "instrument_ETHUSD_quanto_assembled.json")  # type: ignore[assignment]
    return row


def parse(*instruments: dict[str, Any]) -> Any:
    return bitmex.parse(Catalog(), pages({"instruments": list(instruments)}))


def test_golden_inverse() -> None:
    btc = market(parse(fixture("bitmex", "instrument_XBTUSD.json")), "XBTUSD")  # type: ignore[arg-type]
    assert btc.base == "BTC"
    # oi_usd = openInterest 411,647,400 contracts × (multiplier -1e8 / underlyingToSettleMultiplier -1e8
    # = 1 USD) = 411,647,400 USD (one side, not halved)
    assert btc.oi_usd == pytest.approx(411_647_400.0, rel=1e-12)
    # oi_base = 411,647,400 USD / markPrice 97,849.76 = 4,206.9331595703 BTC
    assert btc.oi_base == pytest.approx(4206.9331595703, rel=1e-12)


def test_golden_linear() -> None:
    jto = market(parse(*subset().values()), "JTOUSDT")
    assert jto.base == "JTO"
    # oi_base = openInterest 6,780 contracts / underlyingToPositionMultiplier 1 = 6,780 JTO
    assert jto.oi_base == pytest.approx(6780.0, rel=1e-12)
    # oi_usd = 6,780 JTO × markPrice 2.46561 = 16,716.8358 USD
    assert jto.oi_usd == pytest.approx(16_716.8358, abs=1e-6)


def test_golden_linear_contract_of_a_millionth() -> None:
    # XBTUSDT's documented underlyingToPositionMultiplier 1,000,000 (reference page) on the JTOUSDT shape
    xbt = {**subset()["JTOUSDT"], "symbol": "XBTUSDT", "underlying": "XBT", "multiplier": 1}
    xbt.update(underlyingToPositionMultiplier=1_000_000, openInterest=2_500_000_000, markPrice=62_000.5)
    linear = market(parse(xbt), "XBTUSDT")
    # oi_base = 2,500,000,000 / 1,000,000 = 2,500 BTC; oi_usd = 2,500 × 62,000.5 = 155,001,250 USD
    assert linear.base == "BTC"
    assert linear.oi_base == pytest.approx(2500.0, rel=1e-12)
    assert linear.oi_usd == pytest.approx(155_001_250.0, rel=1e-12)


def test_golden_quanto() -> None:
    eth = market(parse(subset()["XBTUSD"], ethusd()), "ETHUSD")
    assert eth.base == "ETH"
    # oi_usd = 1,200,000 contracts × multiplier 100 XBt / 1e8 × markPrice 3,420.5 (= 4,104.6 XBT)
    #          × XBTUSD markPrice 62,074.87 = 254,792,511.402 USD
    assert eth.oi_usd == pytest.approx(254_792_511.402, abs=0.001)
    # oi_base = 254,792,511.402 USD / 3,420.5 = 74,489.844 ETH (the ETH delta at current prices)
    assert eth.oi_base == pytest.approx(74_489.844, rel=1e-12)
    assert eth.price_usd == 3420.5


def test_golden_inverse_cross_quoted_in_eth() -> None:
    cross = market(parse(*subset().values()), "XBTETH")
    assert cross.base == "BTC"
    # contract = multiplier -1e6 / underlyingToSettleMultiplier -1e8 = 0.01 ETH;
    # oi_base = 10,297 × 0.01 ETH / markPrice 18.0622 ETH per XBT = 5.7008559312 BTC
    assert cross.oi_base == pytest.approx(5.7008559312, rel=1e-10)
    # oi_usd = 5.7008559312 BTC × XBTUSD markPrice 62,074.87 = 353,879.890816 USD
    assert cross.oi_usd == pytest.approx(353_879.890816, abs=1e-5)


def test_golden_funding_8h_with_next_time() -> None:
    btc = market(parse(fixture("bitmex", "instrument_XBTUSD.json")), "XBTUSD")  # type: ignore[arg-type]
    assert btc.funding is not None
    # fundingRate 0.00011 per fundingInterval "2000-01-01T08:00:00.000Z" = 8 h past 2000-01-01T00:00Z
    assert btc.funding.rate == 0.00011 and btc.funding.interval_hours == 8.0
    # rate_8h = 0.00011 × 8 / 8 = 0.00011; apr = 0.00011 × 8760 / 8 = 0.12045
    assert btc.funding.rate_8h == pytest.approx(0.00011, rel=1e-12)
    assert btc.funding.apr == pytest.approx(0.12045, rel=1e-12)
    assert btc.funding.next_at_ms == 1732507200000  # fundingTimestamp 2024-11-25T04:00:00.000Z


def test_golden_funding_every_kind() -> None:
    parsed = parse(*subset().values(), ethusd())
    jto, cross, eth = market(parsed, "JTOUSDT"), market(parsed, "XBTETH"), market(parsed, "ETHUSD")
    assert jto.funding is not None and cross.funding is not None and eth.funding is not None
    assert jto.funding.rate == 0.0001 and jto.funding.next_at_ms == 1709352000000  # 2024-03-02T04:00Z
    # XBTETH -0.002141 per 8 h (shorts pay longs): apr = -0.002141 × 8760 / 8 = -2.344395
    assert cross.funding.apr == pytest.approx(-2.344395, rel=1e-12)
    # quanto ETHUSD 0.000224 per 8 h: apr = 0.000224 × 8760 / 8 = 0.24528
    assert eth.funding.apr == pytest.approx(0.24528, rel=1e-12) and eth.funding.interval_hours == 8.0


def test_golden_funding_4h_interval() -> None:
    row = {**subset()["JTOUSDT"], "fundingInterval": "2000-01-01T04:00:00.000Z"}
    funding = market(parse(row), "JTOUSDT").funding
    assert funding is not None and funding.interval_hours == 4.0
    # rate 0.0001 per 4 h: rate_8h = 0.0001 × 8 / 4 = 0.0002; apr = 0.0001 × 8760 / 4 = 0.219
    assert funding.rate_8h == pytest.approx(0.0002, rel=1e-12)
    assert funding.apr == pytest.approx(0.219, rel=1e-12)


def test_golden_provenance_and_margin_assets() -> None:
    parsed = parse(*subset().values(), ethusd())
    expected = {
        # symbol: kind, margin asset, contract size, raw openInterest as sent
        "XBTUSD": (ContractKind.INVERSE, "XBT", 1.0, "286362900"),
        "XBTETH": (ContractKind.INVERSE, "XBT", 0.01, "10297"),
        "JTOUSDT": (ContractKind.LINEAR, "USDT", 1.0, "6780"),
        "ETHUSD": (ContractKind.QUANTO, "XBT", 0.000001, "1200000"),  # 100 XBt = 1e-6 XBT per USD
    }
    for symbol, (kind, margin, size, raw) in expected.items():
        item = market(parsed, symbol)
        assert (item.kind, item.margin_asset) == (kind, margin), symbol
        assert item.contract_size == pytest.approx(size, rel=1e-12), symbol
        assert item.raw == Raw(field="openInterest", value=raw, unit=RawUnit.CONTRACTS), symbol
        assert item.convention is Convention.ONE_SIDED and item.price_kind is PriceKind.MARK, symbol
    assert market(parsed, "JTOUSDT").margin_type == "stablecoin"
    assert market(parsed, "ETHUSD").margin_type == "coin" and market(parsed, "XBTUSD").margin_type == "coin"


@pytest.mark.parametrize("value", [None, "abc", "NaN", "absent"])
def test_missing_or_malformed_funding_rate_gives_no_funding(value: object) -> None:
    row = dict(fixture("bitmex", "instrument_XBTUSD.json"))  # type: ignore[call-overload]
    if value == "absent":
        del row["fundingRate"]
    else:
        row["fundingRate"] = value
    parsed = parse(row)
    btc = market(parsed, "XBTUSD")
    assert btc.funding is None and not parsed.skipped
    assert btc.oi_usd == pytest.approx(411_647_400.0, rel=1e-12)  # the OI reading is untouched
    assert btc.oi_base == pytest.approx(4206.9331595703, rel=1e-12)


@pytest.mark.parametrize(
    "value",
    [None, "8h", "2000-01-01T00:00:00.000Z", "1999-12-31T16:00:00.000Z", "2000-01-01T08:00:00", "absent"],
)
def test_unknown_interval_gives_no_funding(value: object) -> None:
    row = dict(fixture("bitmex", "instrument_XBTUSD.json"))  # type: ignore[call-overload]
    if value == "absent":
        del row["fundingInterval"]
    else:
        row["fundingInterval"] = value  # zero, negative, no time zone: no usable interval
    btc = market(parse(row), "XBTUSD")
    assert btc.funding is None and btc.oi_usd == pytest.approx(411_647_400.0, rel=1e-12)


@pytest.mark.parametrize("value", [None, "later", "absent"])
def test_bad_next_funding_time_keeps_the_rate(value: object) -> None:
    row = dict(fixture("bitmex", "instrument_XBTUSD.json"))  # type: ignore[call-overload]
    if value == "absent":
        del row["fundingTimestamp"]
    else:
        row["fundingTimestamp"] = value
    funding = market(parse(row), "XBTUSD").funding
    assert funding is not None and funding.rate == 0.00011 and funding.next_at_ms is None


def test_cross_check_with_open_value() -> None:
    # openValue is BitMEX's own value of the open interest in settle minor units (one side).
    records = subset()
    parsed = parse(*records.values(), ethusd())
    xbt_usd = records["XBTUSD"]["markPrice"]
    # inverse XBTUSD: openValue 461,319,177,384 XBt / 1e8 = 4,613.19 BTC
    assert market(parsed, "XBTUSD").oi_base == pytest.approx(records["XBTUSD"]["openValue"] / 1e8, rel=0.005)
    # linear JTOUSDT: openValue 16,716,835,800 USDt / 1e6 = 16,716.84 USD
    assert market(parsed, "JTOUSDT").oi_usd == pytest.approx(records["JTOUSDT"]["openValue"] / 1e6, rel=0.005)
    # cross XBTETH: openValue 570,083,108 XBt / 1e8 = 5.70 BTC
    assert market(parsed, "XBTETH").oi_base == pytest.approx(records["XBTETH"]["openValue"] / 1e8, rel=0.005)
    # quanto ETHUSD: openValue (XBt) / 1e8 × XBTUSD mark = USD
    assert market(parsed, "ETHUSD").oi_usd == pytest.approx(ethusd()["openValue"] / 1e8 * xbt_usd, rel=0.005)


def test_xbt_priced_rows_need_the_xbtusd_mark() -> None:
    parsed = parse(subset()["JTOUSDT"], ethusd())
    assert [m.venue_symbol for m in parsed.markets] == ["JTOUSDT"]
    assert len(parsed.skipped) == 1 and "XBTUSD" in parsed.skipped[0]


def test_dated_spot_index_and_closed_are_skipped() -> None:
    xbt = subset()["XBTUSD"]
    others = [
        {**xbt, "symbol": "XBTZ24", "typ": "FFCCSX"},
        {**xbt, "symbol": "XBT_USDT", "typ": "IFXXXP"},
        {**xbt, "symbol": ".BXBT", "typ": "MRCXXX", "openInterest": None, "markPrice": 62_070.1},
        {**xbt, "symbol": "OLDUSD", "state": "Unlisted"},
        {**xbt, "symbol": "GONEUSD", "state": "Closed"},
    ]
    parsed = parse(xbt, *others)
    assert [m.venue_symbol for m in parsed.markets] == ["XBTUSD"] and parsed.skipped == ()


@pytest.mark.parametrize("value", ["NaN", -5, None, 1e20])
def test_bad_open_interest_skips_the_row(value: object) -> None:
    records = subset()
    parsed = parse(records["XBTUSD"], {**records["JTOUSDT"], "openInterest": value})
    assert [m.venue_symbol for m in parsed.markets] == ["XBTUSD"]
    assert len(parsed.skipped) == 1 and parsed.skipped[0].startswith("JTOUSDT")


def test_unknown_settle_currency_and_missing_multiplier_skip_the_row() -> None:
    records = subset()
    gwei = {**records["JTOUSDT"], "symbol": "ETHUSD_ETH", "settlCurrency": "Gwei"}
    no_size = {**records["JTOUSDT"], "symbol": "NOSIZEUSDT", "underlyingToPositionMultiplier": None}
    parsed = parse(records["XBTUSD"], gwei, no_size)
    assert [m.venue_symbol for m in parsed.markets] == ["XBTUSD"] and len(parsed.skipped) == 2


@pytest.mark.parametrize("field", ["openInterest", "markPrice", "isInverse", "typ", "underlying"])
def test_drift_missing_field(field: str) -> None:
    row = subset()["JTOUSDT"]
    del row[field]
    with pytest.raises(SchemaDrift, match=field):
        parse(subset()["XBTUSD"], row)


def test_drift_body_not_an_array() -> None:
    with pytest.raises(SchemaDrift, match="instrument/active"):
        bitmex.parse(Catalog(), pages({"instruments": fixture("bitmex", "instrument_XBTUSD.json")}))


def test_no_perpetuals_is_malformed() -> None:
    with pytest.raises(MalformedResponse):
        parse({**subset()["XBTUSD"], "typ": "FFCCSX"})


def test_envelope() -> None:
    bitmex.check_envelope(fixture("bitmex", "instrument_active_subset_2024-03-02.json"))
    with pytest.raises(VenueRejected, match="Invalid API Key"):
        bitmex.check_envelope(fixture("bitmex", "error_response.json"))


def test_one_bulk_request_per_cycle() -> None:
    (request,) = bitmex.SPEC.cycle_requests(Catalog())
    assert request.path == "/api/v1/instrument/active" and not request.optional
    assert bitmex.SPEC.catalog_requests == () and bitmex.SPEC.pacing is None


def parse_sample(name: str, body: object) -> None:
    """Parse one recorded sample with the function for its endpoint."""
    if name == "error_response.json":
        with pytest.raises(VenueRejected):
            bitmex.check_envelope(body)
        return
    bitmex.check_envelope(body)
    if name == "instrument_XBTUSD.json":  # one record of GET /api/v1/instrument/active
        single = bitmex.instrument_oi(obj(body, name), xbt_usd=None)
        assert single is not None and single.oi_usd == pytest.approx(411_647_400.0)
    elif name.startswith("instrument_active"):  # GET /api/v1/instrument/active
        parsed = bitmex.parse(Catalog(), pages({"instruments": body}))
        assert parsed.markets and parsed.skipped == ()
    else:
        raise AssertionError(f"no parser assigned to the recorded sample {name}")


@pytest.mark.skipif(not SAMPLES.exists(), reason="shared/exchanges is not on this machine")
def test_every_recorded_sample_parses() -> None:
    samples = recorded_samples("bitmex")
    assert samples
    for name, body in samples.items():
        parse_sample(name, body)


async def test_simulator_contract() -> None:
    await assert_sim_contract(bitmex.SPEC, bitmex_sim.SIM)
