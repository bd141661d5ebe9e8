from __future__ import annotations

import pytest

from server.core.symbols import bundle_of, canonical_base, client_symbol


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("BTC", ("BTC", 1.0)),
        ("XBT", ("BTC", 1.0)),
        ("xbt", ("BTC", 1.0)),
        ("1000PEPE", ("PEPE", 1000.0)),
        ("1000000MOG", ("MOG", 1_000_000.0)),
        ("10000LADYS", ("LADYS", 10_000.0)),
        ("1MBABYDOGE", ("BABYDOGE", 1_000_000.0)),
        ("kPEPE", ("PEPE", 1000.0)),
        ("kBONK", ("BONK", 1000.0)),
        ("SHIB1000", ("SHIB", 1000.0)),
        ("KAS", ("KAS", 1.0)),  # an upper-case K is a real ticker, not a bundle
        ("1INCH", ("1INCH", 1.0)),  # starts with a digit, not a bundle prefix
        ("1000", ("1000", 1.0)),  # nothing after the digits: not a bundle
        ("1000X", ("X", 1000.0)),
        ("eth", ("ETH", 1.0)),
    ],
)
def test_canonical_base(raw: str, expected: tuple[str, float]) -> None:
    assert canonical_base(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("XBT", "BTC"),
        ("xbt", "BTC"),
        ("btc", "BTC"),
        ("1000PEPE", "1000PEPE"),  # a bundle is another unit: never silently the coin
        ("kpepe", "KPEPE"),
        ("1INCH", "1INCH"),
    ],
)
def test_client_symbol_resolves_aliases_only(raw: str, expected: str) -> None:
    assert client_symbol(raw) == expected


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("1000PEPE", ("PEPE", 1000.0)),
        ("1MBABYDOGE", ("BABYDOGE", 1_000_000.0)),
        ("SHIB1000", ("SHIB", 1000.0)),
        ("PEPE", None),
        ("1INCH", None),
        ("XBT", None),
    ],
)
def test_bundle_of(symbol: str, expected: tuple[str, float] | None) -> None:
    assert bundle_of(symbol) == expected
