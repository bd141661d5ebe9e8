"""HTX: the OI call's own coin (``amount``) and USDT (``value``) figures; coin-M USD = contracts × face."""

from __future__ import annotations

import copy

import pytest

from server.core.errors import MalformedResponse, SchemaDrift, VenueRateLimited, VenueRejected
from server.core.model import ContractKind
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


def cycle(linear: object | None = None, coinm: object | None = None) -> Bodies:
    return pages(
        {
            "openInterest:linear": linear or fixture("htx", "linear_swap_open_interest.json"),
            "openInterest:coinm": coinm or fixture("htx", "swap_open_interest.json"),
        }
    )


def linear_oi() -> dict[str, list[dict[str, object]]]:
    return copy.deepcopy(fixture("htx", "linear_swap_open_interest.json"))  # type: ignore[arg-type]


def test_catalog_keeps_swaps_and_reads_contract_size() -> None:
    markets = catalog().markets
    assert sorted(markets) == ["BTC-USD", "BTC-USDT", "LTC-USD"]  # the three dated BTC-USDT-21xxxx dropped
    assert markets["BTC-USDT"].kind is ContractKind.LINEAR and markets["BTC-USDT"].contract_size == 0.001
    assert markets["BTC-USD"].kind is ContractKind.INVERSE and markets["BTC-USD"].contract_size == 100.0
    assert markets["LTC-USD"].contract_size == 10.0 and markets["LTC-USD"].settle == "LTC"


def test_golden_usdt_margined_taken_as_sent() -> None:
    btc = market(htx.parse(catalog(), cycle()), "BTC-USDT")
    # oi_base = amount 78.696 BTC (= volume 78,696 contracts × contract_size 0.001 BTC), not halved
    # oi_usd = value 3,823,138.2456 USDT, not halved (implied price 3,823,138.2456 / 78.696 = 48,581.1)
    assert btc.oi_base == pytest.approx(78.696, rel=1e-12)
    assert btc.oi_usd == pytest.approx(3_823_138.2456, abs=1e-4)
    assert btc.price_usd is None  # no price was needed


def test_golden_coin_margined_face_value() -> None:
    ltc = market(htx.parse(catalog(), cycle()), "LTC-USD")
    # oi_usd = volume 129 contracts × contract_size 10 USD = 1,290 USD (one side, as the coin-M doc says)
    # oi_base = amount 9.485294117647058 LTC (HTX's 1,290 USD / 136.0)
    assert ltc.oi_usd == pytest.approx(1290.0, abs=1e-9)
    assert ltc.oi_base == pytest.approx(9.485294117647058, rel=1e-12)


def test_cross_check_amount_against_contract_formula() -> None:
    # Ours from contracts (volume × contract_size) against HTX's own coin figure, within 0.5 %.
    row = fixture("htx", "linear_swap_open_interest.json")["data"][0]  # type: ignore[index]
    from_contracts = float(row["volume"]) * catalog().markets["BTC-USDT"].contract_size
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
    assert market(htx.parse(suspended, cycle()), "BTC-USDT").oi_base == pytest.approx(78.696)
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


async def test_sim_contract() -> None:
    await assert_sim_contract(htx.SPEC, htx_sim.SIM)
