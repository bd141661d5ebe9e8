"""MEXC: holdVol contracts × contractSize (base coins, linear) or × face USD (inverse), at fairPrice."""

from __future__ import annotations

import copy

import pytest

from server.core.errors import MalformedResponse, SchemaDrift, VenueRateLimited, VenueRejected
from server.core.model import ContractKind, Convention, PriceKind, Raw, RawUnit
from server.sim.render import mexc as mexc_sim
from server.venues import mexc
from server.venues.base import Bodies, Catalog
from tests.support import SHARED_EXCHANGES, assert_sim_contract, fixture, market, pages, recorded_samples


def catalog(detail: object | None = None, funding: object | None = None) -> Catalog:
    """The catalog from detail and, where given, the optional all-symbols funding call's body."""
    bodies = {"detail": detail or fixture("mexc", "contract_detail_books.json")}
    if funding is not None:
        bodies["funding"] = funding
    return mexc.SPEC.parse_catalog(pages(bodies))


def funding_all() -> dict[str, list[dict[str, object]]]:
    return copy.deepcopy(fixture("mexc", "contract_funding_rate_all.json"))  # type: ignore[arg-type]


def cycle(ticker: object) -> Bodies:
    return pages({"ticker": ticker})


def books() -> dict[str, object]:
    return copy.deepcopy(fixture("mexc", "contract_ticker_books.json"))  # type: ignore[arg-type]


def test_catalog_reads_contract_size_and_kind() -> None:
    markets = catalog().markets
    assert markets["BTC_USDT"].kind is ContractKind.LINEAR and markets["BTC_USDT"].contract_size == 0.0001
    assert markets["ETH_USDT"].contract_size == 0.01
    assert markets["BTC_USDC"].kind is ContractKind.LINEAR and markets["BTC_USDC"].settle == "USDC"
    assert markets["BTC_USD"].kind is ContractKind.INVERSE and markets["BTC_USD"].contract_size == 100.0
    assert {m.base for m in markets.values()} == {"BTC", "ETH"}


def test_golden_linear_2021_doc_example() -> None:
    btc = market(mexc.parse(catalog(), cycle(fixture("mexc", "contract_ticker.json"))), "BTC_USDT")
    # oi_base = holdVol 55,102,960 contracts × contractSize 0.0001 BTC = 5,510.296 BTC (one-sided, as sent)
    # oi_usd = 5,510.296 BTC × fairPrice 31,199.5 = 171,918,480.052 USD
    assert btc.oi_base == pytest.approx(5510.296, rel=1e-12)
    assert btc.oi_usd == pytest.approx(171_918_480.052, abs=0.001)
    assert btc.price_usd == 31199.5


def test_golden_linear_2025_doc_example() -> None:
    btc = market(mexc.parse(catalog(), cycle(fixture("mexc", "contract_ticker_2025.json"))), "BTC_USDT")
    # oi_base = holdVol 381,485,808 × 0.0001 BTC = 38,148.5808 BTC
    # oi_usd = 38,148.5808 × fairPrice 109,168.9 = 4,164,638,602.49712 USD
    assert btc.oi_base == pytest.approx(38_148.5808, rel=1e-12)
    assert btc.oi_usd == pytest.approx(4_164_638_602.49712, abs=0.001)


def test_golden_all_books_add_up_per_base() -> None:
    parsed = mexc.parse(catalog(), cycle(fixture("mexc", "contract_ticker_books.json")))
    eth = market(parsed, "ETH_USDT")
    # ETH_USDT: 5,832,946 contracts × 0.01 ETH = 58,329.46 ETH; × fairPrice 3,581.08 = 208,882,462.6168 USD
    assert eth.oi_base == pytest.approx(58_329.46, rel=1e-12)
    assert eth.oi_usd == pytest.approx(208_882_462.6168, abs=0.001)
    usdc = market(parsed, "BTC_USDC")
    # USDC book, same rule: 381,485,808 × 0.0001 = 38,148.5808 BTC; × 109,168.9 = 4,164,638,602.49712 USD
    assert usdc.base == "BTC" and usdc.oi_base == pytest.approx(38_148.5808, rel=1e-12)
    assert usdc.oi_usd == pytest.approx(4_164_638_602.49712, abs=0.001)


def test_golden_inverse_face_value() -> None:
    btc = market(mexc.parse(catalog(), cycle(fixture("mexc", "contract_ticker_books.json"))), "BTC_USD")
    # oi_usd = holdVol 55,102,960 contracts × 100 USD = 5,510,296,000 USD
    # oi_base = 5,510,296,000 USD / fairPrice 31,199.5 = 176,614.8816487 BTC
    assert btc.oi_usd == pytest.approx(5_510_296_000.0)
    assert btc.oi_base == pytest.approx(176_614.8816487, rel=1e-10)


def test_inverse_with_unexpected_face_value_is_a_skipped_row() -> None:
    detail = copy.deepcopy(fixture("mexc", "contract_detail_books.json"))
    detail["data"][3]["contractSize"] = 1  # type: ignore[index]
    parsed = mexc.parse(catalog(detail), cycle(fixture("mexc", "contract_ticker_books.json")))
    assert "BTC_USD" not in {m.venue_symbol for m in parsed.markets}
    assert len(parsed.skipped) == 1 and parsed.skipped[0].startswith("BTC_USD:")


def test_thousand_prefixed_base_gets_its_factor() -> None:
    # Constructed (MEXC names cheap coins plainly): a 1000PEPE_USDT contract of 1 venue unit.
    detail = copy.deepcopy(fixture("mexc", "contract_detail.json"))
    detail["data"][0].update(symbol="1000PEPE_USDT", baseCoin="1000PEPE", contractSize=1)  # type: ignore[index]
    ticker = copy.deepcopy(fixture("mexc", "contract_ticker.json"))
    ticker["data"].update(symbol="1000PEPE_USDT", holdVol=2000, fairPrice=0.01)  # type: ignore[index]
    pepe = market(mexc.parse(catalog(detail), cycle(ticker)), "1000PEPE_USDT")
    # oi_base = 2,000 contracts × 1 × 1,000 PEPE = 2,000,000 PEPE; oi_usd = 2,000 × 0.01 = 20 USD
    assert pepe.base == "PEPE" and pepe.oi_base == pytest.approx(2_000_000.0)
    assert pepe.oi_usd == pytest.approx(20.0)


def test_fair_price_falls_back_to_index_then_last() -> None:
    ticker = copy.deepcopy(fixture("mexc", "contract_ticker.json"))
    ticker["data"]["fairPrice"] = 0  # type: ignore[index]
    assert market(mexc.parse(catalog(), cycle(ticker)), "BTC_USDT").price_usd == 31016.3  # indexPrice
    ticker["data"]["indexPrice"] = 0  # type: ignore[index]
    assert market(mexc.parse(catalog(), cycle(ticker)), "BTC_USDT").price_usd == 31199  # lastPrice


def test_disabled_dated_and_unknown_markets_are_skipped() -> None:
    detail = copy.deepcopy(fixture("mexc", "contract_detail_books.json"))
    rows = detail["data"]  # type: ignore[index]
    rows[1]["state"] = 3  # ETH_USDT offline
    rows[2]["futureType"] = 2  # BTC_USDC: not a perpetual (2025 docs' field)
    rows[0]["futureType"] = 1  # BTC_USDT: perpetual, kept
    assert sorted(catalog(detail).markets) == ["BTC_USD", "BTC_USDT"]
    ticker = books()
    ticker["data"].append({**ticker["data"][0], "symbol": "NEW_USDT"})  # type: ignore[attr-defined,index]
    parsed = mexc.parse(catalog(detail), cycle(ticker))
    assert sorted(m.venue_symbol for m in parsed.markets) == ["BTC_USD", "BTC_USDT"]


def test_zero_hold_vol_is_not_counted() -> None:
    ticker = books()
    ticker["data"][1]["holdVol"] = 0  # type: ignore[index]
    parsed = mexc.parse(catalog(), cycle(ticker))
    assert "ETH_USDT" not in {m.venue_symbol for m in parsed.markets} and not parsed.skipped


@pytest.mark.parametrize("bad", ["NaN", -5, 1e30])
def test_implausible_hold_vol_is_a_skipped_row(bad: object) -> None:
    ticker = books()
    ticker["data"][1]["holdVol"] = bad  # type: ignore[index]
    parsed = mexc.parse(catalog(), cycle(ticker))
    assert "ETH_USDT" not in {m.venue_symbol for m in parsed.markets}
    assert len(parsed.skipped) == 1 and parsed.skipped[0].startswith("ETH_USDT:")


def test_drift_missing_hold_vol() -> None:
    ticker = books()
    del ticker["data"][0]["holdVol"]  # type: ignore[index]
    with pytest.raises(SchemaDrift, match="holdVol"):
        mexc.parse(catalog(), cycle(ticker))


def test_drift_missing_contract_size() -> None:
    detail = copy.deepcopy(fixture("mexc", "contract_detail.json"))
    del detail["data"][0]["contractSize"]  # type: ignore[index]
    with pytest.raises(SchemaDrift, match="contractSize"):
        catalog(detail)


def test_no_markets_is_malformed() -> None:
    with pytest.raises(MalformedResponse):
        mexc.parse(catalog(), cycle({"success": True, "code": 0, "data": []}))


def test_envelope_codes() -> None:
    mexc.check_envelope(fixture("mexc", "contract_ticker.json"))
    with pytest.raises(VenueRateLimited):
        mexc.check_envelope({"success": False, "code": 510, "message": "Excessive frequency of requests"})
    with pytest.raises(VenueRejected, match="1001"):
        mexc.check_envelope({"success": False, "code": 1001, "message": "Contract does not exist"})
    with pytest.raises(SchemaDrift):
        mexc.check_envelope({"data": []})


@pytest.mark.skipif(not SHARED_EXCHANGES.exists(), reason="shared/exchanges not on this machine")
def test_every_recorded_sample_parses() -> None:
    samples = recorded_samples("mexc")
    detail = samples["contract_detail.json"]
    mexc.check_envelope(detail)
    assert list(catalog(detail).markets) == ["BTC_USDT"]
    books_catalog = catalog()  # the recorded rows plus ETH_USDT, whose detail row was never recorded
    tickers = [name for name in samples if name.startswith("contract_ticker")]
    assert tickers == ["contract_ticker.json", "contract_ticker_2025.json", "contract_ticker_all.json"]
    for name in tickers:
        body = samples[name]
        mexc.check_envelope(body)
        parsed = mexc.parse(books_catalog, cycle(body))
        assert len(parsed.markets) == 1 and not parsed.skipped, name


async def test_sim_contract() -> None:
    await assert_sim_contract(mexc.SPEC, mexc_sim.SIM)


# --- provenance and funding (issue 12) ----------------------------------------------------------


def test_golden_provenance() -> None:
    parsed = mexc.parse(catalog(), cycle(fixture("mexc", "contract_ticker_books.json")))
    eth = market(parsed, "ETH_USDT")
    assert eth.raw == Raw(field="holdVol", value="5832946", unit=RawUnit.CONTRACTS)  # JSON number's text
    assert eth.convention is Convention.ONE_SIDED and eth.price_kind is PriceKind.MARK
    assert eth.contract_size == 0.01 and eth.margin_asset == "USDT"
    assert market(parsed, "BTC_USDC").margin_asset == "USDC"
    inverse = market(parsed, "BTC_USD")
    assert (
        inverse.margin_asset == "BTC"
        and inverse.contract_size == 100.0
        and inverse.kind is ContractKind.INVERSE
    )


def test_price_kind_names_the_fallback_used() -> None:
    body = books()
    body["data"][1]["fairPrice"] = 0  # type: ignore[index]
    eth = market(mexc.parse(catalog(), cycle(body)), "ETH_USDT")
    assert eth.price_kind is PriceKind.INDEX


def test_golden_funding_from_ticker_rate_and_catalog_interval() -> None:
    parsed = mexc.parse(catalog(funding=funding_all()), cycle(fixture("mexc", "contract_ticker_books.json")))
    funding = market(parsed, "ETH_USDT").funding
    # ticker fundingRate 6.3e-05 per collectCycle 8 h (hourly funding call):
    # rate_8h = 0.000063 × 8 / 8 = 0.000063; apr = 0.000063 × 8760 / 8 = 0.068985
    # next: nextSettleTime 1,609,833,600,000 + 845 × 28,800,000 = 1,634,169,600,000 (2021-10-14 00:00 UTC),
    # the first settlement after the row's timestamp 1,634,162,885,016
    assert funding is not None
    assert funding.rate == 0.000063 and funding.interval_hours == 8.0
    assert funding.rate_8h == pytest.approx(0.000063, abs=1e-15)
    assert funding.apr == pytest.approx(0.068985, abs=1e-12)
    assert funding.next_at_ms == 1_634_169_600_000


def test_golden_funding_four_hour_cycle() -> None:
    body = funding_all()
    body["data"][1]["collectCycle"] = 4  # ETH_USDT settles every 4 h
    funding = market(
        mexc.parse(catalog(funding=body), cycle(fixture("mexc", "contract_ticker_books.json"))), "ETH_USDT"
    ).funding
    # rate_8h = 0.000063 × 8 / 4 = 0.000126; apr = 0.000063 × 8760 / 4 = 0.13797
    assert funding is not None and funding.interval_hours == 4.0
    assert funding.rate_8h == pytest.approx(0.000126, abs=1e-15)
    assert funding.apr == pytest.approx(0.13797, abs=1e-12)


def test_single_symbol_funding_body_is_read_too() -> None:
    one = catalog(funding=fixture("mexc", "contract_funding_rate.json"))
    funding = market(mexc.parse(one, cycle(fixture("mexc", "contract_ticker_2025.json"))), "BTC_USDT").funding
    # the 2025 row's fundingRate 0 per 8 h: a real zero, not a missing rate
    assert funding is not None and funding.rate == 0.0 and funding.interval_hours == 8.0


def test_next_settlement_before_the_first_is_the_first() -> None:
    assert mexc.next_settlement_ms(1_609_833_600_000, 8.0, 1_609_829_807_577) == 1_609_833_600_000
    assert mexc.next_settlement_ms(1_609_833_600_000, 8.0, 1_609_833_600_000) == 1_609_862_400_000


@pytest.mark.parametrize(
    "funding", [None, {"success": True, "code": 0}, {"success": True, "code": 0, "data": []}]
)
def test_unknown_interval_gives_no_funding(funding: object) -> None:
    # None: the optional funding call failed; or it drifted, or it listed nothing: no interval, no funding
    parsed = mexc.parse(catalog(funding=funding), cycle(fixture("mexc", "contract_ticker_books.json")))
    eth = market(parsed, "ETH_USDT")
    assert eth.funding is None  # never a guessed 8 h
    assert eth.oi_usd == pytest.approx(208_882_462.6168, abs=0.001)


@pytest.mark.parametrize("bad", [0, -8, "eight", None])
def test_unusable_collect_cycle_gives_no_funding(bad: object) -> None:
    body = funding_all()
    body["data"][1]["collectCycle"] = bad
    parsed = mexc.parse(catalog(funding=body), cycle(fixture("mexc", "contract_ticker_books.json")))
    assert market(parsed, "ETH_USDT").funding is None
    assert market(parsed, "BTC_USDT").funding is not None  # the other rows still count


def test_symbol_missing_from_the_funding_call_gives_no_funding() -> None:
    parsed = mexc.parse(catalog(funding=funding_all()), cycle(fixture("mexc", "contract_ticker_books.json")))
    assert market(parsed, "BTC_USD").funding is None  # BTC_USD is not in the funding body


@pytest.mark.parametrize("bad", ["missing", None, "abc", "NaN"])
def test_missing_or_malformed_rate_gives_none_oi_unchanged(bad: object) -> None:
    body = books()
    row = body["data"][1]  # type: ignore[index]
    if bad == "missing":
        del row["fundingRate"]
    else:
        row["fundingRate"] = bad
    parsed = mexc.parse(catalog(funding=funding_all()), cycle(body))
    eth = market(parsed, "ETH_USDT")
    assert eth.funding is None and not parsed.skipped
    assert eth.oi_usd == pytest.approx(208_882_462.6168, abs=0.001)


def test_funding_call_is_one_optional_catalog_request() -> None:
    assert [(r.path, r.optional) for r in mexc.SPEC.catalog_requests] == [
        ("/api/v1/contract/detail", False),
        ("/api/v1/contract/funding_rate", True),
    ]
    assert [r.path for r in mexc.SPEC.cycle_requests(catalog())] == ["/api/v1/contract/ticker"]
    assert mexc.SPEC.pacing is None
