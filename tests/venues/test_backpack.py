"""Backpack: openInterest in base units (kBONK bundles of 1000) × markPrice; perps only, one-sided as is."""

from __future__ import annotations

import copy

import pytest

from server.core.errors import MalformedResponse, SchemaDrift, VenueRateLimited, VenueRejected
from server.core.model import ContractKind, Convention, ParsedPoll, PriceKind, Raw, RawUnit
from server.sim.render import backpack as render
from server.venues import backpack
from server.venues.base import Bodies, Catalog
from tests.support import SHARED_EXCHANGES, assert_sim_contract, fixture, market, recorded_samples

MARKETS = fixture("backpack", "markets.json")
OPEN_INTEREST = fixture("backpack", "open_interest.json")
MARK_PRICES = fixture("backpack", "mark_prices.json")


def catalog(markets: object = MARKETS) -> Catalog:
    return backpack.parse_catalog(Bodies({"markets": (markets,)}))


def parse(
    open_interest: object = OPEN_INTEREST, marks: object = MARK_PRICES, cat: Catalog | None = None
) -> ParsedPoll:
    return backpack.parse(
        cat or catalog(), Bodies({"openInterest": (open_interest,), "markPrices": (marks,)})
    )


def market_row(**changes: object) -> dict[str, object]:
    row = copy.deepcopy(MARKETS[0])  # type: ignore[index]
    assert row["symbol"] == "SOL_USDC_PERP"
    row.update(changes)
    return row  # type: ignore[no-any-return]


def test_catalog() -> None:
    markets = catalog().markets
    assert sorted(markets) == ["BTC_USDC_PERP", "SOL_USDC_PERP"]
    assert markets["SOL_USDC_PERP"].kind is ContractKind.LINEAR
    assert markets["SOL_USDC_PERP"].contract_size == 1.0 and markets["SOL_USDC_PERP"].settle == "USDC"
    assert backpack.SPEC.catalog_ttl_s == 300.0  # the page: refresh every few minutes


def test_golden_btc_base_units_times_mark() -> None:
    btc = market(parse(), "BTC_USDC_PERP")
    # openInterest "1273.85214" is BTC (base units; 5 decimals = BTC's step), one-sided, used as is:
    # oi_base = 1,273.85214 BTC; oi_usd = 1,273.85214 × markPrice 118,343.51853741 = 150,752,144.3440094 USD
    assert btc.base == "BTC"
    assert btc.oi_base == pytest.approx(1273.85214, rel=1e-12)
    assert btc.oi_usd == pytest.approx(150_752_144.3440094, abs=1e-4)
    assert btc.price_usd == pytest.approx(118343.51853741)


def test_golden_funding_1h_and_provenance() -> None:
    btc = market(parse(), "BTC_USDC_PERP")
    assert btc.raw == Raw(field="openInterest", value="1273.85214", unit=RawUnit.BASE)
    assert btc.convention is Convention.ONE_SIDED and btc.price_kind is PriceKind.MARK
    assert (btc.kind, btc.margin_asset, btc.margin_type) == (ContractKind.LINEAR, "USDC", "stablecoin")
    assert btc.contract_size is None  # raw counts base units, not contracts
    assert btc.funding is not None
    # fundingRate "0.0001" per the catalog's fundingInterval 3,600,000 ms = 1 h
    assert btc.funding.rate == 0.0001 and btc.funding.interval_hours == 1.0
    # rate_8h = 0.0001 × 8 / 1 = 0.0008; apr = 0.0001 × 8760 / 1 = 0.876
    assert btc.funding.rate_8h == pytest.approx(0.0008, rel=1e-12)
    assert btc.funding.apr == pytest.approx(0.876, rel=1e-12)
    assert btc.funding.next_at_ms == 1753113600000  # nextFundingTimestamp: 2025-07-21T16:00:00Z


def test_golden_funding_8h_interval_from_the_catalog() -> None:
    rows = [market_row(), {**market_row(), "symbol": "BTC_USDC_PERP", "fundingInterval": 28800000}]
    btc = market(parse(cat=catalog(rows)), "BTC_USDC_PERP")
    assert btc.funding is not None and btc.funding.interval_hours == 8.0  # 28,800,000 ms / 3,600,000
    # rate 0.0001 per 8 h: rate_8h = 0.0001; apr = 0.0001 × 8760 / 8 = 0.1095
    assert btc.funding.rate_8h == pytest.approx(0.0001, rel=1e-12)
    assert btc.funding.apr == pytest.approx(0.1095, rel=1e-12)


@pytest.mark.parametrize("value", [None, "", "abc", "NaN", "absent"])
def test_missing_or_malformed_funding_rate_gives_no_funding(value: object) -> None:
    mark = copy.deepcopy(MARK_PRICES[0])  # type: ignore[index]
    if value == "absent":
        del mark["fundingRate"]
    else:
        mark["fundingRate"] = value
    parsed = parse(marks=[mark])
    btc = market(parsed, "BTC_USDC_PERP")
    assert btc.funding is None and not parsed.skipped
    assert btc.oi_usd == pytest.approx(150_752_144.3440094, abs=1e-4)  # the OI reading is untouched


@pytest.mark.parametrize("value", [None, "soon", 1753113600, "absent"])
def test_bad_next_funding_time_keeps_the_rate(value: object) -> None:
    mark = copy.deepcopy(MARK_PRICES[0])  # type: ignore[index]
    if value == "absent":
        del mark["nextFundingTimestamp"]
    else:
        mark["nextFundingTimestamp"] = value  # 1753113600 is seconds, not ms: not a plausible ms time
    btc = market(parse(marks=[mark]), "BTC_USDC_PERP")
    assert btc.funding is not None and btc.funding.rate == 0.0001 and btc.funding.next_at_ms is None


@pytest.mark.parametrize("value", [None, 0, -3600000, "abc", "absent"])
def test_unknown_interval_gives_no_funding(value: object) -> None:
    btc_row = {**market_row(), "symbol": "BTC_USDC_PERP", "fundingInterval": value}
    if value == "absent":
        del btc_row["fundingInterval"]
    cat = catalog([market_row(), btc_row])
    assert sorted(cat.markets) == ["BTC_USDC_PERP", "SOL_USDC_PERP"]  # the market is still counted
    btc = market(parse(cat=cat), "BTC_USDC_PERP")
    assert btc.funding is None and btc.oi_base == pytest.approx(1273.85214, rel=1e-12)


def test_a_catalog_without_intervals_gives_no_funding() -> None:
    plain = Catalog(markets=catalog().markets)  # no funding intervals: none known
    btc = market(parse(cat=plain), "BTC_USDC_PERP")
    assert btc.funding is None and btc.oi_base == pytest.approx(1273.85214, rel=1e-12)


def test_golden_kbonk_thousand_bundle() -> None:
    # Assembled (no recording): kBONK_USDC_PERP, openInterest 48,000,000 kBONK units at markPrice
    # 0.0215 USDC per kBONK.
    # oi_base = 48,000,000 × 1000 = 48,000,000,000 BONK; oi_usd = 48,000,000 × 0.0215 = 1,032,000 USD;
    # price per BONK = 0.0215 / 1000 = 0.0000215
    cat = catalog([market_row(symbol="kBONK_USDC_PERP", baseSymbol="kBONK")])
    bonk = market(
        parse(
            [{"openInterest": "48000000", "symbol": "kBONK_USDC_PERP", "timestamp": 1753105735301}],
            [{**MARK_PRICES[0], "symbol": "kBONK_USDC_PERP", "markPrice": "0.0215"}],  # type: ignore[index]
            cat,
        ),
        "kBONK_USDC_PERP",
    )
    assert bonk.base == "BONK"
    assert bonk.oi_base == pytest.approx(48_000_000_000.0)
    assert bonk.oi_usd == pytest.approx(1_032_000.0)
    assert bonk.price_usd == pytest.approx(0.0000215)


@pytest.mark.parametrize(
    "changes",
    [
        {"marketType": "SPOT", "symbol": "SOL_USDC"},
        {"marketType": "IPERP"},
        {"marketType": "DATED"},
        {"marketType": "PREDICTION"},
        {"orderBookState": "Closed"},
        {"orderBookState": "CancelOnly"},
        {"visible": False},
        {"rwaMarketType": "STOCK"},
        {"symbol": "NVDA.US_USDC_PERP", "baseSymbol": "NVDA.US"},
    ],
)
def test_not_counted_markets(changes: dict[str, object]) -> None:
    assert catalog([market_row(**changes)]).markets == {}


def test_visible_absent_in_older_responses_counts() -> None:
    row = market_row()
    del row["visible"]
    assert list(catalog([row]).markets) == ["SOL_USDC_PERP"]


def test_unpriced_or_unknown_market_is_not_counted() -> None:
    rows = [*OPEN_INTEREST, {"openInterest": "100", "symbol": "SOL_USDC_PERP", "timestamp": 1}]  # type: ignore[misc]
    rows.append({"openInterest": "5", "symbol": "SOL_USDC", "timestamp": 1})  # spot: not in the catalog
    parsed = parse(rows)  # markPrices has BTC only
    assert [m.venue_symbol for m in parsed.markets] == ["BTC_USDC_PERP"]


@pytest.mark.parametrize("bad", ["NaN", "-5", "abc", "1e300"])
def test_bad_open_interest_skips_the_row(bad: str) -> None:
    rows = [{**OPEN_INTEREST[0], "openInterest": bad}]  # type: ignore[index]
    with pytest.raises(MalformedResponse, match="rows skipped"):
        parse(rows)


@pytest.mark.parametrize("bad", ["NaN", "0", "-1"])
def test_bad_mark_skips_the_row(bad: str) -> None:
    with pytest.raises(MalformedResponse, match="rows skipped"):
        parse(marks=[{**MARK_PRICES[0], "markPrice": bad}])  # type: ignore[index]


def test_drift_missing_fields() -> None:
    rows = [{k: v for k, v in OPEN_INTEREST[0].items() if k != "openInterest"}]  # type: ignore[index]
    with pytest.raises(SchemaDrift, match="openInterest"):
        parse(rows)
    marks = [{k: v for k, v in MARK_PRICES[0].items() if k != "markPrice"}]  # type: ignore[index]
    with pytest.raises(SchemaDrift, match="markPrice"):
        parse(marks=marks)
    row = market_row()
    del row["orderBookState"]
    with pytest.raises(SchemaDrift, match="orderBookState"):
        catalog([row])


def test_drift_not_an_array() -> None:
    with pytest.raises(SchemaDrift, match="openInterest"):
        parse(OPEN_INTEREST[0])  # type: ignore[index]


def test_envelope_codes() -> None:
    backpack.check_envelope(OPEN_INTEREST)
    with pytest.raises(VenueRateLimited):
        backpack.check_envelope({"code": "TOO_MANY_REQUESTS", "message": "Too many requests"})
    with pytest.raises(VenueRejected, match="INVALID_SYMBOL"):
        backpack.check_envelope({"code": "INVALID_SYMBOL", "message": "Invalid symbol"})


def test_requests_are_bulk() -> None:
    requests = backpack.SPEC.cycle_requests(catalog())
    assert [(r.path, r.params) for r in requests] == [
        ("/api/v1/openInterest", ()),
        ("/api/v1/markPrices", ()),
    ]
    assert [r.path for r in backpack.SPEC.catalog_requests] == ["/api/v1/markets"]


@pytest.mark.skipif(not SHARED_EXCHANGES.exists(), reason="shared/exchanges reference pages not present")
def test_every_recorded_sample_parses() -> None:
    samples = recorded_samples("backpack")
    assert set(samples) == {
        "markets_perp_element.json",
        "mark_prices_element.json",
        "open_interest.json",
    }
    # the two *_element samples are single elements of array answers
    assert list(catalog([samples["markets_perp_element.json"]]).markets) == ["SOL_USDC_PERP"]
    parsed = parse(samples["open_interest.json"], [samples["mark_prices_element.json"]])
    assert market(parsed, "BTC_USDC_PERP").oi_usd > 0


async def test_sim_contract() -> None:
    await assert_sim_contract(backpack.SPEC, render.SIM)
