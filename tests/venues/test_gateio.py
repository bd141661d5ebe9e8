"""Gate: total_size in contracts of quanto_multiplier base units (USDT) or 1 USD (BTC_USD), one-sided."""

from __future__ import annotations

import copy

import pytest

from server.core.errors import MalformedResponse, SchemaDrift, VenueRateLimited, VenueRejected
from server.core.model import ContractKind
from server.sim.render import gateio as gateio_sim
from server.venues import gateio
from server.venues.base import Bodies, Catalog
from tests.support import SHARED_EXCHANGES, assert_sim_contract, fixture, market, recorded_samples

SETTLES = ("usdt", "btc")
SAMPLES = SHARED_EXCHANGES / "gateio" / "samples"


def catalog(**override: object) -> Catalog:
    return gateio.parse_catalog(
        Bodies(
            {f"contracts:{s}": (override.get(s, fixture("gateio", f"contracts_{s}.json")),) for s in SETTLES}
        )
    )


def cycle(**override: object) -> Bodies:
    return Bodies(
        {f"tickers:{s}": (override.get(s, fixture("gateio", f"tickers_{s}.json")),) for s in SETTLES}
    )


def usdt_pair(name: str, multiplier: str, total_size: str, mark_price: str) -> tuple[object, object]:
    """The recorded BTC_USDT contract and ticker rows renamed, with another multiplier and figures."""
    contracts = copy.deepcopy(fixture("gateio", "contracts_usdt.json"))
    contracts[0].update(name=name, quanto_multiplier=multiplier)  # type: ignore[index]
    tickers = copy.deepcopy(fixture("gateio", "tickers_usdt.json"))
    tickers[0].update(contract=name, total_size=total_size, mark_price=mark_price)  # type: ignore[index]
    return contracts, tickers


def test_catalog_contract_sizes() -> None:
    markets = catalog().markets
    assert markets["BTC_USDT"].kind is ContractKind.LINEAR and markets["BTC_USDT"].contract_size == 0.0001
    assert markets["BTC_USD"].kind is ContractKind.INVERSE and markets["BTC_USD"].contract_size == 1.0
    assert markets["BTC_USD"].settle == "BTC" and {m.base for m in markets.values()} == {"BTC"}


def test_golden_usdt_linear_quanto_multiplier() -> None:
    btc = market(gateio.parse(catalog(), cycle()), "BTC_USDT")
    # total_size 32,323,904 contracts × quanto_multiplier 0.0001 BTC = 3,232.3904 BTC (one side, as is)
    # oi_usd = 3,232.3904 BTC × mark_price 6,534 USDT (doc placeholder) = 21,120,438.8736 USD
    assert btc.base == "BTC"
    assert btc.oi_base == pytest.approx(3232.3904, rel=1e-12)
    assert btc.oi_usd == pytest.approx(21_120_438.8736, abs=0.001)
    assert btc.price_usd == pytest.approx(6534.0)


def test_golden_btc_settled_inverse_one_usd_contracts() -> None:
    btc = market(gateio.parse(catalog(), cycle()), "BTC_USD")
    # quanto_multiplier "0" on the inverse contract: one contract = 1 USD
    # oi_usd = 12,791,802 contracts × 1 USD = 12,791,802 USD
    # oi_base = 12,791,802 USD / mark_price 62,221.82 = 205.583861096 BTC
    assert btc.oi_usd == pytest.approx(12_791_802.0)
    assert btc.oi_base == pytest.approx(205.583861096, rel=1e-9)


def test_cross_check_total_size_is_the_one_sided_position_size() -> None:
    # contracts' position_size is "current total long position size" (one side): the recorded
    # 12,785,272 vs our total_size 12,791,802 (seconds apart) agree within 0.5 % (0.05 %), so total_size
    # is not a two-sided figure, which would be about twice it.
    venue_long_usd = float(fixture("gateio", "contracts_btc.json")[0]["position_size"]) * 1.0  # type: ignore[index]
    ours = market(gateio.parse(catalog(), cycle()), "BTC_USD").oi_usd
    assert ours == pytest.approx(venue_long_usd, rel=0.005)


def test_golden_cheap_coin_large_multiplier() -> None:
    # Illustrative figures in the recorded row shape; multiplier 10000 is crypto-crawler's SHIB_USDT value.
    # 5,000,000 contracts × 10,000 SHIB = 50,000,000,000 SHIB; × mark_price 0.00001 USDT = 500,000 USD
    contracts, tickers = usdt_pair("SHIB_USDT", "10000", "5000000", "0.00001")
    shib = market(gateio.parse(catalog(usdt=contracts), cycle(usdt=tickers)), "SHIB_USDT")
    assert shib.base == "SHIB"
    assert shib.oi_base == pytest.approx(50_000_000_000.0)
    assert shib.oi_usd == pytest.approx(500_000.0)


def test_golden_1000_prefixed_name() -> None:
    # Illustrative (no recorded 1000-prefixed Gate contract): 1000SATS_USDT, 10 units of "1000SATS" each.
    # 200,000 contracts × 10 = 2,000,000 units × 1000 = 2,000,000,000 SATS; × mark_price 0.25 = 500,000 USD
    contracts, tickers = usdt_pair("1000SATS_USDT", "10", "200000", "0.25")
    sats = market(gateio.parse(catalog(usdt=contracts), cycle(usdt=tickers)), "1000SATS_USDT")
    assert sats.base == "SATS"
    assert sats.oi_base == pytest.approx(2_000_000_000.0)
    assert sats.oi_usd == pytest.approx(500_000.0)


def test_mark_price_zero_falls_back_to_index_price() -> None:
    tickers = copy.deepcopy(fixture("gateio", "tickers_usdt.json"))
    tickers[0]["mark_price"] = "0"  # type: ignore[index]
    # 3,232.3904 BTC × index_price 6,531 = 21,110,741.7024 USD
    btc = market(gateio.parse(catalog(), cycle(usdt=tickers)), "BTC_USDT")
    assert btc.oi_usd == pytest.approx(21_110_741.7024, abs=0.001)


def test_skipped_contracts() -> None:
    usdt = copy.deepcopy(fixture("gateio", "contracts_usdt.json"))
    row = usdt[0]  # type: ignore[index]
    usdt += [  # type: ignore[operator]
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
    btc = copy.deepcopy(fixture("gateio", "contracts_btc.json"))
    btc.append({**btc[0], "name": "ETH_USD", "type": "direct", "quanto_multiplier": "0.000001"})  # type: ignore[attr-defined,index]
    btc.append({**btc[0], "name": "ETH_USD2", "type": "inverse"})  # type: ignore[attr-defined,index]
    markets = catalog(usdt=usdt, btc=btc).markets
    # BTC_USDT's "indices" is the doc example's placeholder: kept (see the module docstring)
    assert sorted(markets) == ["BTC_USD", "BTC_USDT", "ETH_USDT", "LUNA_USDT"]


def test_zero_total_size_is_not_a_market() -> None:
    tickers = copy.deepcopy(fixture("gateio", "tickers_usdt.json"))
    tickers[0]["total_size"] = "0"  # type: ignore[index]
    parsed = gateio.parse(catalog(), cycle(usdt=tickers))
    assert [m.venue_symbol for m in parsed.markets] == ["BTC_USD"] and parsed.skipped == ()


def test_numbers_as_json_numbers_too() -> None:
    # older responses sent sizes as JSON numbers
    tickers = copy.deepcopy(fixture("gateio", "tickers_usdt.json"))
    tickers[0]["total_size"] = 32323904  # type: ignore[index]
    assert market(gateio.parse(catalog(), cycle(usdt=tickers)), "BTC_USDT").oi_base == pytest.approx(
        3232.3904
    )


@pytest.mark.parametrize("bad", ["NaN", "-5", "abc", "1e300"])
def test_bad_total_size_skips_the_row(bad: str) -> None:
    tickers = copy.deepcopy(fixture("gateio", "tickers_usdt.json"))
    tickers[0]["total_size"] = bad  # type: ignore[index]
    parsed = gateio.parse(catalog(), cycle(usdt=tickers))
    assert [m.venue_symbol for m in parsed.markets] == ["BTC_USD"]
    assert len(parsed.skipped) == 1 and parsed.skipped[0].startswith("BTC_USDT")


def test_every_row_bad_is_malformed() -> None:
    tickers = copy.deepcopy(fixture("gateio", "tickers_btc.json"))
    tickers[0]["mark_price"] = "-1"  # type: ignore[index]
    with pytest.raises(MalformedResponse, match="rows skipped"):
        gateio.parse(catalog(), cycle(usdt=[], btc=tickers))


@pytest.mark.parametrize("field", ["total_size", "mark_price", "contract"])
def test_drift_missing_ticker_field(field: str) -> None:
    tickers = copy.deepcopy(fixture("gateio", "tickers_usdt.json"))
    del tickers[0][field]  # type: ignore[index]
    with pytest.raises(SchemaDrift, match=field):
        gateio.parse(catalog(), cycle(usdt=tickers))


def test_drift_missing_multiplier_and_enveloped_body() -> None:
    contracts = copy.deepcopy(fixture("gateio", "contracts_usdt.json"))
    del contracts[0]["quanto_multiplier"]  # type: ignore[index]
    with pytest.raises(SchemaDrift, match="quanto_multiplier"):
        catalog(usdt=contracts)
    with pytest.raises(SchemaDrift):
        gateio.parse(catalog(), cycle(usdt={"data": []}))


def test_error_bodies() -> None:
    gateio.check_envelope(fixture("gateio", "tickers_usdt.json"))
    with pytest.raises(VenueRateLimited):
        gateio.check_envelope({"label": "TOO_MANY_REQUESTS", "message": "Request Rate limit Exceeded"})
    with pytest.raises(VenueRejected, match="INVALID_PARAM_VALUE"):
        gateio.check_envelope({"label": "INVALID_PARAM_VALUE", "message": "invalid settle"})


def test_requests_two_bulk_calls_per_cycle() -> None:
    assert [r.path for r in gateio.SPEC.cycle_requests(catalog())] == [
        "/api/v4/futures/usdt/tickers",
        "/api/v4/futures/btc/tickers",
    ]
    assert [r.path for r in gateio.SPEC.catalog_requests] == [
        "/api/v4/futures/usdt/contracts",
        "/api/v4/futures/btc/contracts",
    ]
    assert gateio.SPEC.pacing is None


@pytest.mark.skipif(not SAMPLES.exists(), reason="shared/exchanges not on this machine")
def test_every_recorded_sample_parses() -> None:
    """contracts → catalog, tickers → parse; contract_stats (an endpoint the adapter does not use)
    passes the envelope check and is a bare array like the others."""
    bodies = recorded_samples("gateio")
    assert len(bodies) == 3
    for body in bodies.values():
        gateio.check_envelope(body)
        assert isinstance(body, list)
    sample_catalog = gateio.parse_catalog(
        Bodies({"contracts:usdt": (bodies["contracts_usdt.json"],), "contracts:btc": ([],)})
    )
    parsed = gateio.parse(
        sample_catalog, Bodies({"tickers:usdt": (bodies["tickers_usdt.json"],), "tickers:btc": ([],)})
    )
    assert [m.venue_symbol for m in parsed.markets] == ["BTC_USDT"] and parsed.skipped == ()


async def test_sim_contract() -> None:
    await assert_sim_contract(gateio.SPEC, gateio_sim.SIM)
