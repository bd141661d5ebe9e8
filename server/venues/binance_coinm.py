"""Binance COIN-M futures (dapi), source ``binance_coinm``: the Binance family with inverse contracts.

Docs: https://developers.binance.com/docs/derivatives/coin-margined-futures/market-data/rest-api/Open-Interest

Endpoints: as ``binance`` under ``/dapi/v1`` (exchangeInfo and the optional fundingInfo hourly;
premiumIndex + one openInterest request per perpetual each cycle, paced inside the REQUEST_WEIGHT
budget read from exchangeInfo).

Units: every dapi contract is INVERSE: ``openInterest`` counts contracts of ``contractSize`` USD
(a JSON number in exchangeInfo: 100 for BTCUSD_PERP, 10 for the others; read, never hard-coded).
USD = openInterest × contractSize; base coins = USD / markPrice. Price: ``markPrice`` (USD per coin).
Counted: ``contractType`` PERPETUAL with ``contractStatus`` TRADING (symbols ``*_PERP``).
One-sided, as fapi. Provenance: raw = ``openInterest`` as sent, unit ``contracts`` (of
``contractSize`` USD); convention ``one_sided``; price ``mark``; margin asset = ``marginAsset`` (the coin).
Funding, as fapi: premiumIndex ``lastFundingRate`` (fraction per interval, longs pay when positive),
``nextFundingTime``; interval from ``GET /dapi/v1/fundingInfo`` ``fundingIntervalHours`` for the
adjusted symbols it lists, 8 h for the others; no fundingInfo body → no interval → funding None.
Docs: https://developers.binance.com/docs/derivatives/coin-margined-futures/market-data/rest-api/Get-Funding-Info
Fixtures: tests/fixtures/binance_coinm/.
"""

from __future__ import annotations

from typing import Final

from server.core.model import ContractKind, Market
from server.core.symbols import canonical_base
from server.venues.base import Row, num, text
from server.venues.binance import binance_spec


def coinm_market(row: Row) -> Market | None:
    """A COIN-M perpetual we count, or None (dated, delivering, not trading)."""
    if text(row, "contractType") != "PERPETUAL" or text(row, "contractStatus") != "TRADING":
        return None
    base, factor = canonical_base(text(row, "baseAsset"))
    return Market(
        venue_symbol=text(row, "symbol"),
        base=base,
        base_factor=factor,
        kind=ContractKind.INVERSE,
        contract_size=num(row, "contractSize"),  # USD per contract
        settle=text(row, "marginAsset"),
    )


SPEC: Final = binance_spec(
    id="binance_coinm",
    base_url="https://dapi.binance.com",
    api="/dapi/v1",
    docs_url="https://developers.binance.com/docs/derivatives/coin-margined-futures/market-data/rest-api/Open-Interest",
    market_of=coinm_market,
)
