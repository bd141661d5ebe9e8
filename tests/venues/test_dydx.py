"""dYdX v4: one-sided openInterest in base coins × oraclePrice; status decides what counts."""

from __future__ import annotations

import copy

import pytest

from server.core.errors import MalformedResponse, SchemaDrift
from server.core.model import ContractKind, Convention, ParsedPoll, PriceKind, Raw, RawUnit, VenueType
from server.sim.render import dydx as dydx_sim
from server.venues import dydx
from server.venues.base import Catalog
from tests.support import SHARED_EXCHANGES, assert_sim_contract, fixture, market, pages, recorded_samples

MARKETS = fixture("dydx", "perpetualMarkets.json")


def parse(body: object) -> ParsedPoll:
    return dydx.parse(Catalog(), pages({"perpetualMarkets": body}))


def with_row(key: str, /, **changes: object) -> object:
    """The recorded body with one market's fields changed (``None`` removes a field)."""
    body = copy.deepcopy(MARKETS)
    row = body["markets"][key]  # type: ignore[index]
    for name, value in changes.items():
        if value is None:
            del row[name]
        else:
            row[name] = value
    return body


def symbols(parsed: ParsedPoll) -> list[str]:
    return sorted(m.venue_symbol for m in parsed.markets)


def test_request_is_one_bulk_get() -> None:
    (request,) = dydx.SPEC.cycle_requests(Catalog())
    assert (request.path, request.params, request.body) == ("/v4/perpetualMarkets", (), None)
    assert dydx.SPEC.base_url == "https://indexer.dydx.trade" and dydx.SPEC.catalog_requests == ()


def test_golden_btc_one_sided_base_coins() -> None:
    btc = market(parse(MARKETS), "BTC-USD")
    # openInterest 381.7348 is BTC, one-sided (counted once): oi_base = 381.7348 BTC
    # oi_usd = 381.7348 × oraclePrice 89919.2 = 34,325,287.82816 USD
    assert btc.base == "BTC"
    assert btc.oi_base == pytest.approx(381.7348, rel=1e-12)
    assert btc.oi_usd == pytest.approx(34_325_287.83, abs=0.01)
    assert btc.price_usd == 89919.2


def test_golden_eth_and_sol() -> None:
    parsed = parse(MARKETS)
    # ETH: 7457.108 ETH × 3103.01 = 23,139,480.69508 USD
    assert market(parsed, "ETH-USD").oi_base == pytest.approx(7457.108, rel=1e-12)
    assert market(parsed, "ETH-USD").oi_usd == pytest.approx(23_139_480.70, abs=0.01)
    # SOL: 41917.9 SOL × 135.3 = 5,671,491.87 USD
    assert market(parsed, "SOL-USD").oi_usd == pytest.approx(5_671_491.87, abs=0.01)


def test_provenance_one_sided_base_coins_at_the_oracle() -> None:
    btc = market(parse(MARKETS), "BTC-USD")
    assert btc.raw == Raw(field="openInterest", value="381.7348", unit=RawUnit.BASE)
    assert btc.convention is Convention.ONE_SIDED and btc.price_kind is PriceKind.ORACLE
    assert (btc.kind, btc.margin_asset, btc.contract_size) == (ContractKind.LINEAR, "USDC", None)
    assert btc.margin_type.value == "stablecoin" and dydx.SPEC.venue_type is VenueType.DEX


def test_golden_funding_predicted_hourly() -> None:
    parsed = parse(MARKETS)
    btc = market(parsed, "BTC-USD").funding
    # nextFundingRate "0.00000254545454545455" per 1 h:
    # rate_8h = 0.00000254545454545455 × 8 / 1 = 0.0000203636363636364
    # apr = 0.00000254545454545455 × 8760 / 1 = 0.0222981818181818
    assert btc is not None and (btc.rate, btc.interval_hours) == (0.00000254545454545455, 1.0)
    assert btc.rate_8h == pytest.approx(0.0000203636363636364, abs=1e-15)
    assert btc.apr == pytest.approx(0.0222981818181818, abs=1e-12)
    assert btc.next_at_ms is None and btc.short_rate is None
    sol = market(parsed, "SOL-USD").funding
    # "-0.00000143181818181818" per 1 h (shorts pay): apr = -0.00000143181818181818 × 8760 = -0.0125427272727
    assert sol is not None and sol.apr == pytest.approx(-0.0125427272727, abs=1e-12)
    eth = market(parsed, "ETH-USD").funding
    # the baseline "0.00000125" per 1 h: rate_8h = 0.00001 (0.001 %/8 h); apr = 0.01095
    assert eth is not None and eth.rate_8h == pytest.approx(0.00001, abs=1e-15)


@pytest.mark.parametrize("bad", [None, "", "abc", "NaN", {"rate": 1}])
def test_missing_or_malformed_funding_leaves_the_oi_alone(bad: object) -> None:
    parsed = parse(with_row("BTC-USD", nextFundingRate=bad))  # None removes the field
    btc = market(parsed, "BTC-USD")
    assert btc.funding is None and parsed.skipped == ()
    assert btc.oi_usd == pytest.approx(34_325_287.83, abs=0.01)  # the golden figure, unchanged


def test_base_open_interest_is_never_read() -> None:
    # baseOpenInterest (782.0931 for BTC) is an OI-cap reference, not current OI.
    body = with_row("BTC-USD", baseOpenInterest="1.0")
    assert market(parse(body), "BTC-USD").oi_base == pytest.approx(381.7348, rel=1e-12)


@pytest.mark.parametrize("status", ["PAUSED", "CANCEL_ONLY", "POST_ONLY"])
def test_restricted_markets_with_positions_count(status: str) -> None:
    assert "BTC-USD" in symbols(parse(with_row("BTC-USD", status=status)))


@pytest.mark.parametrize("status", ["INITIALIZING", "FINAL_SETTLEMENT"])
def test_prelaunch_and_delisting_markets_are_skipped(status: str) -> None:
    parsed = parse(with_row("BTC-USD", status=status))
    assert symbols(parsed) == ["ETH-USD", "SOL-USD"] and parsed.skipped == ()


def test_zero_open_interest_is_skipped() -> None:
    parsed = parse(with_row("SOL-USD", openInterest="0"))
    assert symbols(parsed) == ["BTC-USD", "ETH-USD"] and parsed.skipped == ()


def test_isolated_markets_count() -> None:
    assert "SOL-USD" in symbols(parse(with_row("SOL-USD", marketType="ISOLATED")))


def test_unknown_status_skips_and_reports_the_row() -> None:
    parsed = parse(with_row("ETH-USD", status="SOMETHING_NEW"))
    assert symbols(parsed) == ["BTC-USD", "SOL-USD"]
    assert parsed.skipped == ("ETH-USD: unknown status 'SOMETHING_NEW'",)


def test_ticker_without_usd_quote_skips_the_row() -> None:
    parsed = parse(with_row("ETH-USD", ticker="ETH-EUR"))
    assert symbols(parsed) == ["BTC-USD", "SOL-USD"] and len(parsed.skipped) == 1


@pytest.mark.parametrize("bad", ["NaN", "-1", "abc", "1e300"])
def test_bad_numbers_skip_the_row(bad: str) -> None:
    parsed = parse(with_row("BTC-USD", openInterest=bad))
    assert symbols(parsed) == ["ETH-USD", "SOL-USD"]
    assert len(parsed.skipped) == 1 and parsed.skipped[0].startswith("BTC-USD:")


def test_bad_price_skips_the_row() -> None:
    parsed = parse(with_row("BTC-USD", oraclePrice="0"))
    assert symbols(parsed) == ["ETH-USD", "SOL-USD"] and len(parsed.skipped) == 1


@pytest.mark.parametrize("field", ["openInterest", "oraclePrice", "status", "ticker"])
def test_drift_missing_field(field: str) -> None:
    with pytest.raises(SchemaDrift, match=field):
        parse(with_row("BTC-USD", **{field: None}))


@pytest.mark.parametrize("body", [{"markets": [MARKETS]}, {"errors": [{"msg": "x"}]}, [MARKETS]])
def test_drift_outer_shape(body: object) -> None:
    # A body of the indexer's validation-error form ({"errors": [...]}) also ends here, loudly.
    with pytest.raises(SchemaDrift):
        parse(body)


def test_no_markets_is_malformed() -> None:
    with pytest.raises(MalformedResponse):
        parse({"markets": {}})


def test_no_envelope() -> None:
    dydx.SPEC.check_envelope(MARKETS)  # success bodies carry no code; errors are HTTP statuses


@pytest.mark.skipif(not SHARED_EXCHANGES.exists(), reason="shared/exchanges reference pages not present")
def test_every_recorded_sample() -> None:
    samples = recorded_samples("dydx")
    assert list(samples) == ["perpetualMarkets.json"]
    parsed = parse(samples["perpetualMarkets.json"])
    assert symbols(parsed) == ["BTC-USD", "ETH-USD", "SOL-USD"] and parsed.skipped == ()


async def test_sim_contract() -> None:
    await assert_sim_contract(dydx.SPEC, dydx_sim.SIM)
