"""Canonical base symbols: one name per asset across all venues, plus the unit factor it implies.

Venues name the same asset differently: ``XBT`` (BitMEX, KuCoin) is BTC; ``1000PEPE`` (Binance,
Bybit), ``1000000MOG``, ``1MBABYDOGE`` and ``kPEPE`` (Hyperliquid) are *bundles* of the asset, so one
venue unit is 1000 (or 1e6) canonical coins. ``canonical_base`` returns both the name and that
factor; callers multiply base units by it (USD figures need no correction: the venue's price is
the price of its own unit).

Table-driven and pure. Names that merely start with a digit (``1INCH``) are left alone: only the
prefixes below followed by a letter (or the suffix below after letters) are bundles.

A client's symbol (``client_symbol``) resolves the aliases only: ``XBT`` is the same coin in the same
unit as ``BTC``, so the answer for BTC is the answer for XBT. A bundle name does not resolve: the
answer for ``1000PEPE`` would be PEPE's, with ``oi_contracts`` in PEPE coins, 1000 times the count a
client asking in 1000PEPE units expects; ``bundle_of`` lets the not-found answer point at PEPE
instead. (``kPEPE`` cannot even be told from a coin named ``KPEPE`` once client input is upper-cased.)
"""

from __future__ import annotations

import functools
from typing import Final

ALIASES: Final[dict[str, str]] = {
    "XBT": "BTC",  # BitMEX / KuCoin spelling of bitcoin
}

# Longest first, so "1000000MOG" is not read as "1000" + "000MOG".
BUNDLE_PREFIXES: Final[tuple[tuple[str, float], ...]] = (
    ("1000000", 1_000_000.0),
    ("100000", 100_000.0),
    ("10000", 10_000.0),
    ("1000", 1_000.0),
    ("1M", 1_000_000.0),
)

# Bybit names a few bundles with a suffix instead: SHIB1000USDT has baseCoin "SHIB1000".
BUNDLE_SUFFIXES: Final[tuple[tuple[str, float], ...]] = (("1000", 1_000.0),)

THOUSANDS_PREFIX: Final = "k"  # Hyperliquid: lower-case k + upper-case ticker = ×1000 (kPEPE)


# Venues list a few thousand names between them; parse runs every poll, so each name is worked out
# once (bounded: a venue inventing names each poll cannot grow it without limit).
@functools.lru_cache(maxsize=16_384)
def canonical_base(raw: str) -> tuple[str, float]:
    """Map a venue's base-asset name to (canonical symbol, canonical coins per venue unit).

    >>> canonical_base("1000PEPE")
    ('PEPE', 1000.0)
    >>> canonical_base("kPEPE")
    ('PEPE', 1000.0)
    >>> canonical_base("XBT")
    ('BTC', 1.0)
    >>> canonical_base("SHIB1000")
    ('SHIB', 1000.0)
    >>> canonical_base("1INCH")
    ('1INCH', 1.0)
    """
    name = raw.strip()
    factor = 1.0
    if len(name) > 1 and name[0] == THOUSANDS_PREFIX and name[1].isupper():
        name, factor = name[1:], 1_000.0
    else:
        for prefix, prefix_factor in BUNDLE_PREFIXES:
            rest = name[len(prefix) :]
            if name.startswith(prefix) and rest[:1].isalpha():
                name, factor = rest, prefix_factor
                break
        else:
            for suffix, suffix_factor in BUNDLE_SUFFIXES:
                stem = name[: -len(suffix)]
                if name.endswith(suffix) and len(stem) >= 2 and stem.isalpha():
                    name, factor = stem, suffix_factor
                    break
    upper = name.upper()
    return ALIASES.get(upper, upper), factor


def client_symbol(raw: str) -> str:
    """A client's (well-formed) symbol as the service names it: upper-case, aliases resolved.

    >>> client_symbol("xbt")
    'BTC'
    >>> client_symbol("1000PEPE")  # a bundle stays itself: see the module docstring
    '1000PEPE'
    """
    upper = raw.upper()
    return ALIASES.get(upper, upper)


def bundle_of(symbol: str) -> tuple[str, float] | None:
    """For an upper-case bundle name, (the canonical symbol, canonical coins per bundle), else None.

    >>> bundle_of("1000PEPE")
    ('PEPE', 1000.0)
    >>> bundle_of("1INCH") is None
    True
    """
    name, factor = canonical_base(symbol)
    return (name, factor) if factor != 1.0 else None
