"""Deribit: open_interest is an amount (USD inverse, coins linear), never multiplied by contract_size."""

from __future__ import annotations

import copy

import pytest

from server.core.errors import MalformedResponse, SchemaDrift, VenueRateLimited, VenueRejected
from server.core.model import ContractKind, Convention, PriceKind, Raw, RawUnit
from server.sim.render import deribit as deribit_sim
from server.venues import deribit
from server.venues.base import Bodies, Catalog, Row
from tests.support import SHARED_EXCHANGES, assert_sim_contract, fixture, market, recorded_samples

EMPTY: dict[str, object] = {
    "jsonrpc": "2.0",
    "result": [],
    "usIn": 1,
    "usOut": 2,
    "usDiff": 1,
    "testnet": False,
}


def as_eth(body: object, *, instrument: bool) -> object:
    """The recorded BTC-PERPETUAL item renamed to ETH-PERPETUAL (no ETH response was recorded)."""
    eth = copy.deepcopy(body)
    for row in eth["result"]:  # type: ignore[index]
        if row["instrument_name"] == "BTC-PERPETUAL":
            row.update(instrument_name="ETH-PERPETUAL", base_currency="ETH")
            if instrument:
                row.update(settlement_currency="ETH", price_index="eth_usd", contract_size=1.0)
    return eth


def instrument_bodies(**overrides: object) -> dict[str, tuple[object, ...]]:
    btc = fixture("deribit", "get_instruments_future_BTC.json")
    bodies = {
        "instruments:BTC": btc,
        "instruments:ETH": as_eth(btc, instrument=True),
        "instruments:USDC": fixture("deribit", "get_instruments_future_USDC.json"),
    }
    bodies.update(overrides)
    return {key: (body,) for key, body in bodies.items()}  # USDT absent: its optional request failed


def catalog(**overrides: object) -> Catalog:
    return deribit.SPEC.parse_catalog(Bodies(instrument_bodies(**overrides)))


def cycle(btc: object | None = None, usdc: object | None = None) -> Bodies:
    btc = btc if btc is not None else fixture("deribit", "book_summary_BTC_future.json")
    return Bodies(
        {
            "summary:BTC": (btc,),
            "summary:ETH": (as_eth(fixture("deribit", "book_summary_BTC_future.json"), instrument=False),),
            "summary:USDC": (
                usdc if usdc is not None else fixture("deribit", "book_summary_USDC_future.json"),
            ),
        }
    )


def summary_row(body: object, name: str) -> Row:
    return next(r for r in body["result"] if r["instrument_name"] == name)  # type: ignore[index]


def ticker_data(ticker: object) -> Row:
    """The ticker snapshot's item: the same open_interest / mark_price fields as a book summary."""
    return ticker["params"]["data"]  # type: ignore[index,no-any-return]


def test_catalog_kinds_and_groups() -> None:
    parsed = catalog()
    markets = parsed.markets
    assert sorted(markets) == ["BTC-PERPETUAL", "BTC_USDC-PERPETUAL", "ETH-PERPETUAL"]
    assert markets["BTC-PERPETUAL"].kind is ContractKind.INVERSE and markets["BTC-PERPETUAL"].settle == "BTC"
    assert markets["BTC_USDC-PERPETUAL"].kind is ContractKind.LINEAR
    assert markets["BTC_USDC-PERPETUAL"].base == "BTC" and markets["BTC_USDC-PERPETUAL"].settle == "USDC"
    # one book-summary request per settlement currency that lists a perpetual (USDT failed: none)
    assert parsed.groups == ("BTC", "ETH", "USDC")
    requests = deribit.SPEC.cycle_requests(parsed)
    assert [(r.path, r.params) for r in requests] == [
        ("/public/get_book_summary_by_currency", (("currency", c), ("kind", "future")))
        for c in ("BTC", "ETH", "USDC")
    ]


def test_golden_inverse_documented_book_summary() -> None:
    btc = market(deribit.parse(catalog(), cycle()), "BTC-PERPETUAL")
    # open_interest 183180 is USD (inverse amount, NOT × contract_size 10): oi_usd = 183,180 USD
    # oi_base = 183,180 USD / mark_price 3,579.73 = 51.171457065 BTC
    assert btc.oi_usd == pytest.approx(183_180.0)
    assert btc.oi_base == pytest.approx(51.171457065, rel=1e-9)
    assert btc.price_usd == pytest.approx(3579.73)


def test_golden_inverse_worked_example_recorded_ticker() -> None:
    # The reference page's worked example on the recorded 2023-02-28 ticker (same fields as the summary):
    # oi_usd = open_interest 333,091,400 USD; oi_base = 333,091,400 / mark_price 23,408.41 = 14,229.561085 BTC
    data = ticker_data(fixture("deribit", "ws_ticker_BTC-PERPETUAL.json"))
    btc = deribit.summary_oi(catalog().markets["BTC-PERPETUAL"], data)
    assert btc.oi_usd == pytest.approx(333_091_400.0)
    assert btc.oi_base == pytest.approx(14_229.561085, rel=1e-9)


def test_golden_linear_usdc_perpetual() -> None:
    btc = market(deribit.parse(catalog(), cycle()), "BTC_USDC-PERPETUAL")
    # open_interest 95.017 is BTC (linear amount, NOT × contract_size 0.001): oi_base = 95.017 BTC
    # oi_usd = 95.017 BTC × mark_price 3,579.73 USDC = 340,135.20541 USD
    assert btc.oi_base == pytest.approx(95.017, rel=1e-12)
    assert btc.oi_usd == pytest.approx(340_135.20541, abs=1e-5)


def test_golden_funding_8h_and_provenance() -> None:
    parsed = deribit.parse(catalog(), cycle())
    inverse, linear = market(parsed, "BTC-PERPETUAL"), market(parsed, "BTC_USDC-PERPETUAL")
    assert inverse.raw == Raw(field="open_interest", value="183180", unit=RawUnit.USD)
    assert linear.raw == Raw(field="open_interest", value="95.017", unit=RawUnit.BASE)
    assert inverse.convention is linear.convention is Convention.ONE_SIDED
    assert inverse.price_kind is linear.price_kind is PriceKind.MARK
    assert (inverse.kind, inverse.margin_asset, inverse.margin_type) == (ContractKind.INVERSE, "BTC", "coin")
    assert (linear.kind, linear.margin_asset, linear.margin_type) == (
        ContractKind.LINEAR,
        "USDC",
        "stablecoin",
    )
    assert inverse.contract_size is None and linear.contract_size is None  # amounts, not contracts
    for item in (inverse, linear):
        assert item.funding is not None
        # funding_8h 0.0002574 is the rate per 8 h: rate = 0.0002574, interval 8 h,
        # rate_8h = 0.0002574 × 8 / 8 = 0.0002574; apr = 0.0002574 × 8760 / 8 = 0.281853
        assert item.funding.rate == 0.0002574 and item.funding.interval_hours == 8.0
        assert item.funding.rate_8h == pytest.approx(0.0002574, rel=1e-12)
        assert item.funding.apr == pytest.approx(0.281853, rel=1e-12)
        assert item.funding.next_at_ms is None  # continuous funding: no settlement time


def test_golden_funding_zero_on_the_recorded_ticker() -> None:
    data = ticker_data(fixture("deribit", "ws_ticker_BTC-PERPETUAL.json"))
    funding = deribit.summary_oi(catalog().markets["BTC-PERPETUAL"], data).funding
    assert funding is not None and funding.rate == 0.0 and funding.apr == 0.0  # funding_8h 0.0


@pytest.mark.parametrize("value", [None, "abc", "NaN", "absent"])
def test_missing_or_malformed_funding_gives_no_funding(value: object) -> None:
    body = copy.deepcopy(fixture("deribit", "book_summary_BTC_future.json"))
    row = summary_row(body, "BTC-PERPETUAL")
    assert isinstance(row, dict)
    if value == "absent":
        del row["funding_8h"]
    else:
        row["funding_8h"] = value
    parsed = deribit.parse(catalog(), cycle(btc=body))
    btc = market(parsed, "BTC-PERPETUAL")
    assert btc.funding is None and not parsed.skipped
    assert btc.oi_usd == pytest.approx(183_180.0)  # the OI reading is untouched
    assert btc.oi_base == pytest.approx(51.171457065, rel=1e-9)


def test_current_funding_alone_gives_no_funding() -> None:
    # current_funding has no documented interval: without funding_8h the interval is unknown, so None
    body = copy.deepcopy(fixture("deribit", "book_summary_BTC_future.json"))
    row = summary_row(body, "BTC-PERPETUAL")
    assert isinstance(row, dict)
    del row["funding_8h"]
    row["current_funding"] = 0.00001
    btc = market(deribit.parse(catalog(), cycle(btc=body)), "BTC-PERPETUAL")
    assert btc.funding is None and btc.oi_usd == pytest.approx(183_180.0)


def test_one_sided_figure_used_as_is() -> None:
    # One-sided (reference page): the BTC total is the two books summed, never halved or doubled.
    # 183,180 USD + 340,135.20541 USD = 523,315.20541 USD; 51.171457065 + 95.017 = 146.188457065 BTC
    parsed = deribit.parse(catalog(), cycle())
    btc = [m for m in parsed.markets if m.venue_symbol.startswith("BTC")]
    assert sum(m.oi_usd for m in btc) == pytest.approx(523_315.20541, abs=1e-5)
    assert sum(m.oi_base or 0.0 for m in btc) == pytest.approx(146.188457065, rel=1e-9)


def test_dated_future_in_the_summary_is_skipped() -> None:
    parsed = deribit.parse(catalog(), cycle())
    assert sorted(m.venue_symbol for m in parsed.markets) == [
        "BTC-PERPETUAL",
        "BTC_USDC-PERPETUAL",
        "ETH-PERPETUAL",
    ]  # BTC-22FEB19 is a dated future
    assert parsed.skipped == ()


def test_catalog_skips_dated_combo_option_inactive_and_unknown_types() -> None:
    body = copy.deepcopy(fixture("deribit", "get_instruments_future_BTC.json"))
    perp = body["result"][0]  # type: ignore[index]
    body["result"] += [  # type: ignore[index]
        {**perp, "instrument_name": "BTC-27DEC24", "settlement_period": "month"},
        {**perp, "instrument_name": "BTC-FS-27DEC24_PERP", "kind": "future_combo"},
        {**perp, "instrument_name": "BTC-27DEC24-90000-C", "kind": "option"},
        {**perp, "instrument_name": "OLD-PERPETUAL", "is_active": False},
        {**perp, "instrument_name": "ODD-PERPETUAL", "instrument_type": "quanto"},
    ]
    assert sorted(catalog(**{"instruments:BTC": body}).markets) == [
        "BTC-PERPETUAL",
        "BTC_USDC-PERPETUAL",
        "ETH-PERPETUAL",
    ]


def test_optional_usdt_books_join_when_listed() -> None:
    usdt = copy.deepcopy(fixture("deribit", "get_instruments_future_USDC.json"))
    row = usdt["result"][0]  # type: ignore[index]
    row.update(instrument_name="BTC_USDT-PERPETUAL", settlement_currency="USDT")
    parsed = catalog(**{"instruments:USDT": usdt})
    assert parsed.groups == ("BTC", "ETH", "USDC", "USDT")
    assert catalog(**{"instruments:USDT": EMPTY}).groups == ("BTC", "ETH", "USDC")  # empty: not polled


def test_empty_catalog_is_malformed() -> None:
    with pytest.raises(MalformedResponse):
        catalog(**{f"instruments:{c}": EMPTY for c in ("BTC", "ETH", "USDC")})


def test_instrument_listed_twice_counts_once() -> None:
    usdc = copy.deepcopy(fixture("deribit", "book_summary_USDC_future.json"))
    usdc["result"].append(summary_row(fixture("deribit", "book_summary_BTC_future.json"), "BTC-PERPETUAL"))  # type: ignore[index]
    parsed = deribit.parse(catalog(), cycle(usdc=usdc))
    assert market(parsed, "BTC-PERPETUAL").oi_usd == pytest.approx(183_180.0)


@pytest.mark.parametrize("bad", ["NaN", -10.0, 5e15, None])
def test_bad_open_interest_skips_the_row(bad: object) -> None:
    body = copy.deepcopy(fixture("deribit", "book_summary_BTC_future.json"))
    summary_row(body, "BTC-PERPETUAL")["open_interest"] = bad  # type: ignore[index]
    if bad is None:  # null is not a number: the format changed, not one row
        with pytest.raises(SchemaDrift, match="open_interest"):
            deribit.parse(catalog(), cycle(btc=body))
        return
    parsed = deribit.parse(catalog(), cycle(btc=body))
    assert "BTC-PERPETUAL" not in {m.venue_symbol for m in parsed.markets}
    assert len(parsed.skipped) == 1 and parsed.skipped[0].startswith("BTC-PERPETUAL")


def test_zero_mark_price_skips_the_row() -> None:
    usdc = copy.deepcopy(fixture("deribit", "book_summary_USDC_future.json"))
    usdc["result"][0]["mark_price"] = 0  # type: ignore[index]
    parsed = deribit.parse(catalog(), cycle(usdc=usdc))
    assert [s.split(":")[0] for s in parsed.skipped] == ["BTC_USDC-PERPETUAL"]


@pytest.mark.parametrize("field", ["open_interest", "mark_price", "instrument_name"])
def test_drift_missing_summary_field(field: str) -> None:
    body = copy.deepcopy(fixture("deribit", "book_summary_BTC_future.json"))
    del summary_row(body, "BTC-PERPETUAL")[field]  # type: ignore[attr-defined]
    with pytest.raises(SchemaDrift, match=field):
        deribit.parse(catalog(), cycle(btc=body))


@pytest.mark.parametrize("field", ["instrument_type", "settlement_period", "is_active", "base_currency"])
def test_drift_missing_instrument_field(field: str) -> None:
    body = copy.deepcopy(fixture("deribit", "get_instruments_future_BTC.json"))
    del body["result"][0][field]  # type: ignore[index]
    with pytest.raises(SchemaDrift, match=field):
        catalog(**{"instruments:BTC": body})


def test_drift_result_not_a_list() -> None:
    with pytest.raises(SchemaDrift, match="result"):
        deribit.parse(catalog(), cycle(btc={"jsonrpc": "2.0", "result": {"oops": 1}}))


def test_envelope_codes() -> None:
    deribit.check_envelope(fixture("deribit", "book_summary_BTC_future.json"))
    envelope = {"jsonrpc": "2.0", "usIn": 1, "usOut": 2, "usDiff": 1, "testnet": False}
    with pytest.raises(VenueRateLimited):
        deribit.check_envelope({**envelope, "error": {"code": 10028, "message": "too_many_requests"}})
    with pytest.raises(VenueRejected, match="11050"):
        deribit.check_envelope({**envelope, "error": {"code": 11050, "message": "bad_request"}})
    with pytest.raises(SchemaDrift):
        deribit.check_envelope({**envelope, "error": "bad_request"})


@pytest.mark.skipif(not SHARED_EXCHANGES.exists(), reason="shared/exchanges reference folder not present")
def test_every_recorded_sample_parses() -> None:
    by_name = recorded_samples("deribit")
    assert set(by_name) == {
        "get_instruments_future_BTC-PERPETUAL_element.json",
        "get_instrument_BTC_USDC-PERPETUAL.json",
        "ws_ticker_BTC-PERPETUAL.json",
    }, "a new sample: add it below"
    markets = deribit.SPEC.parse_catalog(
        Bodies(
            {
                "instruments:BTC": (by_name["get_instruments_future_BTC-PERPETUAL_element.json"],),
                "instruments:ETH": (EMPTY,),
                "instruments:USDC": (EMPTY,),
            }
        )
    ).markets
    assert list(markets) == ["BTC-PERPETUAL"]
    single = by_name["get_instrument_BTC_USDC-PERPETUAL.json"]
    deribit.check_envelope(single)
    linear = deribit.instrument_market(single["result"])
    assert linear is not None and linear.kind is ContractKind.LINEAR and linear.base == "BTC"
    ticker = by_name["ws_ticker_BTC-PERPETUAL.json"]
    deribit.check_envelope(ticker)
    assert deribit.summary_oi(markets["BTC-PERPETUAL"], ticker_data(ticker)).oi_usd == 333_091_400.0


async def test_simulator_contract() -> None:
    await assert_sim_contract(deribit.SPEC, deribit_sim.SIM)
