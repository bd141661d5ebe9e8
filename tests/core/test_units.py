"""The conversion formulas, each pinned with hand-computed figures."""

from __future__ import annotations

import math

import pytest

from server.core.errors import ImplausibleValue
from server.core.model import ContractKind, Market
from server.core.units import MAX_MARKET_OI_USD, market_oi, quanto_market_oi, reported_oi


def make(kind: ContractKind, size: float, factor: float = 1.0, symbol: str = "X") -> Market:
    return Market(
        venue_symbol=symbol, base="X", base_factor=factor, kind=kind, contract_size=size, settle="USDT"
    )


def test_linear() -> None:
    # 2,125,419 contracts × 0.01 BTC = 21,254.19 BTC; × 84,660.1 USD = 1,799,381,850.819 USD
    m = market_oi(make(ContractKind.LINEAR, 0.01), 2_125_419, 84_660.1)
    assert m.oi_base == pytest.approx(21_254.19)
    assert m.oi_usd == pytest.approx(1_799_381_850.819)
    assert m.price_usd == 84_660.1


def test_linear_bundle() -> None:
    # 5,000 contracts of 1 "1000PEPE" at 0.0045 USD per bundle: 5,000,000 PEPE, 22.5 USD, 4.5e-6 USD/PEPE
    m = market_oi(make(ContractKind.LINEAR, 1.0, 1000.0), 5_000, 0.0045)
    assert m.oi_base == pytest.approx(5_000_000.0)
    assert m.oi_usd == pytest.approx(22.5)
    assert m.price_usd == pytest.approx(0.0000045)


def test_inverse() -> None:
    # 15,004 contracts × 100 USD = 1,500,400 USD; / 68,234.2 = 21.988973271 BTC
    m = market_oi(make(ContractKind.INVERSE, 100.0), 15_004, 68_234.2)
    assert m.oi_usd == pytest.approx(1_500_400.0)
    assert m.oi_base == pytest.approx(21.988973271, rel=1e-9)


def test_quanto() -> None:
    # BitMEX-style ETHUSD: 1,000 contracts × 1e-6 XBT per USD of price × 3,000 USD = 3 XBT;
    # × 90,000 USD/XBT = 270,000 USD
    m = quanto_market_oi(make(ContractKind.QUANTO, 1e-6), 1_000, 3_000.0, 90_000.0, base_derivable=True)
    assert m.oi_usd == pytest.approx(270_000.0)
    assert m.oi_base == pytest.approx(90.0)  # 270,000 USD / 3,000 USD per ETH
    assert (
        quanto_market_oi(make(ContractKind.QUANTO, 1e-6), 1, 3000.0, 9e4, base_derivable=False).oi_base
        is None
    )


def test_reported() -> None:
    m = reported_oi(make(ContractKind.LINEAR, 1.0, 1000.0), oi_base=2.0, oi_usd=9.0, price_usd=4.5)
    assert m.oi_base == 2000.0 and m.oi_usd == 9.0 and m.price_usd == pytest.approx(0.0045)


@pytest.mark.parametrize("contracts", [-1.0, math.nan, math.inf])
def test_bad_amounts(contracts: float) -> None:
    with pytest.raises(ImplausibleValue):
        market_oi(make(ContractKind.LINEAR, 1.0), contracts, 10.0)


@pytest.mark.parametrize("price", [0.0, -3.0, math.nan, math.inf])
def test_bad_prices(price: float) -> None:
    with pytest.raises(ImplausibleValue):
        market_oi(make(ContractKind.LINEAR, 1.0), 1.0, price)


def test_absurd_usd_is_rejected() -> None:
    with pytest.raises(ImplausibleValue, match="exceeds"):
        market_oi(make(ContractKind.LINEAR, 1.0), MAX_MARKET_OI_USD, 2.0)


def test_zero_is_a_real_value() -> None:
    assert market_oi(make(ContractKind.INVERSE, 100.0), 0.0, 50_000.0).oi_usd == 0.0


@pytest.mark.parametrize(
    ("oi_base", "oi_usd", "price_usd", "named"),
    [
        (1.0, -1.0, 2.0, "oi_usd"),
        (1.0, math.nan, 2.0, "oi_usd"),
        (-1.0, 2.0, 2.0, "oi_base"),
        (math.inf, 2.0, 2.0, "oi_base"),
        (1.0, 2.0, 0.0, "price"),
        (1.0, 2.0, math.nan, "price"),
    ],
)
def test_reported_bad_values_name_the_field(
    oi_base: float, oi_usd: float, price_usd: float, named: str
) -> None:
    with pytest.raises(ImplausibleValue, match=named):
        reported_oi(make(ContractKind.LINEAR, 1.0), oi_base=oi_base, oi_usd=oi_usd, price_usd=price_usd)


def test_reported_optional_parts_may_be_absent() -> None:
    m = reported_oi(make(ContractKind.LINEAR, 1.0), oi_base=None, oi_usd=5.0, price_usd=None)
    assert m.oi_base is None and m.price_usd is None and m.oi_usd == 5.0


def test_overflowing_usd_is_rejected_not_published() -> None:
    # 1e300 contracts × 1e10 base units × 2 USD overflows to inf: caught by the cap check
    with pytest.raises(ImplausibleValue, match="exceeds"):
        market_oi(make(ContractKind.LINEAR, 1e10), 1e300, 2.0)


def test_reported_absurd_usd_is_rejected() -> None:
    with pytest.raises(ImplausibleValue, match="exceeds"):
        reported_oi(
            make(ContractKind.LINEAR, 1.0), oi_base=None, oi_usd=2 * MAX_MARKET_OI_USD, price_usd=None
        )
