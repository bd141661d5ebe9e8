"""Gate: contracts' ``position_size`` (one side) in contracts of quanto_multiplier base units (USDT) or
1 USD (BTC_USD), priced by the same row's mark price; funding from the same row."""

from __future__ import annotations

import copy

import pytest

from server.core.errors import MalformedResponse, SchemaDrift, VenueRateLimited, VenueRejected
from server.core.model import ContractKind, Convention, PriceKind, Raw, RawUnit
from server.sim.render import gateio as gateio_sim
from server.venues import gateio
from server.venues.base import Bodies, Catalog
from tests.support import SHARED_EXCHANGES, assert_sim_contract, fixture, market, recorded_samples

SETTLES = ("usdt", "btc")
SAMPLES = SHARED_EXCHANGES / "gateio" / "samples"


def contracts(settle: str = "usdt") -> list[dict[str, object]]:
    return copy.deepcopy(fixture("gateio", f"contracts_{settle}.json"))  # type: ignore[arg-type]


def tickers(settle: str = "usdt") -> list[dict[str, object]]:
    return copy.deepcopy(fixture("gateio", f"tickers_{settle}.json"))  # type: ignore[arg-type]


def bodies(contract_bodies: dict[str, object], ticker_bodies: dict[str, object]) -> Bodies:
    """Contracts for both settles (overridable), and tickers where given (None: that call failed)."""
    found: dict[str, tuple[object, ...]] = {}
    for settle in SETTLES:
        found[f"contracts:{settle}"] = (contract_bodies.get(settle, contracts(settle)),)
        ticker = ticker_bodies.get(settle, tickers(settle))
        if ticker is not None:
            found[f"tickers:{settle}"] = (ticker,)
    return Bodies(found)


def catalog(tickers_too: dict[str, object] | None = None, **override: object) -> Catalog:
    return gateio.parse_catalog(bodies(override, tickers_too or {}))


def cycle(tickers_too: dict[str, object] | None = None, **override: object) -> Bodies:
    return bodies(override, tickers_too or {})


def usdt_row(name: str, multiplier: str, position_size: str, mark_price: str) -> list[dict[str, object]]:
    """The recorded BTC_USDT contracts row renamed, with another multiplier and figures."""
    rows = contracts()
    rows[0].update(
        name=name, quanto_multiplier=multiplier, position_size=position_size, mark_price=mark_price
    )
    return rows


def test_catalog_contract_sizes() -> None:
    markets = catalog().markets
    assert markets["BTC_USDT"].kind is ContractKind.LINEAR and markets["BTC_USDT"].contract_size == 0.0001
    assert markets["BTC_USD"].kind is ContractKind.INVERSE and markets["BTC_USD"].contract_size == 1.0
    assert markets["BTC_USD"].settle == "BTC" and {m.base for m in markets.values()} == {"BTC"}


def test_golden_usdt_linear_position_size() -> None:
    btc = market(gateio.parse(catalog(), cycle()), "BTC_USDT")
    # contracts position_size 5,223,816 contracts (long side) × quanto_multiplier 0.0001 BTC = 522.3816 BTC
    # oi_usd = 522.3816 BTC × the same row's mark_price 37,985.6 USDT = 19,842,978.50496 USD
    assert btc.base == "BTC"
    assert btc.oi_base == pytest.approx(522.3816, rel=1e-12)
    assert btc.oi_usd == pytest.approx(19_842_978.50496, abs=0.001)
    assert btc.price_usd == pytest.approx(37_985.6)


def test_golden_btc_settled_inverse_one_usd_contracts() -> None:
    btc = market(gateio.parse(catalog(), cycle()), "BTC_USD")
    # quanto_multiplier "0" on the inverse contract: one contract = 1 USD
    # oi_usd = position_size 12,785,272 contracts × 1 USD = 12,785,272 USD
    # oi_base = 12,785,272 USD / mark_price 62,221.82 = 205.478913989 BTC
    assert btc.oi_usd == pytest.approx(12_785_272.0)
    assert btc.oi_base == pytest.approx(205.478913989, rel=1e-9)


def test_golden_provenance() -> None:
    parsed = gateio.parse(catalog(), cycle())
    btc = market(parsed, "BTC_USDT")
    assert btc.raw == Raw(field="position_size", value="5223816", unit=RawUnit.CONTRACTS)
    assert btc.convention is Convention.SINGLE_SIDE_FIELD
    assert btc.price_kind is PriceKind.MARK
    assert btc.contract_size == 0.0001 and btc.margin_asset == "USDT" and btc.kind is ContractKind.LINEAR
    inverse = market(parsed, "BTC_USD")
    assert inverse.raw == Raw(field="position_size", value="12785272", unit=RawUnit.CONTRACTS)
    assert (
        inverse.contract_size == 1.0
        and inverse.margin_asset == "BTC"
        and inverse.kind is ContractKind.INVERSE
    )


def test_golden_funding() -> None:
    funding = market(gateio.parse(catalog(), cycle()), "BTC_USDT").funding
    # funding_rate "0.002053" per funding_interval 28,800 s = 8 h; funding_next_apply 1,610,035,200 s:
    # rate_8h = 0.002053 × 8 / 8 = 0.002053; apr = 0.002053 × 8760 / 8 = 2.248035; next = 1,610,035,200,000 ms
    assert funding is not None
    assert funding.rate == 0.002053 and funding.interval_hours == 8.0
    assert funding.rate_8h == pytest.approx(0.002053, abs=1e-15)
    assert funding.apr == pytest.approx(2.248035, abs=1e-12)
    assert funding.next_at_ms == 1_610_035_200_000


def test_golden_funding_per_contract_interval() -> None:
    rows = contracts()
    rows[0]["funding_interval"] = 14400  # this contract settles every 4 h
    funding = market(gateio.parse(catalog(usdt=rows), cycle(usdt=rows)), "BTC_USDT").funding
    # 14,400 s = 4 h: rate_8h = 0.002053 × 8 / 4 = 0.004106; apr = 0.002053 × 8760 / 4 = 4.49607
    assert funding is not None and funding.interval_hours == 4.0
    assert funding.rate_8h == pytest.approx(0.004106, abs=1e-15)
    assert funding.apr == pytest.approx(4.49607, abs=1e-12)


@pytest.mark.parametrize("bad", ["missing", None, "", "abc", "NaN"])
def test_missing_or_malformed_funding_rate_gives_none_oi_unchanged(bad: object) -> None:
    rows = contracts()
    if bad == "missing":
        del rows[0]["funding_rate"]
    else:
        rows[0]["funding_rate"] = bad
    parsed = gateio.parse(catalog(), cycle(usdt=rows))
    btc = market(parsed, "BTC_USDT")
    assert btc.funding is None and not parsed.skipped
    assert btc.oi_usd == pytest.approx(19_842_978.50496, abs=0.001)


@pytest.mark.parametrize("bad", ["missing", 0, -28800, "abc", None])
def test_unknown_interval_gives_no_funding(bad: object) -> None:
    rows = contracts()
    if bad == "missing":
        del rows[0]["funding_interval"]
    else:
        rows[0]["funding_interval"] = bad
    btc = market(gateio.parse(catalog(), cycle(usdt=rows)), "BTC_USDT")
    assert btc.funding is None  # never a guessed 8 h
    assert btc.oi_usd == pytest.approx(19_842_978.50496, abs=0.001)


def test_unusable_next_apply_keeps_the_rate() -> None:
    rows = contracts()
    del rows[0]["funding_next_apply"]
    funding = market(gateio.parse(catalog(), cycle(usdt=rows)), "BTC_USDT").funding
    assert funding is not None and funding.next_at_ms is None and funding.rate == 0.002053


def test_total_size_no_longer_counts() -> None:
    # The 2026 captures: total_size ≈ 2 × position_size. A ticker's total_size never changes the reading.
    rows = tickers()
    rows[0]["total_size"] = "999999999"
    btc = market(gateio.parse(catalog(), cycle({"usdt": rows})), "BTC_USDT")
    assert btc.oi_base == pytest.approx(522.3816, rel=1e-12)


def two_sided_pair() -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """BTC_USDT with the 2026 capture's figures (reference page): position_size 289,031,937 and
    total_size 577,776,862 (1.999 ×)."""
    rows = contracts()
    rows[0]["position_size"] = "289031937"
    ticker = tickers()
    ticker[0]["total_size"] = "577776862"
    return rows, ticker


def test_catalog_learns_that_total_size_is_two_sided() -> None:
    rows, ticker = two_sided_pair()

    def sides(refreshed: Catalog) -> float:
        btc = refreshed.markets["BTC_USDT"]
        assert isinstance(btc, gateio.GateMarket)
        return btc.total_size_sides

    assert sides(catalog({"usdt": ticker}, usdt=rows)) == 2.0  # 577,776,862 / 289,031,937 = 1.999
    assert sides(catalog()) == 1.0  # the doc example's 32,323,904 / 5,223,816 = 6.19: not ≈ 2, as sent
    assert sides(catalog({"usdt": None})) == 1.0  # no tickers at the refresh: as sent


def test_fallback_without_position_size_halves_a_two_sided_total() -> None:
    rows, ticker = two_sided_pair()
    refreshed = catalog({"usdt": ticker}, usdt=rows)
    del rows[0]["position_size"]  # a later cycle without the single-side field
    btc = market(gateio.parse(refreshed, cycle({"usdt": ticker}, usdt=rows)), "BTC_USDT")
    # total_size 577,776,862 / 2 = 288,888,431 contracts × 0.0001 = 28,888.8431 BTC
    assert btc.oi_base == pytest.approx(28_888.8431, rel=1e-12)
    assert btc.raw == Raw(field="total_size", value="577776862", unit=RawUnit.CONTRACTS)
    assert btc.convention is Convention.TWO_SIDED_HALVED


def test_fallback_takes_a_one_sided_total_as_sent() -> None:
    rows = contracts()
    del rows[0]["position_size"]
    btc = market(gateio.parse(catalog(), cycle(usdt=rows)), "BTC_USDT")
    # the doc example's total_size 32,323,904 × 0.0001 = 3,232.3904 BTC (catalog ratio not ≈ 2)
    assert btc.oi_base == pytest.approx(3232.3904, rel=1e-12)
    assert btc.convention is Convention.ONE_SIDED


def test_no_position_size_and_no_tickers_is_drift() -> None:
    rows = contracts()
    del rows[0]["position_size"]
    with pytest.raises(SchemaDrift, match="position_size"):
        gateio.parse(catalog(), cycle({"usdt": None}, usdt=rows))


def test_golden_cheap_coin_large_multiplier() -> None:
    # Illustrative figures in the recorded row shape; multiplier 10000 is crypto-crawler's SHIB_USDT value.
    # 5,000,000 contracts × 10,000 SHIB = 50,000,000,000 SHIB; × mark_price 0.00001 USDT = 500,000 USD
    rows = usdt_row("SHIB_USDT", "10000", "5000000", "0.00001")
    shib = market(gateio.parse(catalog(usdt=rows), cycle(usdt=rows)), "SHIB_USDT")
    assert shib.base == "SHIB"
    assert shib.oi_base == pytest.approx(50_000_000_000.0)
    assert shib.oi_usd == pytest.approx(500_000.0)


def test_golden_1000_prefixed_name() -> None:
    # Illustrative (no recorded 1000-prefixed Gate contract): 1000SATS_USDT, 10 units of "1000SATS" each.
    # 200,000 contracts × 10 = 2,000,000 units × 1000 = 2,000,000,000 SATS; × mark_price 0.25 = 500,000 USD
    rows = usdt_row("1000SATS_USDT", "10", "200000", "0.25")
    sats = market(gateio.parse(catalog(usdt=rows), cycle(usdt=rows)), "1000SATS_USDT")
    assert sats.base == "SATS"
    assert sats.oi_base == pytest.approx(2_000_000_000.0)
    assert sats.oi_usd == pytest.approx(500_000.0)


def test_mark_price_zero_falls_back_to_index_price() -> None:
    rows = contracts()
    rows[0]["mark_price"] = "0"
    # 522.3816 BTC × index_price 37,954.92 = 19,826,951.837472 USD
    btc = market(gateio.parse(catalog(), cycle(usdt=rows)), "BTC_USDT")
    assert btc.oi_usd == pytest.approx(19_826_951.837472, abs=0.001)
    assert btc.price_kind is PriceKind.INDEX


def test_skipped_contracts() -> None:
    usdt = contracts()
    row = usdt[0]
    usdt += [
        {**row, "name": "NEW_USDT", "status": "prelaunch"},
        {**row, "name": "OLD_USDT", "status": "delisted", "in_delisting": True},
        {**row, "name": "TSLAX_USDT", "contract_type": "stocks"},
        {**row, "name": "XAU_USDT", "contract_type": "metals"},
        {
            **row,
            "name": "LUNA_USDT",
            "status": "delisting",
            "in_delisting": True,
        },  # reduce-only: still counted
        {**row, "name": "ETH_USDT", "contract_type": ""},
    ]
    btc = contracts("btc")
    btc.append({**btc[0], "name": "ETH_USD", "type": "direct", "quanto_multiplier": "0.000001"})
    btc.append({**btc[0], "name": "ETH_USD2", "type": "inverse"})
    markets = catalog(usdt=usdt, btc=btc).markets
    # BTC_USDT's "indices" is the doc example's placeholder: kept (see the module docstring)
    assert sorted(markets) == ["BTC_USD", "BTC_USDT", "ETH_USDT", "LUNA_USDT"]
    parsed = gateio.parse(catalog(usdt=usdt, btc=btc), cycle(usdt=usdt, btc=btc))
    assert sorted(m.venue_symbol for m in parsed.markets) == ["BTC_USD", "BTC_USDT", "ETH_USDT", "LUNA_USDT"]


def test_zero_position_size_is_not_a_market() -> None:
    rows = contracts()
    rows[0]["position_size"] = "0"
    parsed = gateio.parse(catalog(), cycle(usdt=rows))
    assert [m.venue_symbol for m in parsed.markets] == ["BTC_USD"] and parsed.skipped == ()


def test_numbers_as_json_numbers_too() -> None:
    # older responses sent sizes as JSON numbers; raw keeps the number's text
    rows = contracts()
    rows[0]["position_size"] = 5223816
    btc = market(gateio.parse(catalog(), cycle(usdt=rows)), "BTC_USDT")
    assert btc.oi_base == pytest.approx(522.3816) and btc.raw is not None and btc.raw.value == "5223816"


@pytest.mark.parametrize("bad", ["NaN", "-5", "abc", "1e300"])
def test_bad_position_size_skips_the_row(bad: str) -> None:
    rows = contracts()
    rows[0]["position_size"] = bad
    parsed = gateio.parse(catalog(), cycle(usdt=rows))
    assert [m.venue_symbol for m in parsed.markets] == ["BTC_USD"]
    assert len(parsed.skipped) == 1 and parsed.skipped[0].startswith("BTC_USDT")


def test_every_row_bad_is_malformed() -> None:
    rows = contracts("btc")
    rows[0]["mark_price"] = "-1"
    with pytest.raises(MalformedResponse, match="rows skipped"):
        gateio.parse(catalog(), cycle(usdt=[], btc=rows))


@pytest.mark.parametrize("field", ["mark_price", "name"])
def test_drift_missing_contracts_field(field: str) -> None:
    rows = contracts()
    del rows[0][field]
    with pytest.raises(SchemaDrift, match=field):
        gateio.parse(catalog(), cycle(usdt=rows))


def test_drift_missing_multiplier_and_enveloped_body() -> None:
    rows = contracts()
    del rows[0]["quanto_multiplier"]
    with pytest.raises(SchemaDrift, match="quanto_multiplier"):
        catalog(usdt=rows)
    with pytest.raises(SchemaDrift):
        gateio.parse(catalog(), cycle(usdt={"data": []}))


def test_drifted_tickers_are_only_a_lost_fallback() -> None:
    parsed = gateio.parse(catalog({"usdt": {"data": []}}), cycle({"usdt": {"data": []}}))
    assert market(parsed, "BTC_USDT").oi_base == pytest.approx(522.3816, rel=1e-12)


def test_error_bodies() -> None:
    gateio.check_envelope(fixture("gateio", "tickers_usdt.json"))
    with pytest.raises(VenueRateLimited):
        gateio.check_envelope({"label": "TOO_MANY_REQUESTS", "message": "Request Rate limit Exceeded"})
    with pytest.raises(VenueRejected, match="INVALID_PARAM_VALUE"):
        gateio.check_envelope({"label": "INVALID_PARAM_VALUE", "message": "invalid settle"})


def test_requests_contracts_every_cycle_tickers_optional() -> None:
    expected = [
        ("/api/v4/futures/usdt/contracts", False),
        ("/api/v4/futures/btc/contracts", False),
        ("/api/v4/futures/usdt/tickers", True),
        ("/api/v4/futures/btc/tickers", True),
    ]
    assert [(r.path, r.optional) for r in gateio.SPEC.cycle_requests(catalog())] == expected
    assert [(r.path, r.optional) for r in gateio.SPEC.catalog_requests] == expected
    assert gateio.SPEC.pacing is None


@pytest.mark.skipif(not SAMPLES.exists(), reason="shared/exchanges not on this machine")
def test_every_recorded_sample_parses() -> None:
    """contracts → catalog and figures, tickers → the fallback's ratio; contract_stats (an endpoint the
    adapter does not use) passes the envelope check and is a bare array like the others."""
    samples = recorded_samples("gateio")
    assert len(samples) == 3
    for body in samples.values():
        gateio.check_envelope(body)
        assert isinstance(body, list)
    recorded = Bodies(
        {
            "contracts:usdt": (samples["contracts_usdt.json"],),
            "contracts:btc": ([],),
            "tickers:usdt": (samples["tickers_usdt.json"],),
            "tickers:btc": ([],),
        }
    )
    parsed = gateio.parse(gateio.parse_catalog(recorded), recorded)
    assert [m.venue_symbol for m in parsed.markets] == ["BTC_USDT"] and parsed.skipped == ()


async def test_sim_contract() -> None:
    await assert_sim_contract(gateio.SPEC, gateio_sim.SIM)
