"""Binance COIN-M: inverse contracts of contractSize USD, from the recorded doc examples."""

from __future__ import annotations

import pytest

from server.core.model import ContractKind
from server.venues import binance_coinm
from server.venues.base import Bodies, Catalog
from tests.support import fixture, market


def catalog() -> Catalog:
    return binance_coinm.SPEC.parse_catalog(
        Bodies({"exchangeInfo": (fixture("binance_coinm", "exchangeInfo.json"),)})
    )


def test_catalog_keeps_the_perpetual_with_its_contract_size() -> None:
    markets = catalog().markets
    assert list(markets) == ["BTCUSD_PERP"]  # BTCUSD_200925 is a quarterly
    assert markets["BTCUSD_PERP"].kind is ContractKind.INVERSE
    assert markets["BTCUSD_PERP"].contract_size == 100.0  # exchangeInfo contractSize, USD per contract


def test_golden_btcusd_perp_inverse() -> None:
    parsed = binance_coinm.SPEC.parse(
        catalog(),
        Bodies(
            {
                "premiumIndex": (fixture("binance_coinm", "premiumIndex.json"),),
                "oi:BTCUSD_PERP": (fixture("binance_coinm", "openInterest_BTCUSD_PERP.json"),),
            }
        ),
    )
    btc = market(parsed, "BTCUSD_PERP")
    # oi_usd = openInterest 15004 contracts × contractSize 100 USD = 1,500,400 USD
    # oi_base = 1,500,400 USD / markPrice 68,234.2 = 21.988973271 BTC
    assert btc.oi_usd == pytest.approx(1_500_400.0)
    assert btc.oi_base == pytest.approx(21.988973271, rel=1e-9)


def test_inverse_rule_is_not_the_linear_rule() -> None:
    # The same contract count read as linear would be 15004 BTC: the golden figure above must differ.
    oi = fixture("binance_coinm", "openInterest_ETHUSD_PERP.json")
    assert oi["openInterest"] == "26542436"  # type: ignore[index]
    assert oi["contractType"] == "PERPETUAL"  # type: ignore[index]
