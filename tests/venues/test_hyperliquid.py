"""Hyperliquid: positional [meta, assetCtxs], two-sided openInterest halved, kPEPE = 1000 PEPE."""

from __future__ import annotations

import copy
import json

import pytest

from server.core.errors import MalformedResponse, SchemaDrift
from server.core.model import ContractKind, Convention, ParsedPoll, PriceKind, Raw, RawUnit, VenueType
from server.sim.render import hyperliquid as hyperliquid_sim
from server.venues import hyperliquid
from server.venues.base import Catalog
from tests.support import SHARED_EXCHANGES, assert_sim_contract, fixture, market, pages, recorded_samples

MAIN = fixture("hyperliquid", "metaAndAssetCtxs_main.json")
README_ORDER = [
    "BTC",
    "ETH",
    "ATOM",
    "MATIC",
    "DYDX",
    "SOL",
    "AVAX",
    "BNB",
    "APE",
    "OP",
    "LTC",
    "ARB",
    "DOGE",
    "INJ",
    "SUI",
    "kPEPE",
]


def parse(body: object) -> ParsedPoll:
    return hyperliquid.parse(Catalog(), pages({"metaAndAssetCtxs": body}))


def main_with(index: int, **changes: object) -> object:
    """The assembled main-dex body with ctx ``index`` changed (``None`` removes a field)."""
    body = copy.deepcopy(MAIN)
    ctx = body[1][index]  # type: ignore[index]
    for name, value in changes.items():
        if value is None:
            del ctx[name]
        else:
            ctx[name] = value
    return body


def test_assembled_fixture_is_the_recording() -> None:
    ws = fixture("hyperliquid", "ws_allDexsAssetCtxs.json")
    dex, ctxs = ws["data"]["ctxs"][0]  # type: ignore[index]
    assert dex == "" and MAIN[1] == ctxs  # type: ignore[index]
    assert [a["name"] for a in MAIN[0]["universe"]] == README_ORDER  # type: ignore[index]


def test_request_is_one_bulk_post() -> None:
    (request,) = hyperliquid.SPEC.cycle_requests(Catalog())
    assert (request.path, json.loads(request.body or "")) == ("/info", {"type": "metaAndAssetCtxs"})
    assert request.weight == 20 and not request.optional
    assert hyperliquid.SPEC.catalog_requests == () and hyperliquid.SPEC.pacing is None


def test_golden_btc_half_of_two_sided() -> None:
    btc = market(parse(MAIN), "BTC")
    # openInterest 27353.17682 BTC counts longs + shorts: one side = 27353.17682 / 2 = 13676.58841 BTC
    # oi_usd = 13676.58841 × markPx 77562.0 = 1,060,783,550.25642 USD (page: 2,121,567,100.51 two-sided)
    assert btc.base == "BTC"
    assert btc.oi_base == pytest.approx(13676.58841, rel=1e-12)
    assert btc.oi_usd == pytest.approx(1_060_783_550.26, abs=0.01)
    assert btc.price_usd == 77562.0


def test_golden_eth_half_of_two_sided() -> None:
    eth = market(parse(MAIN), "ETH")
    # one side = 605822.2557999999 / 2 = 302911.12789999995 ETH
    # oi_usd = 302911.12789999995 × markPx 2123.7 = 643,292,362.32 USD (page: 1,286,584,724.65 two-sided)
    assert eth.oi_base == pytest.approx(302911.12789999995, rel=1e-12)
    assert eth.oi_usd == pytest.approx(643_292_362.32, abs=0.01)


def test_golden_kpepe_thousand_bundle() -> None:
    pepe = market(parse(MAIN), "kPEPE")
    # one side = 5235352696.0 / 2 = 2,617,676,348 kPEPE; × 1000 = 2,617,676,348,000 PEPE
    # oi_usd = 2,617,676,348 × markPx 0.003632 (USD per 1000 PEPE) = 9,507,400.495936 USD
    # price per PEPE = 0.003632 / 1000 = 0.000003632 USD
    assert pepe.base == "PEPE"
    assert pepe.oi_base == pytest.approx(2_617_676_348_000.0, rel=1e-12)
    assert pepe.oi_usd == pytest.approx(9_507_400.50, abs=0.01)
    assert pepe.price_usd == pytest.approx(0.000003632, rel=1e-12)


def test_golden_real_rest_body_sol() -> None:
    sol = market(parse(fixture("hyperliquid", "metaAndAssetCtxs_ccxt_SOL.json")), "SOL")
    # openInterest 10764.48 SOL two-sided: one side 5382.24 SOL
    # oi_usd = 5382.24 × markPx 108.04 = 581,497.2096 USD
    assert sol.oi_base == pytest.approx(5382.24, rel=1e-12)
    assert sol.oi_usd == pytest.approx(581_497.21, abs=0.01)


def test_volumes_confirm_units_of_the_listed_name() -> None:
    # No venue OI figure in USD exists to cross-check; the ctx's own volumes show that sizes are in
    # units of ``name``: dayNtlVlm / dayBaseVlm is a price inside the day's range for that unit.
    ctxs = MAIN[1]  # type: ignore[index]
    btc_vwap = float(ctxs[0]["dayNtlVlm"]) / float(ctxs[0]["dayBaseVlm"])
    kpepe_vwap = float(ctxs[15]["dayNtlVlm"]) / float(ctxs[15]["dayBaseVlm"])
    assert btc_vwap == pytest.approx(76957.91, abs=0.01)  # BTC between prevDayPx 76317 and 77562
    assert kpepe_vwap == pytest.approx(0.0035790, abs=1e-7)  # a price of 1000 PEPE, like markPx 0.003632


def test_delisted_and_zero_oi_are_skipped() -> None:
    parsed = parse(MAIN)
    # MATIC (ctx 3) is delisted with openInterest "0.0": not a market, not a skipped row.
    assert [m.venue_symbol for m in parsed.markets] == [n for n in README_ORDER if n != "MATIC"]
    assert parsed.skipped == ()
    zero = parse(main_with(2, openInterest="0.0"))
    assert "ATOM" not in {m.venue_symbol for m in zero.markets} and zero.skipped == ()


def test_hip3_builder_dex_names_never_count() -> None:
    metas = fixture("hyperliquid", "allPerpMetas_non_usdc_collateral.json")
    names = [
        asset["name"]
        for meta in metas  # type: ignore[attr-defined]
        for asset in meta["universe"]
        if hyperliquid.perp_market(asset) is not None
    ]
    assert names == ["BTC"]  # km:US500 and hyna:BTC (other collateral tokens) stay out
    hip3 = copy.deepcopy(MAIN)
    hip3[0]["universe"][0]["name"] = "hyna:BTC"  # type: ignore[index]
    assert "hyna:BTC" not in {m.venue_symbol for m in parse(hip3).markets}


def test_oracle_price_when_mark_is_missing() -> None:
    # oi_usd = 13676.58841 × oraclePx 77605.0 = 1,061,371,643.55805 USD
    assert market(parse(main_with(0, markPx=None)), "BTC").oi_usd == pytest.approx(1_061_371_643.56, abs=0.01)


def test_provenance_of_a_two_sided_figure() -> None:
    btc = market(parse(MAIN), "BTC")
    assert btc.raw == Raw(field="openInterest", value="27353.17682", unit=RawUnit.BASE)
    assert btc.convention is Convention.TWO_SIDED_HALVED
    assert btc.price_kind is PriceKind.MARK and btc.venue_price == 77562.0
    assert (btc.kind, btc.margin_asset, btc.margin_type.value) == (ContractKind.LINEAR, "USDC", "stablecoin")
    assert btc.contract_size is None  # raw counts coins, not contracts
    pepe = market(parse(MAIN), "kPEPE")
    assert pepe.raw == Raw(field="openInterest", value="5235352696.0", unit=RawUnit.BASE)
    assert pepe.base_factor == 1000.0 and pepe.venue_price == pytest.approx(0.003632, rel=1e-12)
    assert hyperliquid.SPEC.venue_type is VenueType.DEX


def test_price_kind_says_oracle_when_mark_is_missing() -> None:
    btc = market(parse(main_with(0, markPx=None)), "BTC")
    assert btc.price_kind is PriceKind.ORACLE and btc.price_usd == 77605.0


def test_golden_funding_hourly() -> None:
    parsed = parse(MAIN)
    btc = market(parsed, "BTC").funding
    # funding "-0.0000015186" per 1 h (shorts pay): rate_8h = -0.0000015186 × 8 / 1 = -0.0000121488;
    # apr = -0.0000015186 × 8760 / 1 = -0.013302936
    assert btc is not None and (btc.rate, btc.interval_hours) == (-0.0000015186, 1.0)
    assert btc.rate_8h == pytest.approx(-0.0000121488, abs=1e-15)
    assert btc.apr == pytest.approx(-0.013302936, abs=1e-12)
    assert btc.next_at_ms is None and btc.short_rate is None
    eth = market(parsed, "ETH").funding
    # the baseline "0.0000125" per 1 h: rate_8h = 0.0000125 × 8 = 0.0001 (0.01 %/8 h); apr = 0.1095
    assert eth is not None and eth.rate_8h == pytest.approx(0.0001, abs=1e-15)
    assert eth.apr == pytest.approx(0.1095, abs=1e-12)
    sol = market(parse(fixture("hyperliquid", "metaAndAssetCtxs_ccxt_SOL.json")), "SOL").funding
    # real REST body: "0.0000198" per 1 h: apr = 0.0000198 × 8760 = 0.173448
    assert sol is not None and sol.apr == pytest.approx(0.173448, abs=1e-12)


@pytest.mark.parametrize("bad", [None, "abc", "NaN", "", [], "inf"])
def test_missing_or_malformed_funding_leaves_the_oi_alone(bad: object) -> None:
    body = main_with(0, funding=None) if bad is None else main_with(0, funding=bad)
    parsed = parse(body)
    btc = market(parsed, "BTC")
    assert btc.funding is None and parsed.skipped == ()
    assert btc.oi_usd == pytest.approx(1_060_783_550.26, abs=0.01)  # the golden figure, unchanged


def test_drift_missing_open_interest() -> None:
    with pytest.raises(SchemaDrift, match="openInterest"):
        parse(main_with(0, openInterest=None))


def test_drift_missing_both_prices() -> None:
    with pytest.raises(SchemaDrift, match="oraclePx"):
        parse(main_with(0, markPx=None, oraclePx=None))


@pytest.mark.parametrize("bad", ["NaN", "-5.0", "abc", "1e300"])
def test_bad_numbers_skip_the_row(bad: str) -> None:
    parsed = parse(main_with(0, openInterest=bad))
    assert "BTC" not in {m.venue_symbol for m in parsed.markets}
    assert len(parsed.skipped) == 1 and parsed.skipped[0].startswith("BTC:")


def test_length_mismatch_drops_the_body() -> None:
    body = copy.deepcopy(MAIN)
    del body[1][-1]  # type: ignore[index]
    with pytest.raises(MalformedResponse, match="16 universe entries but 15 assetCtxs"):
        parse(body)


@pytest.mark.parametrize(
    "body",
    [{"error": "x"}, [MAIN[0]], [None, MAIN[1]], [{"universe": {}}, MAIN[1]]],  # type: ignore[index]
)
def test_drift_outer_shape(body: object) -> None:
    with pytest.raises(SchemaDrift):
        parse(body)


def test_no_envelope_errors_arrive_as_http_statuses() -> None:
    # Success bodies are bare JSON; 422/429/500 are handled by the shared HTTP layer.
    hyperliquid.SPEC.check_envelope(MAIN)
    with pytest.raises(SchemaDrift):  # the perpDexs body ([null, {...}]) is not a metaAndAssetCtxs body
        parse(fixture("hyperliquid", "perpDexs_docs_example.json"))


@pytest.mark.skipif(not SHARED_EXCHANGES.exists(), reason="shared/exchanges reference pages not present")
def test_every_recorded_sample() -> None:
    seen = set()
    for name, body in recorded_samples("hyperliquid").items():
        seen.add(name)
        if name.startswith("metaAndAssetCtxs_"):  # REST bodies: parsed as they are
            assert parse(body).markets
        elif name == "ws_allDexsAssetCtxs.json":  # ctxs only: paired with the page's universe order
            for dex, ctxs in body["data"]["ctxs"]:
                universe = [
                    {"name": n, "isDelisted": True} if n == "MATIC" else {"name": n} for n in README_ORDER
                ]
                assert dex == "" and len(parse([{"universe": universe}, ctxs]).markets) == 15
        elif name == "allPerpMetas_non_usdc_collateral.json":  # meta only: the universe rule
            assert [hyperliquid.perp_market(a) is not None for m in body for a in m["universe"]] == [
                True,
                False,
                False,
            ]
        elif name == "perpDexs_docs_example.json":  # not polled (HIP-3): refused, never half-read
            with pytest.raises(SchemaDrift):
                parse(body)
        else:
            pytest.fail(f"no parser assigned to recorded sample {name}")
    assert len(seen) == 5


async def test_sim_contract() -> None:
    await assert_sim_contract(hyperliquid.SPEC, hyperliquid_sim.SIM)
