"""KuCoin Futures (classic REST), source ``kucoin``: every perpetual and its OI from one bulk call.

Docs: https://www.kucoin.com/docs-new/api-3470220 ("Get All Symbols")

Endpoint: ``GET /api/v1/contracts/active`` (weight 3, public pool), one request per cycle and no
catalog request: each contract record carries its contract metadata *and* its open interest, so the
multiplier is read from the venue in the very record it applies to (never hard-coded, never stale).
Numbers read: ``openInterest`` (string, lots), ``multiplier`` (number: base units per lot on linear
contracts; ``-1.0`` on inverse ones, where a lot is 1 USD), ``markPrice`` (number, quote currency per
one venue base unit; exponent forms such as ``2.0E-4`` occur). Flags: ``type``, ``status``,
``isInverse``; ``isQuanto`` is deprecated (true on the linear XBTUSDTM) and never read.

Units (USDT and USDC taken as USD):
- linear (``isInverse`` false: XBTUSDTM, XBTUSDCM): base = lots × multiplier; USD = base × markPrice.
- inverse (``isInverse`` true, coin-settled: XBTUSDM): USD = lots × |multiplier|; base = USD / markPrice.
Price: ``markPrice`` of the same record: the fair price KuCoin values positions at (a last trade can
spike), and it comes with the OI, so no second request and no time skew.
Naming: ``XBT`` is BTC; USDT, USDC and inverse books add up per base. Undecided on the page: whether
``1000BONKUSDTM`` has ``baseCurrency`` "1000BONK" or "BONK". Chosen: the symbol's stem (the symbol
minus ``<quoteCurrency>M``) names the unit that ``markPrice`` and ``multiplier`` quote, so its prefix
sets the factor (base coins × 1000) whichever ``baseCurrency`` says. Plain names (``PEPEUSDTM``) are
per coin, with a large multiplier.
One-sided: KuCoin does not say; ``openInterest`` is position size in lots on a matched order book,
and XBTUSDTM's ~6.7k BTC is in line with the one-sided figures published for KuCoin (reference page).
Used as is, never halved.
Skipped: ``type`` FFICSX (dated futures), ``status`` other than Open (Init, Paused, BeingSettled,
Settled, Closed, CancelOnly), linear contracts quoted in anything but USDT/USDC/USD.
Errors: ``code`` is a string, "200000" = success, even under HTTP 200; "429000"/"200002" = rate limit.
Funding: ``fundingFeeRate`` (JSON number, a fraction per interval: KuCoin's "current funding rate",
the rate longs pay at the next settlement, positive = longs pay shorts), interval from the same
record's ``fundingRateGranularity`` (milliseconds, "Funding interval (milliseconds)" in KuCoin's
universal SDK spec: 28,800,000 = 8 h; 4 h and 1 h contracts carry their own). ``predictedFundingFeeRate``
is not read. ``nextFundingRateTime`` is a duration, not a time: the recorded samples give 17,752,926
and 17,402,942 (about 4.9 h, less than the 8 h interval), i.e. milliseconds until the next settlement.
Turning it into a time needs the moment of the response, and ``parse`` gets no clock (``Bodies`` carries
no fetch time and the body no timestamp), so ``next_at`` is left None. A missing or malformed rate or
interval gives funding None and never touches the OI reading.
Provenance: raw = ``openInterest`` (contracts: lots), convention one_sided, price mark; the margin asset
is ``settleCurrency`` (USDT/USDC on linear contracts, the coin itself, e.g. XBT, on inverse ones).
Fixtures: tests/fixtures/kucoin/.
"""

from __future__ import annotations

import functools
from typing import Final

from server.core.errors import ImplausibleValue
from server.core.model import ContractKind, Funding, Market, MarketOI, ParsedPoll, PriceKind, RawUnit
from server.core.symbols import canonical_base
from server.core.units import market_oi
from server.venues.base import (
    Bodies,
    Catalog,
    Request,
    Row,
    VenueSpec,
    always,
    code_envelope,
    collect,
    field_of,
    flag,
    funding_of,
    num,
    obj,
    optional,
    raw_figure,
    rows,
    text,
)

CONTRACTS_PATH: Final = "/api/v1/contracts/active"
PERPETUAL: Final = "FFWCSX"  # FFICSX = dated futures
OPEN: Final = "Open"
USD_QUOTES: Final = frozenset({"USDT", "USDC", "USD"})
SUCCESS: Final = "200000"
RATE_LIMIT_CODES: Final = frozenset({"429000", "200002"})
HOUR_MS: Final = 3_600_000.0


@functools.lru_cache(maxsize=4096)  # pure, and the same few hundred names come every poll
def venue_unit(base_currency: str, symbol: str, quote: str) -> tuple[str, float]:
    """Canonical base and coins per venue unit: a prefix on the symbol's stem (``1000BONK``) or on
    ``baseCurrency`` makes a bundle, as long as the stem names the same coin."""
    base, factor = canonical_base(base_currency)
    stem_base, stem_factor = canonical_base(symbol.removesuffix(f"{quote}M"))
    return base, (max(factor, stem_factor) if stem_base == base else factor)


def contract_market(row: Row) -> Market | None:
    """The perpetual a contract record describes, or None (dated, not open, not USD-quoted)."""
    if text(row, "type") != PERPETUAL or text(row, "status") != OPEN:
        return None
    inverse = flag(row, "isInverse")
    quote = text(row, "quoteCurrency")
    if not inverse and quote not in USD_QUOTES:
        return None
    multiplier = num(row, "multiplier")
    size = abs(multiplier) if inverse else multiplier  # USD per lot (inverse) or base units per lot
    if size <= 0:
        raise ImplausibleValue(
            f"multiplier {multiplier!r} on a {'inverse' if inverse else 'linear'} contract"
        )
    symbol = text(row, "symbol")
    base, factor = venue_unit(text(row, "baseCurrency"), symbol, quote)
    return Market(
        venue_symbol=symbol,
        base=base,
        base_factor=factor,
        kind=ContractKind.INVERSE if inverse else ContractKind.LINEAR,
        contract_size=size,
        settle=text(row, "settleCurrency"),
    )


def contract_funding(row: Row) -> Funding | None:
    """``fundingFeeRate`` per ``fundingRateGranularity`` ms (no next time: see the module docstring)."""
    return funding_of(num(row, "fundingFeeRate"), num(row, "fundingRateGranularity") / HOUR_MS)


def contract_oi(row: Row) -> MarketOI | None:
    """One contract record (an element of ``contracts/active``, or ``contracts/{symbol}``'s data)."""
    market = contract_market(row)
    if market is None:
        return None
    return market_oi(
        market,
        num(row, "openInterest"),
        num(row, "markPrice"),
        raw=raw_figure(row, "openInterest", RawUnit.CONTRACTS),
        price_kind=PriceKind.MARK,
        funding=optional(lambda: contract_funding(row)),
    )


def parse(_: Catalog, bodies: Bodies) -> ParsedPoll:
    contracts = rows(field_of(obj(bodies.one("contracts"), "contracts/active"), "data"), "data")
    return collect(contracts, contract_oi, label=lambda row: str(row.get("symbol")))


# Every KuCoin body carries ``code`` (a string); anything but "200000" is an error.
check_envelope: Final = code_envelope(
    "kucoin", "code", SUCCESS, rate_limited=RATE_LIMIT_CODES, retry_after_s=10.0
)


SPEC: Final = VenueSpec(
    id="kucoin",
    base_url="https://api-futures.kucoin.com",
    docs_url="https://www.kucoin.com/docs-new/api-3470220",
    cycle_requests=always(Request(key="contracts", path=CONTRACTS_PATH, weight=3)),
    parse=parse,
    check_envelope=check_envelope,
)
