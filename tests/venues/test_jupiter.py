"""Jupiter: pool venue, long (locked tokens) + short (USD × 1e6); decimals read from jlp-info."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from server.core.errors import ImplausibleValue, MalformedResponse, SchemaDrift
from server.core.model import ContractKind, Convention, PriceKind, Raw, RawUnit, VenueType
from server.sim.render import jupiter as jupiter_sim
from server.venues import jupiter
from server.venues.base import Bodies, Catalog
from server.venues.jupiter import ETH_MINT, SOL_MINT, WBTC_MINT
from tests.support import SHARED_EXCHANGES, assert_sim_contract, fixture, market, pages, recorded_samples

JLP_INFO = fixture("jupiter", "jlp_info.json")
STATS = {
    SOL_MINT: fixture("jupiter", "market_stats_SOL.json"),
    ETH_MINT: fixture("jupiter", "market_stats_ETH.json"),
    WBTC_MINT: fixture("jupiter", "market_stats_WBTC.json"),
}


def catalog(jlp_info: object = JLP_INFO) -> Catalog:
    return jupiter.parse_catalog(pages({"jlpInfo": jlp_info}))


def cycle(jlp_info: object = JLP_INFO, stats: dict[str, object] | None = None) -> Bodies:
    bodies = {jupiter.stats_key(mint): body for mint, body in (STATS if stats is None else stats).items()}
    return pages({"jlpInfo": jlp_info, **bodies})


def edited(custody: str, /, **fields: str) -> Any:
    """A copy of the jlp-info fixture with some fields of one custody (by its symbol) changed."""
    body = copy.deepcopy(JLP_INFO)
    row = next(c for c in body["custodies"] if c["symbol"] == custody)  # type: ignore[index]
    row.update(fields)
    return body


def without(symbol: str, name: str) -> Any:
    body = copy.deepcopy(JLP_INFO)
    del next(c for c in body["custodies"] if c["symbol"] == symbol)[name]  # type: ignore[index]
    return body


def test_catalog_reads_decimals_and_keys_markets_by_mint() -> None:
    markets = catalog().markets
    # USDC and USDT custodies hold collateral only: no market.
    assert sorted(markets) == sorted([SOL_MINT, ETH_MINT, WBTC_MINT])
    assert {m.base for m in markets.values()} == {"SOL", "ETH", "BTC"}
    assert all(m.kind is ContractKind.LINEAR and m.base_factor == 1.0 for m in markets.values())
    # aumTokenAmount / aumTokenAmountFormatted: 8100000000000000 / 8100000 = 10^9 (SOL);
    # 176990559753 / 1769.90559753 = 10^8 (wBTC); 11000000000000 / 110000 = 10^8 (ETH)
    assert markets[SOL_MINT].contract_size == pytest.approx(1e-9, rel=1e-12)
    assert markets[WBTC_MINT].contract_size == pytest.approx(1e-8, rel=1e-12)
    assert markets[ETH_MINT].contract_size == pytest.approx(1e-8, rel=1e-12)


def test_golden_btc_long_plus_short() -> None:
    btc = market(jupiter.parse(catalog(), cycle()), WBTC_MINT)
    # long  = locked 18,034,732,757 / 10^8 = 180.34732757 BTC (× 60,000 = 10,820,839.6542 USD)
    # short = globalShortSizes 4,500,000,000,000 / 1e6 = 4,500,000 USD (/ 60,000 = 75 BTC)
    # pool venue, long + short: oi_base = 180.34732757 + 75 = 255.34732757 BTC
    #                           oi_usd  = 10,820,839.6542 + 4,500,000 = 15,320,839.6542 USD
    assert btc.base == "BTC"
    assert btc.oi_base == pytest.approx(255.34732757, rel=1e-12)
    assert btc.oi_usd == pytest.approx(15_320_839.6542, abs=0.0001)
    assert btc.price_usd == 60_000.0


def test_provenance_pool_longs_in_raw_token_units() -> None:
    btc = market(jupiter.parse(catalog(), cycle()), WBTC_MINT)
    # locked is the main figure (the longs), as sent; each raw unit is 10^-8 BTC
    assert btc.raw == Raw(field="locked", value="18034732757", unit=RawUnit.CONTRACTS)
    assert btc.contract_size == pytest.approx(1e-8, rel=1e-12)
    assert btc.convention is Convention.POOL_LONG_PLUS_SHORT and btc.price_kind is PriceKind.ORACLE
    assert (btc.kind, btc.margin_asset, btc.margin_type.value) == (ContractKind.LINEAR, "USD", "stablecoin")
    assert jupiter.SPEC.venue_type is VenueType.DEX


def test_no_funding_and_no_borrow_rate_in_the_polled_responses() -> None:
    # Jupiter has no funding; its borrow fee is not in jlp-info or market-stats: both stay None.
    parsed = jupiter.parse(catalog(), cycle())
    assert [(m.funding, m.borrow_rate_1h) for m in parsed.markets] == [(None, None)] * 3


def test_golden_sol_nine_decimals() -> None:
    sol = market(jupiter.parse(catalog(), cycle()), SOL_MINT)
    # long  = locked 176,285,714,285,714 / 10^9 = 176,285.714285714 SOL (× 140 = 24,679,999.99999996 USD)
    # short = 12,000,000,000,000 / 1e6 = 12,000,000 USD (/ 140 = 85,714.285714285714 SOL)
    # oi_base = 261,999.999999999714 SOL; oi_usd = 36,679,999.99999996 USD
    assert sol.base == "SOL"
    assert sol.oi_base == pytest.approx(261_999.999999999714, rel=1e-12)
    assert sol.oi_usd == pytest.approx(36_679_999.99999996, abs=0.0001)


def test_golden_eth() -> None:
    eth = market(jupiter.parse(catalog(), cycle()), ETH_MINT)
    # long = 274,666,666,667 / 10^8 = 2,746.66666667 ETH (× 3,000 = 8,240,000.00001 USD);
    # short = 6,000,000 USD = 2,000 ETH: oi_base = 4,746.66666667 ETH; oi_usd = 14,240,000.00001 USD
    assert eth.oi_base == pytest.approx(4_746.66666667, rel=1e-12)
    assert eth.oi_usd == pytest.approx(14_240_000.00001, abs=0.0001)


def test_each_side_counts_once() -> None:
    longs_only = market(jupiter.parse(catalog(), cycle(edited("WBTC", globalShortSizes="0"))), WBTC_MINT)
    # no shorts: oi = the longs alone, 180.34732757 BTC = 10,820,839.6542 USD (not halved)
    assert longs_only.oi_base == pytest.approx(180.34732757, rel=1e-12)
    assert longs_only.oi_usd == pytest.approx(10_820_839.6542, abs=0.0001)
    shorts_only = market(jupiter.parse(catalog(), cycle(edited("WBTC", locked="0"))), WBTC_MINT)
    # no longs: oi = the shorts alone, 4,500,000 USD = 4,500,000 / 60,000 = 75 BTC
    assert shorts_only.oi_usd == pytest.approx(4_500_000.0)
    assert shorts_only.oi_base == pytest.approx(75.0, rel=1e-12)


def test_empty_custody_reports_zero_not_missing() -> None:
    parsed = jupiter.parse(catalog(), cycle(edited("ETH", locked="0", globalShortSizes="0")))
    eth = market(parsed, ETH_MINT)
    assert (eth.oi_base, eth.oi_usd) == (0.0, 0.0)
    assert not parsed.skipped


def test_cross_check_locked_against_reported_utilisation() -> None:
    # The venue's own utilizationPct is locked / owned: 18,034,732,757 / 176,990,559,753 = 10.19 %
    # against the reported "10.18" (the third party's real WBTC figures): locked is raw token units.
    wbtc = next(c for c in JLP_INFO["custodies"] if c["symbol"] == "WBTC")  # type: ignore[index]
    ours = float(wbtc["locked"]) / float(wbtc["owned"]) * 100
    assert ours == pytest.approx(float(wbtc["utilizationPct"]), rel=0.005)


@pytest.mark.parametrize("formatted", ["1769.91", "1,769.91", "1770"])
def test_decimals_from_a_rounded_formatted_amount(formatted: str) -> None:
    markets = catalog(edited("WBTC", aumTokenAmountFormatted=formatted)).markets
    assert markets[WBTC_MINT].contract_size == pytest.approx(1e-8, rel=1e-12)


@pytest.mark.parametrize(
    ("raw", "formatted"), [("0", "0"), ("176990559753", "559692346.2"), ("176990559753", "abc")]
)
def test_underivable_decimals_fail_the_catalog(raw: str, formatted: str) -> None:
    # 176990559753 / 559692346.2 = 10^2.5: not a decimals count
    with pytest.raises(ImplausibleValue):
        catalog(edited("WBTC", aumTokenAmount=raw, aumTokenAmountFormatted=formatted))


def test_markets_matched_by_mint_not_symbol() -> None:
    body = edited("USDC", symbol="BTC")  # a stablecoin custody named like a market: still skipped
    next(c for c in body["custodies"] if c["symbol"] == "WBTC")["symbol"] = "BTC"  # still counted
    parsed = jupiter.parse(catalog(body), cycle(body))
    assert sorted(m.venue_symbol for m in parsed.markets) == sorted([SOL_MINT, ETH_MINT, WBTC_MINT])
    assert market(parsed, WBTC_MINT).oi_base == pytest.approx(255.34732757, rel=1e-12)


def test_failed_market_stats_leaves_only_that_market_out() -> None:
    parsed = jupiter.parse(catalog(), cycle(stats={ETH_MINT: STATS[ETH_MINT], WBTC_MINT: STATS[WBTC_MINT]}))
    assert sorted(m.base for m in parsed.markets) == ["BTC", "ETH"]
    assert not parsed.skipped


@pytest.mark.parametrize(
    ("field", "value"),
    [("locked", "NaN"), ("globalShortSizes", "-5000000"), ("locked", "1e30"), ("locked", "n/a")],
)
def test_bad_value_skips_the_row(field: str, value: str) -> None:
    parsed = jupiter.parse(catalog(), cycle(edited("SOL", **{field: value})))
    assert sorted(m.base for m in parsed.markets) == ["BTC", "ETH"]
    assert len(parsed.skipped) == 1 and parsed.skipped[0].startswith("SOL")


@pytest.mark.parametrize("price", ["0", "-1", "NaN"])
def test_bad_price_skips_the_row(price: str) -> None:
    stats = {**STATS, WBTC_MINT: {**STATS[WBTC_MINT], "price": price}}  # type: ignore[dict-item]
    parsed = jupiter.parse(catalog(), cycle(stats=stats))
    assert sorted(m.base for m in parsed.markets) == ["ETH", "SOL"]
    assert len(parsed.skipped) == 1


@pytest.mark.parametrize("field", ["locked", "globalShortSizes", "mint"])
def test_drift_custody_field_removed(field: str) -> None:
    with pytest.raises(SchemaDrift, match=field):
        jupiter.parse(catalog(), cycle(without("SOL", field)))


def test_drift_price_removed_or_custodies_renamed() -> None:
    stats = {**STATS, SOL_MINT: {"priceUsd": "140"}}
    with pytest.raises(SchemaDrift, match="price"):
        jupiter.parse(catalog(), cycle(stats=stats))
    with pytest.raises(SchemaDrift, match="custodies"):
        jupiter.parse(catalog(), cycle({"custody": []}))
    with pytest.raises(SchemaDrift, match="aumTokenAmount"):
        catalog(without("ETH", "aumTokenAmountFormatted"))


def test_no_markets_is_malformed() -> None:
    with pytest.raises(MalformedResponse):
        jupiter.parse(catalog(), cycle({**JLP_INFO, "custodies": []}))  # type: ignore[dict-item]
    stables_only = {**JLP_INFO, "custodies": JLP_INFO["custodies"][3:]}  # type: ignore[index, dict-item]
    with pytest.raises(MalformedResponse):
        catalog(stables_only)


def test_no_in_body_error_codes() -> None:
    # Jupiter documents errors as HTTP statuses (market-stats: 400), none inside 200 bodies: the
    # spec keeps the default no-op envelope check, and an unexpected error body is schema drift.
    jupiter.SPEC.check_envelope({"error": "anything"})
    with pytest.raises(SchemaDrift):
        jupiter.parse(catalog(), cycle({"error": "internal"}))


def test_requests_per_cycle() -> None:
    requests = jupiter.cycle_requests(catalog())
    assert [(r.path, r.params, r.optional) for r in requests] == [
        ("/v1/jlp-info", (), False),
        *[("/v1/market-stats", (("mint", mint),), True) for mint in sorted(STATS)],
    ]
    assert [r.path for r in jupiter.SPEC.catalog_requests] == ["/v1/jlp-info"]
    assert jupiter.SPEC.pacing is not None and jupiter.SPEC.pacing.weight_per_minute == 30


@pytest.mark.skipif(not SHARED_EXCHANGES.exists(), reason="shared/exchanges not present on this machine")
def test_every_recorded_sample_parses() -> None:
    samples = recorded_samples("jupiter")
    if not samples:
        pytest.skip("no recorded Jupiter response exists (see samples/SOURCES.md)")
    for name, body in samples.items():
        if name.startswith("jlp"):
            assert len(jupiter.parse(catalog(body), cycle(body)).markets) == 3, name
        elif name.startswith("market"):
            assert jupiter.price_of(body) > 0, name
        else:
            pytest.fail(f"no parser for sample {name}")


async def test_sim_contract() -> None:
    await assert_sim_contract(jupiter.SPEC, jupiter_sim.SIM)
