"""HTX: the OI call's own coin (``amount``) and USDT (``value``) figures, USDT-M halved (two-sided);
coin-M USD = contracts × face, one side; funding from the two batch calls, 8 h."""

from __future__ import annotations

import copy

import pytest

from server.core.errors import MalformedResponse, SchemaDrift, VenueRateLimited, VenueRejected
from server.core.model import ContractKind, Convention, Raw, RawUnit
from server.sim.render import htx as htx_sim
from server.venues import htx
from server.venues.base import Bodies, Catalog
from tests.support import SHARED_EXCHANGES, assert_sim_contract, fixture, market, pages, recorded_samples


def catalog(linear: object | None = None, coinm: object | None = None) -> Catalog:
    return htx.SPEC.parse_catalog(
        pages(
            {
                "contracts:linear": linear or fixture("htx", "linear_swap_contract_info.json"),
                "contracts:coinm": coinm or fixture("htx", "swap_contract_info_ltc.json"),
            }
        )
    )


def cycle(
    linear: object | None = None, coinm: object | None = None, funding: dict[str, object] | None = None
) -> Bodies:
    """One cycle's bodies; ``funding`` overrides a product's batch funding body (None: that call failed)."""
    bodies = {
        "openInterest:linear": linear or fixture("htx", "linear_swap_open_interest.json"),
        "openInterest:coinm": coinm or fixture("htx", "swap_open_interest.json"),
        "funding:linear": fixture("htx", "linear_swap_batch_funding_rate.json"),
        "funding:coinm": fixture("htx", "swap_batch_funding_rate.json"),
    }
    bodies.update({f"funding:{product}": body for product, body in (funding or {}).items()})
    return pages({key: body for key, body in bodies.items() if body is not None})


def linear_oi() -> dict[str, list[dict[str, object]]]:
    return copy.deepcopy(fixture("htx", "linear_swap_open_interest.json"))  # type: ignore[arg-type]


def test_catalog_keeps_swaps_and_reads_contract_size() -> None:
    markets = catalog().markets
    assert sorted(markets) == ["BTC-USD", "BTC-USDT", "LTC-USD"]  # the three dated BTC-USDT-21xxxx dropped
    assert markets["BTC-USDT"].kind is ContractKind.LINEAR and markets["BTC-USDT"].contract_size == 0.001
    assert markets["BTC-USD"].kind is ContractKind.INVERSE and markets["BTC-USD"].contract_size == 100.0
    assert markets["LTC-USD"].contract_size == 10.0 and markets["LTC-USD"].settle == "LTC"


def test_golden_usdt_margined_halved() -> None:
    btc = market(htx.parse(catalog(), cycle()), "BTC-USDT")
    # The USDT-M doc: "Sum of both buy and sell sides", so halved (issue 12):
    # oi_base = amount 78.696 BTC (= volume 78,696 contracts × contract_size 0.001 BTC) / 2 = 39.348 BTC
    # oi_usd = value 3,823,138.2456 USDT / 2 = 1,911,569.1228 USD (implied price 48,581.1 either way)
    assert btc.oi_base == pytest.approx(39.348, rel=1e-12)
    assert btc.oi_usd == pytest.approx(1_911_569.1228, abs=1e-4)
    assert btc.price_usd is None  # no price was needed


def test_golden_coin_margined_face_value() -> None:
    ltc = market(htx.parse(catalog(), cycle()), "LTC-USD")
    # oi_usd = volume 129 contracts × contract_size 10 USD = 1,290 USD (one side, as the coin-M doc says)
    # oi_base = amount 9.485294117647058 LTC (HTX's 1,290 USD / 136.0)
    assert ltc.oi_usd == pytest.approx(1290.0, abs=1e-9)
    assert ltc.oi_base == pytest.approx(9.485294117647058, rel=1e-12)


def test_cross_check_amount_against_contract_formula() -> None:
    # Ours (HTX's own coin figure, halved) against the contract formula (volume / 2 × contract_size).
    row = fixture("htx", "linear_swap_open_interest.json")["data"][0]  # type: ignore[index]
    from_contracts = float(row["volume"]) / 2 * catalog().markets["BTC-USDT"].contract_size
    assert market(htx.parse(catalog(), cycle()), "BTC-USDT").oi_base == pytest.approx(
        from_contracts, rel=0.005
    )


def test_dated_futures_rows_are_skipped() -> None:
    parsed = htx.parse(catalog(), cycle())
    assert sorted(m.venue_symbol for m in parsed.markets) == ["BTC-USDT", "LTC-USD"] and not parsed.skipped


@pytest.mark.parametrize(
    ("status", "counted"),
    [
        (0, False),
        (2, False),
        (4, False),
        (6, False),
        (8, False),
        (9, False),
        (42, False),
        (1, True),
        (5, True),
        (7, True),
    ],
)
def test_contract_status(status: int, counted: bool) -> None:
    info = copy.deepcopy(fixture("htx", "linear_swap_contract_info.json"))
    info["data"][3]["contract_status"] = status  # type: ignore[index]
    assert ("BTC-USDT" in catalog(linear=info).markets) is counted


def test_suspended_counted_only_while_it_holds_open_interest() -> None:
    info = copy.deepcopy(fixture("htx", "linear_swap_contract_info.json"))
    info["data"][3]["contract_status"] = 3  # type: ignore[index]
    suspended = catalog(linear=info)
    assert market(htx.parse(suspended, cycle()), "BTC-USDT").oi_base == pytest.approx(39.348)
    empty = linear_oi()
    empty["data"][0].update(volume=0, amount=0, value=0)
    assert "BTC-USDT" not in {m.venue_symbol for m in htx.parse(suspended, cycle(linear=empty)).markets}
    assert market(htx.parse(catalog(), cycle(linear=empty)), "BTC-USDT").oi_usd == 0.0  # listed: a real 0


@pytest.mark.parametrize("bad", ["NaN", -1, 1e13])
def test_implausible_value_is_a_skipped_row(bad: object) -> None:
    body = linear_oi()
    body["data"][0]["value"] = bad
    parsed = htx.parse(catalog(), cycle(linear=body))
    assert [m.venue_symbol for m in parsed.markets] == ["LTC-USD"]
    assert len(parsed.skipped) == 1 and parsed.skipped[0].startswith("BTC-USDT:")


def test_drift_missing_value() -> None:
    body = linear_oi()
    del body["data"][0]["value"]
    with pytest.raises(SchemaDrift, match="value"):
        htx.parse(catalog(), cycle(linear=body))


def test_drift_missing_contract_size() -> None:
    info = copy.deepcopy(fixture("htx", "swap_contract_info_ltc.json"))
    del info["data"][1]["contract_size"]  # type: ignore[index]
    with pytest.raises(SchemaDrift, match="contract_size"):
        catalog(coinm=info)


def test_no_markets_is_malformed() -> None:
    empty = {"status": "ok", "data": [], "ts": 1}
    with pytest.raises(MalformedResponse):
        htx.parse(catalog(), cycle(linear=empty, coinm=empty))


def test_envelope_codes() -> None:
    htx.check_envelope(fixture("htx", "swap_open_interest.json"))
    with pytest.raises(VenueRateLimited):
        htx.check_envelope({"status": "error", "err_code": 1032, "err_msg": "visit too frequently", "ts": 1})
    with pytest.raises(VenueRejected, match="1030"):
        htx.check_envelope(
            {
                "status": "error",
                "err_code": 1030,
                "err_msg": "Abnormal service. Please try again later.",
                "ts": 1588093883199,
            }
        )
    with pytest.raises(SchemaDrift):
        htx.check_envelope({"data": []})


@pytest.mark.skipif(not SHARED_EXCHANGES.exists(), reason="shared/exchanges not on this machine")
def test_every_recorded_sample_parses() -> None:
    samples = recorded_samples("htx")

    def sample(name: str) -> object:
        htx.check_envelope(samples[name])
        return samples[name]

    assert list(samples) == [
        "linear_swap_contract_info.json",
        "linear_swap_mark_price_kline.json",
        "linear_swap_open_interest.json",
        "swap_contract_info.json",
        "swap_mark_price_kline.json",
        "swap_open_interest.json",
    ]
    recorded = catalog(sample("linear_swap_contract_info.json"), sample("swap_contract_info.json"))
    assert sorted(recorded.markets) == ["BTC-USD", "BTC-USDT"]  # BTC-USD at status 7 is counted
    parsed = htx.parse(
        catalog(coinm=fixture("htx", "swap_contract_info_ltc.json")),  # LTC-USD info was never recorded
        cycle(sample("linear_swap_open_interest.json"), sample("swap_open_interest.json")),
    )
    assert sorted(m.venue_symbol for m in parsed.markets) == ["BTC-USDT", "LTC-USD"]
    # The mark-price klines belong to an endpoint the adapter never calls (the reference page
    # prices nothing); only their envelope is checked.
    sample("linear_swap_mark_price_kline.json")
    sample("swap_mark_price_kline.json")


# --- provenance and funding (issue 12) ----------------------------------------------------------


def test_golden_provenance() -> None:
    parsed = htx.parse(catalog(), cycle())
    btc = market(parsed, "BTC-USDT")
    assert btc.raw == Raw(field="volume", value="78696", unit=RawUnit.CONTRACTS)  # as sent, before halving
    assert btc.convention is Convention.TWO_SIDED_HALVED
    assert btc.contract_size == 0.001 and btc.margin_asset == "USDT"
    assert btc.price_kind is None  # no price used
    ltc = market(parsed, "LTC-USD")
    assert ltc.raw == Raw(field="volume", value="129", unit=RawUnit.CONTRACTS)
    assert ltc.convention is Convention.ONE_SIDED  # the coin-M doc: "Single side"
    assert ltc.contract_size == 10.0 and ltc.margin_asset == "LTC" and ltc.kind is ContractKind.INVERSE


def test_golden_funding_usdt_margined() -> None:
    funding = market(htx.parse(catalog(), cycle()), "BTC-USDT").funding
    # funding_rate "-0.007500000000000000" per HTX's fixed 8 h: rate_8h = -0.0075 × 8 / 8 = -0.0075;
    # apr = -0.0075 × 8760 / 8 = -8.2125. funding_time 1613976000000 is before ts 1614045373795: no next.
    assert funding is not None
    assert funding.rate == -0.0075 and funding.interval_hours == 8.0
    assert funding.rate_8h == pytest.approx(-0.0075, abs=1e-15)
    assert funding.apr == pytest.approx(-8.2125, abs=1e-12)
    assert funding.next_at_ms is None


def test_golden_funding_coin_margined_next_settlement() -> None:
    funding = market(htx.parse(catalog(), cycle()), "LTC-USD").funding
    # "0.000100000000000000" per 8 h: rate_8h = 0.0001; apr = 0.0001 × 8760 / 8 = 0.1095.
    # funding_time 1603699200000 (16:00 GMT+8) is 2,705,286 ms after ts 1603696494714: the next one.
    assert funding is not None
    assert funding.rate_8h == pytest.approx(0.0001, abs=1e-15)
    assert funding.apr == pytest.approx(0.1095, abs=1e-12)
    assert funding.next_at_ms == 1_603_699_200_000


def test_funding_time_beyond_one_interval_is_no_next_settlement() -> None:
    body = copy.deepcopy(fixture("htx", "swap_batch_funding_rate.json"))
    body["data"][0]["funding_time"] = str(1_603_696_494_714 + 8 * 3_600_000 + 1)  # type: ignore[index]
    funding = market(htx.parse(catalog(), cycle(funding={"coinm": body})), "LTC-USD").funding
    assert funding is not None and funding.next_at_ms is None and funding.rate == 0.0001


@pytest.mark.parametrize("bad", ["missing", None, "", "abc", "NaN"])
def test_missing_or_malformed_rate_gives_no_funding_oi_unchanged(bad: object) -> None:
    body = copy.deepcopy(fixture("htx", "linear_swap_batch_funding_rate.json"))
    row = body["data"][2]  # type: ignore[index]
    if bad == "missing":
        del row["funding_rate"]
    else:
        row["funding_rate"] = bad
    parsed = htx.parse(catalog(), cycle(funding={"linear": body}))
    btc = market(parsed, "BTC-USDT")
    assert btc.funding is None and btc.oi_usd == pytest.approx(1_911_569.1228, abs=1e-4)
    assert market(parsed, "LTC-USD").funding is not None and not parsed.skipped


@pytest.mark.parametrize(
    "body", [None, {"status": "ok", "ts": 1}, {"status": "ok", "data": [], "ts": 1}, {"status": "ok"}, []]
)
def test_failed_or_empty_funding_call_gives_no_funding(body: object) -> None:
    # None: the optional call failed (no body); the others: drifted or empty bodies
    parsed = htx.parse(catalog(), cycle(funding={"linear": body}))
    btc = market(parsed, "BTC-USDT")
    assert btc.funding is None and btc.oi_usd == pytest.approx(1_911_569.1228, abs=1e-4)
    assert market(parsed, "LTC-USD").funding is not None


def test_funding_calls_are_optional() -> None:
    requests = htx.SPEC.cycle_requests(catalog())
    assert [(r.path, r.optional) for r in requests] == [
        ("/linear-swap-api/v1/swap_open_interest", False),
        ("/swap-api/v1/swap_open_interest", False),
        ("/linear-swap-api/v1/swap_batch_funding_rate", True),
        ("/swap-api/v1/swap_batch_funding_rate", True),
    ]


async def test_sim_contract() -> None:
    await assert_sim_contract(htx.SPEC, htx_sim.SIM)
