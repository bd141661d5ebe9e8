"""Coinbase: INTX perps in base units × mark; US CDE perp-style futures in contracts × size × price."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from server.core.errors import MalformedResponse, SchemaDrift, VenueRejected
from server.core.model import ContractKind, Convention, MarketOI, ParsedPoll, PriceKind, Raw, RawUnit
from server.sim.render import coinbase as render
from server.venues import coinbase
from server.venues.base import Bodies, Catalog, Request
from tests.support import SHARED_EXCHANGES, assert_sim_contract, fixture, market, recorded_samples

INSTRUMENTS = fixture("coinbase", "intx_instruments.json")
PRODUCTS = fixture("coinbase", "advanced_trade_products_future.json")


def intx(body: object) -> ParsedPoll:
    return coinbase.parse_intx(Catalog(), Bodies({"instruments": (body,)}))


def cde(*pages: object) -> ParsedPoll:
    return coinbase.parse_cde(Catalog(), Bodies({"products": pages}))


def btc_perp_row(**changes: object) -> dict[str, object]:
    row = copy.deepcopy(INSTRUMENTS[1])  # type: ignore[index]
    assert row["symbol"] == "BTC-PERP"
    row.update(changes)
    return row  # type: ignore[no-any-return]


def bip_body(change: Callable[[dict[str, object], dict[str, object]], object]) -> object:
    """The recorded products body with ``change(product, details)`` applied to BIP-20DEC30-CDE."""
    body = copy.deepcopy(PRODUCTS)
    product = body["products"][0]  # type: ignore[index]
    change(product, product["future_product_details"])
    return body


# --- INTX ----------------------------------------------------------------------------------------


def test_golden_intx_btc_perp_base_units_times_mark() -> None:
    parsed = intx(INSTRUMENTS)
    assert [m.venue_symbol for m in parsed.markets] == ["BTC-PERP"]  # BTC-USDC is SPOT: skipped
    btc = market(parsed, "BTC-PERP")
    # open_interest "899.6503" is BTC (base units), one-sided, used as is (not halved):
    # oi_base = 899.6503 BTC; oi_usd = 899.6503 × mark_price 98544.5 = 88,655,588.98835 USD
    assert btc.base == "BTC"
    assert btc.oi_base == pytest.approx(899.6503, rel=1e-12)
    assert btc.oi_usd == pytest.approx(88_655_588.98835, abs=1e-4)
    assert btc.price_usd == pytest.approx(98544.5)


def test_golden_intx_single_instrument_answer() -> None:
    # /instruments/BTC-PERP is the same object: oi_usd = 899.6503 × mark 97908.8 = 88,083,681.29264 USD
    btc = coinbase.instrument_oi(fixture("coinbase", "intx_instrument_BTC-PERP.json"))  # type: ignore[arg-type]
    assert btc is not None
    assert btc.oi_base == pytest.approx(899.6503, rel=1e-12)
    assert btc.oi_usd == pytest.approx(88_083_681.29264, abs=1e-4)


def shib_row(name: str, multiplier: str) -> dict[str, object]:
    row = btc_perp_row(symbol="1000SHIB-PERP", base_asset_name=name, base_asset_multiplier=multiplier)
    row["open_interest"] = "2500000"
    row["quote"]["mark_price"] = "0.0155"  # type: ignore[index]
    return row


@pytest.mark.parametrize(
    ("name", "multiplier"),
    [("1000SHIB", "1.0"), ("SHIB", "1000.0"), ("1000SHIB", "1000.0")],
    ids=["prefixed-name", "multiplier", "both-spellings"],
)
def test_golden_intx_1000shib_bundle(name: str, multiplier: str) -> None:
    # Assembled (no recording): 2,500,000 units of "1000SHIB" at mark 0.0155 USDC per 1000 SHIB.
    # oi_base = 2,500,000 × 1000 = 2,500,000,000 SHIB (never × 1000 twice);
    # oi_usd = 2,500,000 × 0.0155 = 38,750 USD; price per SHIB = 0.0155 / 1000 = 0.0000155
    shib = market(intx([shib_row(name, multiplier)]), "1000SHIB-PERP")
    assert shib.base == "SHIB"
    assert shib.oi_base == pytest.approx(2_500_000_000.0)
    assert shib.oi_usd == pytest.approx(38_750.0)
    assert shib.price_usd == pytest.approx(0.0000155)


def test_golden_intx_funding_is_the_predicted_rate_and_provenance() -> None:
    btc = market(intx(INSTRUMENTS), "BTC-PERP")
    assert btc.raw == Raw(field="open_interest", value="899.6503", unit=RawUnit.BASE)
    assert btc.convention is Convention.ONE_SIDED and btc.price_kind is PriceKind.MARK
    assert (btc.kind, btc.margin_asset, btc.margin_type) == (ContractKind.LINEAR, "USDC", "stablecoin")
    assert btc.contract_size is None  # raw counts base units, not contracts
    assert btc.funding is not None
    # quote.predicted_funding "0.000031" per funding_interval "3600000000000" ns = 1 h
    assert btc.funding.rate == 0.000031 and btc.funding.interval_hours == 1.0
    # rate_8h = 0.000031 × 8 / 1 = 0.000248; apr = 0.000031 × 8760 / 1 = 0.27156
    assert btc.funding.rate_8h == pytest.approx(0.000248, rel=1e-12)
    assert btc.funding.apr == pytest.approx(0.27156, rel=1e-12)
    assert btc.funding.next_at_ms is None
    single = coinbase.instrument_oi(fixture("coinbase", "intx_instrument_BTC-PERP.json"))  # type: ignore[arg-type]
    # a negative prediction: shorts pay longs; "-0.000044" per 1 h: apr = -0.000044 × 8760 = -0.38544
    assert single is not None and single.funding is not None
    assert single.funding.apr == pytest.approx(-0.38544, rel=1e-12)


@pytest.mark.parametrize("value", [None, "", "abc", "absent"])
def test_intx_missing_or_malformed_funding_gives_no_funding(value: object) -> None:
    row = btc_perp_row()
    quote = row["quote"]
    assert isinstance(quote, dict)
    if value == "absent":
        del quote["predicted_funding"]
    else:
        quote["predicted_funding"] = value
    parsed = intx([row])
    btc = market(parsed, "BTC-PERP")
    assert btc.funding is None and not parsed.skipped
    assert btc.oi_usd == pytest.approx(88_655_588.98835, abs=1e-4)  # the OI reading is untouched


@pytest.mark.parametrize("value", ["0", "-3600000000000", "1h", None])
def test_intx_unknown_interval_gives_no_funding(value: object) -> None:
    btc = market(intx([btc_perp_row(funding_interval=value)]), "BTC-PERP")
    assert btc.funding is None and btc.oi_base == pytest.approx(899.6503, rel=1e-12)


@pytest.mark.parametrize(("field", "value"), [("trading_state", "DELISTED"), ("type", "SPOT")])
def test_intx_not_trading_or_not_perp_is_skipped(field: str, value: str) -> None:
    with pytest.raises(MalformedResponse, match="no perpetual markets"):
        intx([btc_perp_row(**{field: value})])


@pytest.mark.parametrize("bad", ["NaN", "-5", "abc", "1e300", ""])
def test_intx_bad_open_interest_skips_only_that_row(bad: str) -> None:
    parsed = intx([btc_perp_row(), btc_perp_row(symbol="ETH-PERP", base_asset_name="ETH", open_interest=bad)])
    assert [m.venue_symbol for m in parsed.markets] == ["BTC-PERP"]
    assert len(parsed.skipped) == 1 and parsed.skipped[0].startswith("ETH-PERP")


def test_intx_missing_mark_skips_the_row() -> None:
    row = btc_perp_row(symbol="ETH-PERP", base_asset_name="ETH")
    del row["quote"]["mark_price"]  # type: ignore[attr-defined]
    parsed = intx([btc_perp_row(), row])
    assert [m.venue_symbol for m in parsed.markets] == ["BTC-PERP"] and len(parsed.skipped) == 1


@pytest.mark.parametrize("field", ["open_interest", "base_asset_name", "quote", "trading_state"])
def test_intx_drift_missing_field(field: str) -> None:
    row = btc_perp_row()
    del row[field]
    with pytest.raises(SchemaDrift, match=field):
        intx([row])


def test_intx_drift_not_an_array() -> None:
    with pytest.raises(SchemaDrift, match="instruments"):
        intx({"instruments": INSTRUMENTS})


# --- CDE -----------------------------------------------------------------------------------------


def test_golden_cde_nano_btc_perp_contracts_times_size() -> None:
    parsed = cde(PRODUCTS)
    assert [m.venue_symbol for m in parsed.markets] == ["BIP-20DEC30-CDE"]  # dated BIT-24APR26-CDE skipped
    bip = market(parsed, "BIP-20DEC30-CDE")
    # open_interest "183283" contracts × contract_size "0.01" BTC = 1,832.83 BTC (one-sided, as is);
    # oi_usd = 1,832.83 × price (last) 68930 = 126,336,971.90 USD
    assert bip.base == "BTC"
    assert bip.oi_base == pytest.approx(1832.83, rel=1e-12)
    assert bip.oi_usd == pytest.approx(126_336_971.90, abs=1e-4)
    assert bip.price_usd == pytest.approx(68930.0)


def test_cde_both_open_interest_fields_agree() -> None:
    # The venue repeats open_interest under perpetual_details: the field we read must be that one.
    for product in PRODUCTS["products"]:  # type: ignore[index]
        details = product["future_product_details"]
        assert details["open_interest"] == details["perpetual_details"]["open_interest"]


def test_cde_price_falls_back_to_mid_then_index() -> None:
    def no_last(product: dict[str, object], _: dict[str, object]) -> None:
        product["price"] = ""

    def index_only(product: dict[str, object], _: dict[str, object]) -> None:
        product.update(price="", mid_market_price="")

    # 1,832.83 BTC × mid_market_price 68925 = 126,327,807.75 USD
    mid = market(cde(bip_body(no_last)), "BIP-20DEC30-CDE")
    assert mid.oi_usd == pytest.approx(126_327_807.75) and mid.price_kind is PriceKind.MID
    # 1,832.83 BTC × index_price 68899.882564 = 126,281,771.75977612 USD
    index = market(cde(bip_body(index_only)), "BIP-20DEC30-CDE")
    assert index.oi_usd == pytest.approx(126_281_771.75977612, abs=1e-4)
    assert index.price_kind is PriceKind.INDEX


def test_golden_cde_funding_and_provenance() -> None:
    bip = market(cde(PRODUCTS), "BIP-20DEC30-CDE")
    assert bip.raw == Raw(field="open_interest", value="183283", unit=RawUnit.CONTRACTS)
    assert bip.convention is Convention.ONE_SIDED and bip.price_kind is PriceKind.LAST  # price "68930"
    assert (bip.kind, bip.margin_asset, bip.contract_size) == (ContractKind.LINEAR, "USD", 0.01)
    assert bip.funding is not None
    # funding_rate "0.000013" per funding_interval "3600s" = 1 h
    assert bip.funding.rate == 0.000013 and bip.funding.interval_hours == 1.0
    # rate_8h = 0.000013 × 8 / 1 = 0.000104; apr = 0.000013 × 8760 / 1 = 0.11388
    assert bip.funding.rate_8h == pytest.approx(0.000104, rel=1e-12)
    assert bip.funding.apr == pytest.approx(0.11388, rel=1e-12)
    assert bip.funding.next_at_ms is None  # funding_time's meaning (last or next) is undocumented


@pytest.mark.parametrize("value", ["", None, "abc", "absent"])
def test_cde_missing_or_malformed_funding_rate_gives_no_funding(value: object) -> None:
    def change(_: dict[str, object], details: dict[str, object]) -> None:
        if value == "absent":
            del details["funding_rate"]
        else:
            details["funding_rate"] = value

    parsed = cde(bip_body(change))
    bip = market(parsed, "BIP-20DEC30-CDE")
    assert bip.funding is None and not parsed.skipped
    assert bip.oi_usd == pytest.approx(126_336_971.90, abs=1e-4)  # the OI reading is untouched


@pytest.mark.parametrize("value", ["3600", "1h", "0s", "-3600s", "s"])
def test_cde_unknown_interval_gives_no_funding(value: str) -> None:
    def change(_: dict[str, object], details: dict[str, object]) -> None:
        details["funding_interval"] = value

    bip = market(cde(bip_body(change)), "BIP-20DEC30-CDE")
    assert bip.funding is None and bip.oi_base == pytest.approx(1832.83, rel=1e-12)


def test_cde_without_any_price_is_a_skipped_row() -> None:
    def no_price(product: dict[str, object], details: dict[str, object]) -> None:
        product.update(price="", mid_market_price="")
        details["index_price"] = ""

    with pytest.raises(MalformedResponse, match="rows skipped"):
        cde(bip_body(no_price))


def test_cde_perp_style_detected_without_funding_interval() -> None:
    def no_funding(_: dict[str, object], details: dict[str, object]) -> None:
        details["funding_interval"] = None  # display_name "BTC PERP" still says perp

    assert market(cde(bip_body(no_funding)), "BIP-20DEC30-CDE").oi_base == pytest.approx(1832.83)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("product_venue", "INTX"),  # INTX perps are counted from the INTX API only
        ("trading_disabled", True),
        ("is_disabled", True),
        ("cancel_only", True),
    ],
)
def test_cde_skipped_products(field: str, value: object) -> None:
    with pytest.raises(MalformedResponse, match="no perpetual markets"):
        cde(bip_body(lambda product, _: product.update({field: value})))


def test_cde_non_crypto_skipped() -> None:
    with pytest.raises(MalformedResponse, match="no perpetual markets"):
        cde(bip_body(lambda _, details: details.update(futures_asset_type="FUTURES_ASSET_TYPE_ENERGY")))


@pytest.mark.parametrize("bad", ["NaN", "-5", "abc", "1e300"])
def test_cde_bad_open_interest_skips_the_row(bad: str) -> None:
    with pytest.raises(MalformedResponse, match="rows skipped"):
        cde(bip_body(lambda _, details: details.update(open_interest=bad)))


@pytest.mark.parametrize(
    "field", ["open_interest", "contract_size", "contract_root_unit", "funding_interval"]
)
def test_cde_drift_missing_detail(field: str) -> None:
    with pytest.raises(SchemaDrift, match=field):
        cde(bip_body(lambda _, details: details.pop(field)))


def test_cde_drift_missing_products() -> None:
    with pytest.raises(SchemaDrift, match="products"):
        cde({"num_products": 0, "pagination": None})


def test_cde_pages_follow_next_cursor() -> None:
    request = coinbase.SPEC.cycle_requests(Catalog())[1]
    assert request.host == "us" and request.path == "/api/v3/brokerage/market/products"
    assert ("product_type", "FUTURE") in request.params
    assert coinbase.next_page(request, PRODUCTS) is None  # "pagination": null
    more = {**PRODUCTS, "pagination": {"next_cursor": "abc", "has_next": True}}  # type: ignore[dict-item]
    following = coinbase.next_page(request, more)
    assert isinstance(following, Request) and ("cursor", "abc") in following.params
    assert (
        coinbase.next_page(following, {**more, "pagination": {"next_cursor": "", "has_next": False}}) is None
    )
    # two pages are read as one list
    second = bip_body(lambda product, _: product.update(product_id="ETP-20DEC30-CDE"))
    assert len(cde(PRODUCTS, second).markets) == 2


def test_envelope() -> None:
    coinbase.check_envelope(PRODUCTS)
    coinbase.check_envelope(INSTRUMENTS)
    with pytest.raises(VenueRejected, match="INVALID_ARGUMENT"):
        coinbase.check_envelope(
            {"error": "INVALID_ARGUMENT", "code": 3, "message": "invalid product_type", "details": []}
        )


def test_requests_span_both_hosts() -> None:
    assert coinbase.SPEC.id == "coinbase" and coinbase.SPEC.catalog_requests == ()
    assert [(r.host, r.path) for r in coinbase.SPEC.cycle_requests(Catalog())] == [
        ("", "/api/v1/instruments"),
        ("us", "/api/v3/brokerage/market/products"),
    ]
    assert coinbase.SPEC.live_urls() == {
        "": "https://api.international.coinbase.com",
        "us": "https://api.coinbase.com",
    }
    assert coinbase.next_page(coinbase.SPEC.cycle_requests(Catalog())[0], PRODUCTS) is None


def test_both_books_add_up_under_one_source() -> None:
    both = coinbase.parse(Catalog(), Bodies({"instruments": (INSTRUMENTS,), "products": (PRODUCTS,)}))
    intx_only, cde_only = intx(INSTRUMENTS), cde(PRODUCTS)
    assert sorted(m.venue_symbol for m in both.markets) == sorted(
        [m.venue_symbol for m in intx_only.markets] + [m.venue_symbol for m in cde_only.markets]
    )
    assert {m.base for m in both.markets} == {"BTC"}


# --- recorded samples and simulator --------------------------------------------------------------

SAMPLE_PARSERS: dict[str, Callable[[object], list[MarketOI]]] = {
    "intx_instruments.json": lambda body: list(intx(body).markets),
    "intx_instrument_BTC-PERP.json": lambda body: [m for m in [coinbase.instrument_oi(body)] if m],  # type: ignore[arg-type]
    "advanced_trade_products_future.json": lambda body: list(cde(body).markets),
}


@pytest.mark.skipif(not SHARED_EXCHANGES.exists(), reason="shared/exchanges reference pages not present")
def test_every_recorded_sample_parses() -> None:
    samples = recorded_samples("coinbase")
    assert set(samples) == set(SAMPLE_PARSERS)
    for name, body in samples.items():
        parsed = SAMPLE_PARSERS[name](body)
        assert parsed and all(m.base == "BTC" and m.oi_usd > 0 for m in parsed), name


async def test_sim_contract() -> None:
    await assert_sim_contract(coinbase.SPEC, render.SIM)
