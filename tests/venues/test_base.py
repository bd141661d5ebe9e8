"""The shared venue helpers of server/venues/base.py: catalogs, fixed cycle requests, rows of a body
field, price fallback chains and in-body status codes, each checked on its own (the venue tests
cover them in context)."""

from __future__ import annotations

import pytest

from server.core.errors import ImplausibleValue, SchemaDrift, VenueRateLimited, VenueRejected
from server.core.model import ContractKind, Market
from server.venues.base import (
    Catalog,
    Request,
    always,
    catalog_of,
    code_envelope,
    field_rows,
    first_price,
    num,
    opt_num,
    text,
)


def linear(symbol: str, base: str = "BTC") -> Market:
    return Market(
        venue_symbol=symbol,
        base=base,
        base_factor=1.0,
        kind=ContractKind.LINEAR,
        contract_size=1.0,
        settle="USDT",
    )


# --- strict readers (their fast paths must keep the general rules) ----------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [("61234.5", 61234.5), (61234.5, 61234.5), (7, 7.0), ("1e3", 1000.0)]
)
def test_num_reads_json_numbers_and_numeric_strings(value: object, expected: float) -> None:
    assert num({"x": value}, "x") == expected


class _Text(str):
    pass


class _Int(int):
    pass


def test_num_reads_subclasses_by_the_same_rules() -> None:
    assert num({"x": _Text("2.5")}, "x") == 2.5
    assert num({"x": _Int(3)}, "x") == 3.0
    with pytest.raises(ImplausibleValue):
        num({"x": _Text("nan")}, "x")


@pytest.mark.parametrize("value", ["abc", "", "nan", "inf", "-Infinity", 10**400, float("inf")])
def test_num_an_unusable_value_is_one_bad_row(value: object) -> None:
    """10**400 used to escape as OverflowError (no venue error type): now a skipped row."""
    with pytest.raises(ImplausibleValue, match="'x'"):
        num({"x": value}, "x")


@pytest.mark.parametrize("value", [True, None, [1], {"v": 1}])
def test_num_a_value_of_the_wrong_type_is_drift(value: object) -> None:
    with pytest.raises(SchemaDrift, match="'x'"):
        num({"x": value}, "x")


def test_num_and_text_missing_field_is_drift() -> None:
    with pytest.raises(SchemaDrift, match="missing field 'x'"):
        num({}, "x")
    with pytest.raises(SchemaDrift, match="missing field 'x'"):
        text({}, "x")


def test_opt_num_absent_null_or_empty_is_none() -> None:
    assert opt_num({}, "x") is None
    assert opt_num({"x": None}, "x") is None
    assert opt_num({"x": ""}, "x") is None
    assert opt_num({"x": "0.5"}, "x") == 0.5


def test_text_accepts_strings_only() -> None:
    assert text({"x": "BTC"}, "x") == "BTC"
    assert text({"x": _Text("ETH")}, "x") == "ETH"
    with pytest.raises(SchemaDrift, match="expected a string"):
        text({"x": 1}, "x")


# --- catalog_of -------------------------------------------------------------------------------------


def test_catalog_of_keys_markets_by_venue_symbol_and_drops_none() -> None:
    btc, eth = linear("BTCUSDT"), linear("ETHUSDT", "ETH")
    catalog = catalog_of(iter([btc, None, eth, None]))
    assert dict(catalog.markets) == {"BTCUSDT": btc, "ETHUSDT": eth}
    assert list(catalog.markets) == ["BTCUSDT", "ETHUSDT"]  # row order kept
    assert catalog.weight_limit_per_minute is None and catalog.groups == ()


def test_catalog_of_a_symbol_listed_twice_keeps_the_last() -> None:
    first, second = linear("BTCUSDT"), linear("BTCUSDT", "XBT")
    assert catalog_of([first, second]).markets == {"BTCUSDT": second}


def test_catalog_of_passes_budget_and_groups() -> None:
    catalog = catalog_of([linear("BTC-PERPETUAL")], weight_limit_per_minute=2400, groups=("BTC", "USDC"))
    assert catalog.weight_limit_per_minute == 2400 and catalog.groups == ("BTC", "USDC")


def test_catalog_of_nothing_is_an_empty_catalog() -> None:
    assert catalog_of([None, None]) == Catalog()


# --- always -------------------------------------------------------------------------------------------


def test_always_gives_the_same_requests_whatever_the_catalog() -> None:
    oi = Request(key="openInterest", path="/oi", params=(("instType", "SWAP"),))
    mark = Request(key="markPrice", path="/mark")
    cycle_requests = always(oi, mark)
    assert cycle_requests(Catalog()) == (oi, mark)
    assert cycle_requests(catalog_of([linear("BTCUSDT")])) == (oi, mark)


def test_always_with_no_request_asks_for_nothing() -> None:
    assert always()(Catalog()) == ()


# --- field_rows ---------------------------------------------------------------------------------------


def test_field_rows_reads_the_array_of_objects_in_a_field() -> None:
    body = {"code": "0", "data": [{"instId": "BTC-USDT-SWAP"}, {"instId": "ETH-USDT-SWAP"}]}
    assert [row["instId"] for row in field_rows(body, "data", "instruments")] == [
        "BTC-USDT-SWAP",
        "ETH-USDT-SWAP",
    ]
    assert field_rows({"result": []}, "result", "get_instruments") == []


def test_field_rows_drift_names_the_body_and_the_field() -> None:
    with pytest.raises(SchemaDrift, match="instruments: expected an object"):
        field_rows([], "data", "instruments")
    with pytest.raises(SchemaDrift, match="missing field 'data'"):
        field_rows({"code": "0"}, "data", "instruments")
    with pytest.raises(SchemaDrift, match=r"instruments\.data: expected an array"):
        field_rows({"data": {"instId": "BTC-USDT-SWAP"}}, "data", "instruments")
    with pytest.raises(SchemaDrift, match=r"instruments\.data\[1\]: expected an object"):
        field_rows({"data": [{}, "BTC"]}, "data", "instruments")


# --- first_price ------------------------------------------------------------------------------------

NAMES = ("markPrice", "indexPrice", "lastPr")


def test_first_price_takes_the_first_field_when_it_is_usable() -> None:
    assert first_price({"markPrice": "101.5", "indexPrice": "100", "lastPr": "99"}, NAMES) == 101.5


@pytest.mark.parametrize("empty", ["", None, "0", 0, "-3"])
def test_first_price_falls_back_past_an_empty_zero_or_negative_field(empty: object) -> None:
    assert first_price({"markPrice": empty, "indexPrice": "100", "lastPr": "99"}, NAMES) == 100.0


def test_first_price_reaches_the_last_field_and_skips_absent_fallbacks() -> None:
    assert first_price({"markPrice": "0", "lastPr": "99"}, NAMES) == 99.0


def test_first_price_first_field_is_required() -> None:
    with pytest.raises(SchemaDrift, match="markPrice"):
        first_price({"indexPrice": "100", "lastPr": "99"}, NAMES)


def test_first_price_none_usable_names_every_field() -> None:
    with pytest.raises(ImplausibleValue, match="markPrice, indexPrice, lastPr"):
        first_price({"markPrice": "0", "indexPrice": "", "lastPr": None}, NAMES)


def test_first_price_a_malformed_field_is_not_skipped() -> None:
    with pytest.raises(ImplausibleValue, match="indexPrice"):
        first_price({"markPrice": "0", "indexPrice": "abc", "lastPr": "99"}, NAMES)
    with pytest.raises(ImplausibleValue, match="markPrice"):
        first_price({"markPrice": "NaN", "indexPrice": "100"}, NAMES)


def test_first_price_reads_no_further_than_the_usable_field() -> None:
    assert first_price({"markPrice": "5", "indexPrice": "abc"}, NAMES) == 5.0


def test_first_price_usable_decides_what_falls_back() -> None:
    def nonzero(price: float) -> bool:
        return price != 0

    assert first_price({"markPrice": "0", "indexPrice": "-2", "lastPr": "99"}, NAMES, usable=nonzero) == -2.0
    assert first_price({"markPrice": "-2", "indexPrice": "100"}, NAMES, usable=nonzero) == -2.0


def test_first_price_with_num_every_field_read_is_required() -> None:
    assert (
        first_price(
            {"fairPrice": -1, "indexPrice": 0, "lastPrice": 7},
            ("fairPrice", "indexPrice", "lastPrice"),
            read=num,
        )
        == 7.0
    )
    with pytest.raises(SchemaDrift, match="indexPrice"):
        first_price({"fairPrice": 0, "lastPrice": 7}, ("fairPrice", "indexPrice", "lastPrice"), read=num)
    with pytest.raises(SchemaDrift, match="indexPrice"):
        first_price(
            {"fairPrice": 0, "indexPrice": None, "lastPrice": 7}, ("fairPrice", "indexPrice"), read=num
        )
    assert first_price({"fairPrice": 3}, ("fairPrice", "indexPrice"), read=num) == 3.0  # never read further


# --- code_envelope ----------------------------------------------------------------------------------

check = code_envelope("okx", "code", "0", rate_limited=("50011",), retry_after_s=2.0)


def test_code_envelope_success_passes() -> None:
    check({"code": "0", "msg": "", "data": []})


def test_code_envelope_rate_limit_code() -> None:
    with pytest.raises(VenueRateLimited, match=r"okx code 50011: Too Many Requests") as raised:
        check({"code": "50011", "msg": "Too Many Requests", "data": []})
    assert raised.value.retry_after_s == 2.0


def test_code_envelope_other_code_is_rejected_with_the_message_truncated() -> None:
    with pytest.raises(VenueRejected, match=r"^okx code 51001: x{120}$"):
        check({"code": "51001", "msg": "x" * 500})


def test_code_envelope_success_value_is_compared_with_its_type() -> None:
    bybit = code_envelope(
        "bybit", "retCode", 0, message_field="retMsg", rate_limited=(10006,), retry_after_s=5.0
    )
    bybit({"retCode": 0, "retMsg": "OK"})
    with pytest.raises(VenueRejected, match="bybit retCode 0: OK"):
        bybit({"retCode": "0", "retMsg": "OK"})  # a string "0" is not Bybit's success
    with pytest.raises(VenueRateLimited, match="bybit retCode 10006: too many visits"):
        bybit({"retCode": 10006, "retMsg": "too many visits"})


def test_code_envelope_without_rate_limit_codes_rejects_every_failure() -> None:
    bitget = code_envelope("bitget", "code", "00000")
    with pytest.raises(VenueRejected, match="bitget code 429: None"):
        bitget({"code": "429"})


def test_code_envelope_several_rate_limit_codes() -> None:
    kucoin = code_envelope("kucoin", "code", "200000", rate_limited=frozenset({"429000", "200002"}))
    for code in ("429000", "200002"):
        with pytest.raises(VenueRateLimited):
            kucoin({"code": code, "msg": "slow down"})


def test_code_envelope_drift() -> None:
    with pytest.raises(SchemaDrift, match="code"):
        check({"data": []})
    with pytest.raises(SchemaDrift, match="okx response"):
        check([{"code": "0"}])
