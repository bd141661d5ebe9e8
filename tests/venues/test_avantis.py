"""Avantis: a pool venue, each trader position counted once (long + short), in the venue's own USD
and coin figures; crypto pairs only; ``_UPSIDE`` twins added into their base."""

from __future__ import annotations

import copy
import math

import pytest

from server.core.errors import MalformedResponse, SchemaDrift, VenueRateLimited, VenueRejected
from server.core.model import ContractKind, Convention, ParsedPoll, Raw, RawUnit, VenueType
from server.sim.render import avantis as avantis_sim
from server.venues import avantis
from server.venues.base import Catalog
from tests.support import SHARED_EXCHANGES, assert_sim_contract, fixture, market, pages, recorded_samples

SDK_SNAPSHOT = "trading_v2.json"  # vendor's recorded snapshot (10 of 112 pairs)
MAINNET = "trading_v2_mainnet.json"  # mainnet 2026-08-19, pairs 1 (BTC) and 116 (BTC_UPSIDE)
POLLED_SAMPLES = {"trading_v2.json"}  # /v2/trading bodies; the other samples are endpoints we never poll
UNPOLLED_SAMPLES = {"open_interests_v2.json", "last_price.json"}  # core cross-check; stale candle


def parse(body: object) -> ParsedPoll:
    return avantis.parse(Catalog(), pages({"trading": body}))


def snapshot(name: str = SDK_SNAPSHOT) -> dict[str, dict[str, dict[str, object]]]:
    body = copy.deepcopy(fixture("avantis", name))
    assert isinstance(body, dict)
    return body


def test_golden_btc_long_plus_short() -> None:
    btc = market(parse(snapshot()), "BTC/USD")
    # Pool venue, every position counted once: long + short (not the larger leg, not half).
    # oi_usd = 1,167,771.77 + 1,056,607.64 = 2,224,379.41 USD (= the venue's pairOI)
    # oi_base = coinOI 17.8131006748 + 15.353800023 = 33.1669006978 BTC
    assert btc.base == "BTC"
    assert btc.oi_usd == pytest.approx(2_224_379.41, abs=0.001)
    assert btc.oi_base == pytest.approx(33.1669006978, rel=1e-12)
    assert btc.price_usd is None  # USD is the venue's own figure: no price used


def with_pair(key: str, /, name: str = SDK_SNAPSHOT, **changes: object) -> object:
    """A snapshot with one pair's fields changed (``None`` removes a field)."""
    body = snapshot(name)
    pair = body["pairInfos"][key]
    for field, value in changes.items():
        if value is None:
            del pair[field]
        else:
            pair[field] = value
    return body


def test_provenance_pool_long_plus_short_in_usd() -> None:
    btc = market(parse(snapshot()), "BTC/USD")
    assert btc.raw == Raw(field="pairOI", value="2224379.41", unit=RawUnit.USD)
    assert btc.convention is Convention.POOL_LONG_PLUS_SHORT
    assert btc.price_kind is None and btc.venue_price is None
    assert (btc.kind, btc.margin_asset, btc.contract_size) == (ContractKind.LINEAR, "USDC", None)
    assert btc.margin_type.value == "stablecoin" and avantis.SPEC.venue_type is VenueType.DEX
    upside = market(parse(snapshot(MAINNET)), "BTC_UPSIDE/USD")
    assert upside.raw == Raw(field="pairOI", value="1299592.6600000001", unit=RawUnit.USD)  # as recorded
    no_total = market(parse(with_pair("1", pairOI=None)), "BTC/USD")
    assert no_total.raw == Raw(field="openInterest.long", value="1167771.77", unit=RawUnit.USD)


def test_golden_funding_per_side_percent_per_hour() -> None:
    funding = market(parse(snapshot()), "BTC/USD").funding
    # fundingRate long 0.0003153597260463827 %/h (longs pay), short -0.00036587258792132853 %/h
    # (shorts receive). rate = 0.0003153597260463827 / 100 = 0.000003153597260463827 per 1 h;
    # short_rate = -0.0000036587258792132853; rate_8h = 0.000003153597260463827 × 8 = 0.0000252287780837106;
    # apr = 0.000003153597260463827 × 8760 = 0.0276255120016631
    assert funding is not None and funding.interval_hours == 1.0 and funding.next_at_ms is None
    assert funding.rate == pytest.approx(0.000003153597260463827, rel=1e-12)
    assert funding.short_rate == pytest.approx(-0.0000036587258792132853, rel=1e-12)
    assert funding.rate_8h == pytest.approx(0.0000252287780837106, rel=1e-12)
    assert funding.apr == pytest.approx(0.0276255120016631, rel=1e-12)
    sol = market(parse(snapshot()), "SOL/USD").funding
    # the sides move the same dollars: 0.0022026874982929764 % × 94,758.95 ≈ 0.0617 % × 3,441.35
    assert sol is not None
    long_pays, short_receives = sol.rate * 94_758.95, -(sol.short_rate or 0.0) * 3_441.35
    assert long_pays == pytest.approx(short_receives, rel=0.02)
    mainnet = market(parse(snapshot(MAINNET)), "BTC/USD").funding
    # mainnet -0.00010008 %/h: longs receive; apr = -0.0000010008 × 8760 = -0.008767008
    assert mainnet is not None and mainnet.apr == pytest.approx(-0.008767008, rel=1e-12)


def test_golden_rollover_is_a_borrow_rate_never_funding() -> None:
    btc = market(parse(snapshot()), "BTC/USD")
    # marginFee long 0.0017123287671232876 %/h (= 15 %/yr ÷ 8760): 0.000017123287671232876 per hour
    assert btc.borrow_rate_1h is not None
    assert btc.borrow_rate_1h == pytest.approx(0.000017123287671232876, rel=1e-12)
    assert btc.borrow_rate_1h * 8760 == pytest.approx(0.15, rel=1e-12)
    assert btc.funding is not None and btc.funding.rate != btc.borrow_rate_1h
    mainnet = market(parse(snapshot(MAINNET)), "BTC/USD")
    assert mainnet.borrow_rate_1h == pytest.approx(0.0000022824, rel=1e-12)  # 0.00022824 %/h ≈ 2 %/yr


@pytest.mark.parametrize("bad", [None, {}, {"long": "x", "short": 0.1}, {"long": math.nan}, "0.01", [0.1]])
def test_missing_or_malformed_funding_leaves_the_oi_alone(bad: object) -> None:
    parsed = parse(with_pair("1", fundingRate=bad))
    btc = market(parsed, "BTC/USD")
    assert btc.funding is None and parsed.skipped == ()
    assert btc.oi_usd == pytest.approx(2_224_379.41, abs=0.001)  # the golden figure, unchanged
    assert btc.borrow_rate_1h is not None  # rollover is read on its own


@pytest.mark.parametrize("bad", [None, {"short": 0.001}, {"long": "abc"}, 0.0017])
def test_missing_or_malformed_rollover_gives_no_borrow_rate(bad: object) -> None:
    parsed = parse(with_pair("1", marginFee=bad))
    btc = market(parsed, "BTC/USD")
    assert btc.borrow_rate_1h is None and btc.funding is not None and parsed.skipped == ()
    assert btc.oi_usd == pytest.approx(2_224_379.41, abs=0.001)


def test_golden_pepe_in_raw_units() -> None:
    pepe = market(parse(snapshot()), "PEPE/USD")
    # No 1000-prefix on Avantis: coinOI is in plain PEPE.
    # oi_usd = 299.87 + 1020 = 1,319.87 USD
    # oi_base = 86,377,322.6158486 + 342,626,805.5089016 = 429,004,128.1247502 PEPE
    assert pepe.base == "PEPE"
    assert pepe.oi_usd == pytest.approx(1_319.87, abs=0.001)
    assert pepe.oi_base == pytest.approx(429_004_128.1247502, rel=1e-12)


def test_golden_upside_twin_adds_into_btc() -> None:
    parsed = parse(snapshot(MAINNET))
    btc, upside = market(parsed, "BTC/USD"), market(parsed, "BTC_UPSIDE/USD")
    # pair 1:   1,740,548.74 + 1,689,264.13 = 3,429,812.87 USD
    #           27.2756499444 + 25.6229739754 = 52.8986239198 BTC
    # pair 116: 637,308.17 + 662,284.49 = 1,299,592.66 USD
    #           9.783691069 + 10.1485569936 = 19.9322480626 BTC
    # BTC total = 4,729,405.53 USD and 72.8308719824 BTC
    assert (btc.base, upside.base) == ("BTC", "BTC")
    assert upside.oi_usd == pytest.approx(1_299_592.66, abs=0.001)
    assert upside.oi_base == pytest.approx(19.9322480626, rel=1e-12)
    assert math.fsum(m.oi_usd for m in parsed.markets if m.base == "BTC") == pytest.approx(
        4_729_405.53, abs=0.001
    )
    assert math.fsum(m.oi_base or 0.0 for m in parsed.markets if m.base == "BTC") == pytest.approx(
        72.8308719824, rel=1e-12
    )


def test_cross_check_with_the_venues_pair_oi() -> None:
    body = snapshot()
    parsed = parse(body)
    for item in parsed.markets:
        pair = next(p for p in body["pairInfos"].values() if f"{p['from']}/{p['to']}" == item.venue_symbol)
        assert item.oi_usd == pytest.approx(float(str(pair["pairOI"])), rel=0.005)


def test_cross_check_with_core_open_interests() -> None:
    # Same mainnet minute: core /v2/open-interests gives unrounded legs plus pending legs.
    # /v2/trading's openInterest = longOI + shortOI + pendingLongOI + pendingShortOI (pair 116 has
    # 98,432.69 USD pending; pair 1 none): ours must match that within 0.5 %.
    parsed = parse(snapshot(MAINNET))
    core_body = fixture("avantis", "open_interests_v2.json")
    assert isinstance(core_body, dict)
    core = {row["pairIndex"]: row for row in core_body["openInterests"]}
    for index, symbol in ((1, "BTC/USD"), (116, "BTC_UPSIDE/USD")):
        row = core[index]
        usd = row["longOI"] + row["shortOI"] + row["pendingLongOI"] + row["pendingShortOI"]
        coins = row["longCoinOI"] + row["shortCoinOI"] + row["pendingLongCoinOI"] + row["pendingShortCoinOI"]
        assert market(parsed, symbol).oi_usd == pytest.approx(usd, rel=0.005)
        assert market(parsed, symbol).oi_base == pytest.approx(coins, rel=0.005)


def test_only_listed_crypto_usd_pairs_with_positions_count() -> None:
    parsed = parse(snapshot())
    # skipped: 12 USD/JPY (FOREX), 21 XAU (COMMODITIES), 81 NVDA (EQUITIES), 28 FET (delisted,
    # phantom 994.86 USD), 32 placeholder (""), 107 BTC_DEGEN (listed, zero OI)
    assert sorted(m.venue_symbol for m in parsed.markets) == ["BTC/USD", "ETH/USD", "PEPE/USD", "SOL/USD"]
    assert parsed.skipped == ()


def test_degen_twin_strips_like_upside() -> None:
    body = snapshot()
    body["pairInfos"]["107"]["openInterest"] = {"long": 1000.0, "short": 500.0}
    degen = market(parse(body), "BTC_DEGEN/USD")
    assert (degen.base, degen.oi_usd) == ("BTC", 1500.0)


def test_equity_in_a_crypto_group_is_not_counted() -> None:
    body = snapshot()
    body["pairInfos"]["81"]["groupIndex"] = 0  # NVDA, assetType "equity"
    assert "NVDA/USD" not in {m.venue_symbol for m in parse(body).markets}


def test_missing_coin_oi_gives_no_coin_figure() -> None:
    body = snapshot()
    del body["pairInfos"]["1"]["coinOI"]
    btc = market(parse(body), "BTC/USD")
    assert btc.oi_base is None and btc.oi_usd == pytest.approx(2_224_379.41)


@pytest.mark.parametrize("field", ["openInterest", "isPairListed", "from", "groupIndex"])
def test_drift_missing_field(field: str) -> None:
    body = snapshot()
    del body["pairInfos"]["1"][field]
    with pytest.raises(SchemaDrift, match=field):
        parse(body)


@pytest.mark.parametrize("field", ["pairInfos", "groupInfo"])
def test_drift_missing_top_level(field: str) -> None:
    body = snapshot()
    del body[field]
    with pytest.raises(SchemaDrift, match=field):
        parse(body)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("openInterest", {"long": "NaN", "short": 1.0}),
        ("openInterest", {"long": -5.0, "short": 1.0}),
        ("openInterest", {"long": 2e12, "short": 1.0}),  # absurd: over 1e12 USD
        ("coinOI", {"long": 1.0, "short": -0.5}),
    ],
)
def test_bad_value_skips_the_row(field: str, value: object) -> None:
    body = snapshot()
    body["pairInfos"]["1"][field] = value
    parsed = parse(body)
    assert "BTC/USD" not in {m.venue_symbol for m in parsed.markets}
    assert len(parsed.skipped) == 1 and parsed.skipped[0].startswith("pair 1:")


def test_unknown_group_skips_the_row() -> None:
    body = snapshot()
    body["pairInfos"]["1"]["groupIndex"] = 99
    assert parse(body).skipped == ("pair 1: groupIndex 99 is not in groupInfo",)


def test_no_crypto_pairs_is_malformed() -> None:
    body = snapshot()
    body["pairInfos"] = {k: v for k, v in body["pairInfos"].items() if k in ("12", "21", "81")}
    with pytest.raises(MalformedResponse):
        parse(body)


def test_envelope() -> None:
    avantis.check_envelope(fixture("avantis", SDK_SNAPSHOT))  # bare snapshot: nothing to check
    with pytest.raises(VenueRateLimited):
        avantis.check_envelope({"ok": False, "error": {"code": "RATE_LIMITED", "message": "slow down"}})
    with pytest.raises(VenueRejected, match="UPSTREAM_ERROR"):
        avantis.check_envelope({"ok": False, "error": {"code": "UPSTREAM_ERROR", "message": "rpc"}})


@pytest.mark.skipif(not SHARED_EXCHANGES.exists(), reason="shared/exchanges reference pages not present")
def test_every_recorded_sample_parses() -> None:
    samples = recorded_samples("avantis")
    assert set(samples) == POLLED_SAMPLES | UNPOLLED_SAMPLES
    for name in sorted(POLLED_SAMPLES):
        body = samples[name]
        avantis.check_envelope(body)
        parsed = parse(body)
        assert parsed.markets and parsed.skipped == ()


async def test_simulator_contract() -> None:
    await assert_sim_contract(avantis.SPEC, avantis_sim.SIM)
