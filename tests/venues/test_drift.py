"""Drift: one side = max(long, |short|) base units × oraclePrice; 1M/1K bundles; spot, BET and
not-live markets skipped; ``success`` envelope."""

from __future__ import annotations

import copy

import pytest

from server.core.errors import MalformedResponse, SchemaDrift, VenueRejected
from server.core.model import ContractKind, Convention, ParsedPoll, PriceKind, Raw, RawUnit, VenueType
from server.sim.render import drift as drift_sim
from server.venues import drift
from server.venues.base import Catalog, funding_of
from tests.support import SHARED_EXCHANGES, assert_sim_contract, fixture, market, pages, recorded_samples

RECORDED = "stats_markets.json"
ASSEMBLED = "stats_markets_assembled.json"


def parse(body: object) -> ParsedPoll:
    return drift.parse(Catalog(), pages({"markets": body}))


def assembled() -> dict[str, list[dict[str, object]]]:
    body = copy.deepcopy(fixture("drift", ASSEMBLED))
    assert isinstance(body, dict)
    return body


def test_golden_btc_one_side_is_the_larger_side() -> None:
    btc = market(parse(fixture("drift", RECORDED)), "BTC-PERP")
    # openInterest long 264.7866, short -312.3766 BTC; the vAMM holds the difference, so
    # one side = max(264.7866, 312.3766) = 312.3766 BTC (not the sum 577.1632, not the half 288.5816)
    # oi_usd = 312.3766 BTC × oraclePrice 68,525.837797 = 21,405,868.2231783502 USD
    assert btc.base == "BTC"
    assert btc.oi_base == pytest.approx(312.3766, rel=1e-12)
    assert btc.oi_usd == pytest.approx(21_405_868.22, abs=0.01)
    assert btc.price_usd == pytest.approx(68_525.837797, rel=1e-12)


def test_golden_million_bundle() -> None:
    bonk = market(parse(assembled()), "1MBONK-PERP")
    # max(7531.2040, |-7120.5512|) = 7531.2040 units of 1,000,000 BONK:
    # oi_base = 7531.2040 × 1,000,000 = 7,531,204,000 BONK
    # oi_usd = 7531.2040 × oraclePrice 6.884512 (USD per million BONK) = 51,848.664312448 USD
    assert bonk.base == "BONK"
    assert bonk.oi_base == pytest.approx(7_531_204_000.0, rel=1e-12)
    assert bonk.oi_usd == pytest.approx(51_848.664312448, rel=1e-12)
    assert bonk.price_usd == pytest.approx(0.000006884512, rel=1e-12)  # 6.884512 / 1,000,000


def test_golden_thousand_bundle() -> None:
    wen = market(parse(assembled()), "1KWEN-PERP")
    # max(912345.0000, |-880000.5000|) = 912,345 units of 1000 WEN (Drift's own 1K prefix):
    # oi_base = 912,345 × 1000 = 912,345,000 WEN; oi_usd = 912,345 × 0.031250 = 28,510.78125 USD
    assert wen.base == "WEN"
    assert wen.oi_base == pytest.approx(912_345_000.0, rel=1e-12)
    assert wen.oi_usd == pytest.approx(28_510.78125, rel=1e-12)


def recorded_btc_with(**changes: object) -> object:
    """The recorded body with BTC-PERP's fields changed (``None`` removes a field)."""
    body = copy.deepcopy(fixture("drift", RECORDED))
    row = body["markets"][0]  # type: ignore[index]
    for name, value in changes.items():
        if value is None:
            del row[name]
        else:
            row[name] = value
    return body


def test_provenance_names_the_larger_side() -> None:
    btc = market(parse(fixture("drift", RECORDED)), "BTC-PERP")
    # the short side (-312.3766) is the larger one: that is the figure, minus sign and all
    assert btc.raw == Raw(field="openInterest.short", value="-312.3766", unit=RawUnit.BASE)
    assert btc.convention is Convention.LARGER_SIDE and btc.price_kind is PriceKind.ORACLE
    assert (btc.kind, btc.margin_asset, btc.contract_size) == (ContractKind.LINEAR, "USDC", None)
    bonk = market(parse(assembled()), "1MBONK-PERP")
    assert bonk.raw == Raw(field="openInterest.long", value="7531.2040", unit=RawUnit.BASE)
    assert bonk.base_factor == 1_000_000.0 and bonk.venue_price == pytest.approx(6.884512, rel=1e-12)
    assert drift.SPEC.venue_type is VenueType.DEX


def test_golden_funding_percent_per_hour_as_received() -> None:
    funding = market(parse(fixture("drift", RECORDED)), "BTC-PERP").funding
    # fundingRate long "0.00093", short "-0.00093": percent per hour, each side as RECEIVED
    # (longs receive 0.00093 %/h, shorts pay it; the mark 68481.85 is below the oracle 68525.84).
    # rate (what longs pay) = -0.00093 / 100 = -0.0000093 per 1 h; short_rate = +0.0000093
    # rate_8h = -0.0000093 × 8 / 1 = -0.0000744; apr = -0.0000093 × 8760 / 1 = -0.081468
    assert funding is not None
    assert (funding.rate, funding.short_rate, funding.interval_hours) == (-0.0000093, 0.0000093, 1.0)
    assert funding.rate_8h == pytest.approx(-0.0000744, abs=1e-15)
    assert funding.apr == pytest.approx(-0.081468, abs=1e-12)
    # fundingRateUpdateTs 1770728410 = 13:00:10 UTC (10 s after the hour): next update on the next
    # hour, 1770732000 s = 2026-02-10 14:00:00 UTC
    assert funding.next_at_ms == 1_770_732_000_000


def test_asymmetric_sides_are_kept_apart() -> None:
    btc = market(parse(recorded_btc_with(fundingRate={"long": "-0.002", "short": "0.0015"})), "BTC-PERP")
    # longs pay 0.002 %/h, shorts receive a capped 0.0015 %/h: rate 0.00002, short_rate -0.000015
    assert btc.funding is not None
    assert btc.funding.rate == pytest.approx(0.00002, abs=1e-18)
    assert btc.funding.short_rate == pytest.approx(-0.000015, abs=1e-18)


@pytest.mark.parametrize(
    ("last", "next_s"),
    [
        (1_770_728_400, 1_770_732_000),  # on the hour: one period later
        (1_770_728_410, 1_770_732_000),  # 10 s late: the next hour
        (1_770_729_600, 1_770_732_000),  # 1200 s late (a third of the hour): still the next hour
        (1_770_729_601, 1_770_735_600),  # later than that: the hour after
    ],
)
def test_next_funding_on_the_hour(last: int, next_s: int) -> None:
    assert drift.next_funding_s(last) == next_s


@pytest.mark.parametrize(
    "changes",
    [
        {"fundingRate": None},
        {"fundingRate": {"long": "", "short": ""}},  # the backend's value when its calculation failed
        {"fundingRate": "0.00093"},
        {"fundingRate": {"short": "-0.00093"}},
        {"fundingRate": {"long": "NaN", "short": "-0.00093"}},
    ],
)
def test_missing_or_malformed_funding_leaves_the_oi_alone(changes: dict[str, object]) -> None:
    parsed = parse(recorded_btc_with(**changes))
    btc = market(parsed, "BTC-PERP")
    assert btc.funding is None and parsed.skipped == ()
    assert btc.oi_usd == pytest.approx(21_405_868.22, abs=0.01)  # the golden figure, unchanged


def test_partial_funding_keeps_what_is_usable() -> None:
    no_short = market(parse(recorded_btc_with(fundingRate={"long": "0.00093", "short": "x"})), "BTC-PERP")
    assert no_short.funding is not None and no_short.funding.short_rate is None
    no_time = market(parse(recorded_btc_with(fundingRateUpdateTs=None)), "BTC-PERP")
    assert no_time.funding is not None and no_time.funding.next_at_ms is None
    assert no_time.funding.rate == -0.0000093


def test_an_unknown_interval_is_never_guessed() -> None:
    # Drift's interval is the documented hour; with no interval a rate gives no funding at all.
    assert funding_of(-0.0000093, None) is None
    assert drift.FUNDING_INTERVAL_H == 1.0


def test_spot_prediction_delisted_and_prelaunch_are_skipped() -> None:
    parsed = parse(assembled())
    # SOL (spot), TRUMP-WIN-2024-BET (prediction), RLB-PERP (delisted), ZEX-PERP (initialized)
    assert sorted(m.venue_symbol for m in parsed.markets) == ["1KWEN-PERP", "1MBONK-PERP", "BTC-PERP"]
    assert parsed.skipped == ()


@pytest.mark.parametrize("status", ["reduceOnly", "fundingPaused", "fillPaused"])
def test_reduce_only_and_paused_markets_still_count(status: str) -> None:
    body = assembled()
    body["markets"][0]["status"] = status
    assert market(parse(body), "BTC-PERP").oi_base == pytest.approx(312.3766)


def test_unknown_status_skips_and_reports_the_row() -> None:
    body = assembled()
    body["markets"][0]["status"] = "frozen"
    parsed = parse(body)
    assert "BTC-PERP" not in {m.venue_symbol for m in parsed.markets}
    assert len(parsed.skipped) == 1 and "frozen" in parsed.skipped[0]


def test_bundle_named_only_in_symbol_still_applies() -> None:
    body = assembled()
    body["markets"][1]["baseAsset"] = "BONK"
    assert market(parse(body), "1MBONK-PERP").oi_base == pytest.approx(7_531_204_000.0)
    del body["markets"][1]["baseAsset"]  # optional per the page: the symbol's stem names the asset
    bonk = market(parse(body), "1MBONK-PERP")
    assert bonk.base == "BONK" and bonk.oi_base == pytest.approx(7_531_204_000.0)


def test_market_without_positions_is_not_counted() -> None:
    body = assembled()
    body["markets"][0]["openInterest"] = {"long": "0", "short": "0"}
    assert "BTC-PERP" not in {m.venue_symbol for m in parse(body).markets}
    with pytest.raises(MalformedResponse):
        parse({"success": True, "markets": [body["markets"][0]]})


@pytest.mark.parametrize("field", ["openInterest", "oraclePrice", "marketType", "status", "symbol"])
def test_drift_missing_field(field: str) -> None:
    body = assembled()
    del body["markets"][0][field]
    with pytest.raises(SchemaDrift, match=field):
        parse(body)


def test_drift_markets_not_a_list() -> None:
    with pytest.raises(SchemaDrift, match="markets"):
        parse({"success": True, "markets": {"BTC-PERP": {}}})


@pytest.mark.parametrize(
    ("side", "value"),
    [
        ("long", "NaN"),
        ("long", "-1.5"),  # longs are ≥ 0
        ("short", "12.5"),  # shorts are sent ≤ 0: a positive one means the convention changed
        ("long", "1e12"),  # 1e12 BTC × 68,525 USD: absurd
    ],
)
def test_bad_open_interest_skips_the_row(side: str, value: str) -> None:
    body = assembled()
    body["markets"][0]["openInterest"][side] = value  # type: ignore[index]
    parsed = parse(body)
    assert "BTC-PERP" not in {m.venue_symbol for m in parsed.markets}
    assert len(parsed.skipped) == 1 and parsed.skipped[0].startswith("BTC-PERP")
    assert {m.venue_symbol for m in parsed.markets} == {"1KWEN-PERP", "1MBONK-PERP"}


@pytest.mark.parametrize("price", ["0", "-68525.8", "NaN"])
def test_bad_oracle_price_skips_the_row(price: str) -> None:
    body = assembled()
    body["markets"][0]["oraclePrice"] = price
    assert len(parse(body).skipped) == 1


def test_envelope() -> None:
    drift.check_envelope(fixture("drift", RECORDED))
    with pytest.raises(VenueRejected, match="False"):
        drift.check_envelope({"success": False, "markets": []})
    with pytest.raises(SchemaDrift, match="success"):
        drift.check_envelope({"markets": []})


@pytest.mark.skipif(not SHARED_EXCHANGES.exists(), reason="shared/exchanges reference pages not present")
def test_every_recorded_sample_parses() -> None:
    samples = recorded_samples("drift")
    assert list(samples) == [RECORDED]  # every sample is a /stats/markets body
    for body in samples.values():
        drift.check_envelope(body)
        parsed = parse(body)
        assert parsed.markets and parsed.skipped == ()


async def test_simulator_contract() -> None:
    await assert_sim_contract(drift.SPEC, drift_sim.SIM)
