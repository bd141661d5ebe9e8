"""Avantis (renamed Veranta on 2026-09-14), source ``avantis``: every pair's pool OI from one snapshot.

Docs: https://sdk.veranta.xyz (data service ``/v2/trading``; hosts per veranta-sdk 2.2.0 ``config.py``)

Endpoint: ``GET {data}/v2/trading`` every cycle, all pairs; no catalog request (names, groups and
listing flags come with the figures; no contract sizes exist). ``{data}`` is the gateway's data route,
``https://prod-api.veranta.xyz/data``; ``https://data.avantisfi.com`` and
``https://prod-api.avantisfi.com/data`` serve the same payload (``--venue-url avantis=...``).
The body is the bare snapshot (``dataVersion`` 3): ``pairInfos`` and ``groupInfo``, objects keyed by
string index. No limits are published; the gateway answers HTTP 429 under load (shared layer).
Error envelopes ``{"ok": false, "error": {"code", "message"}}`` of other Avantis services are honoured.

Units: JSON numbers in human units, no fixed point on this endpoint (the 1e6 USDC / 1e10 price
scalings belong to core ``/user-data`` and on-chain reads, which we do not use):
- ``openInterest.long`` / ``.short``: USD (USDC) notional at entry, rounded to cents;
- ``coinOI.long`` / ``.short``: base coins of ``from``, raw units (PEPE, SHIB, BONK are plain coins).
Every pair is LINEAR, USD-quoted, USDC-margined; one unit of exposure is one coin.
Pool rule (API.md, reference page): traders face the USDC vault, not each other, so each trader
position is counted once: USD = long + short (= the venue's ``pairOI``), base coins = coinOI.long +
coinOI.short. Price: none. The payload has no price and the bulk ``last-price`` feed is a day-old
candle, so USD is the venue's own entry notional, not coins × a mark (differs by the move since entry).
Counted: ``isPairListed`` pairs of a ``CRYPTO*`` group (``feed.attributes.assetType`` crypto where
given) quoted in ``USD``. ``_UPSIDE`` (and older ``_DEGEN``) zero-fee twins add into their base.
Skipped: delisted and placeholder pairs, FOREX/COMMODITIES/EQUITIES, pairs with zero USD OI.
Undecided on the page, chosen here: ``openInterest`` missing is SchemaDrift (never 0); ``coinOI``
missing gives no coin figure (``oi_base`` None), not 0. ``/v2/trading`` legs already include core's
``pending*`` legs (2026-08-19 captures, pair 116: long = longOI + pendingLongOI); taken as sent. The
page's host fallback is not automatic: one ``base_url``, switched with ``--venue-url``.
Provenance: convention pool_long_plus_short; price none (price kind null); ``raw`` = ``pairOI``
verbatim (USD), the venue's own long + short of exactly the two ``openInterest`` legs summed here;
``openInterest.long`` verbatim where a pair sends no ``pairOI``.
Funding (v2, continuous, quoted per hour): ``fundingRate.long`` / ``.short`` (JSON numbers), each
side's rate in PERCENT PER HOUR, positive = that side pays. The unit: the SDK's data docs show
``fundingRate`` {0.012, -0.012} beside ``fundingFeePerHourP`` 0.012 (Avantis-Labs/avantis_trader_sdk
``docs/mintlify/data/socket-io.mdx``), and its ``markets.mdx`` prints ``fundingFeePerHourP`` as
"funding/h: … %"; read as a fraction, the recorded SOL short rate −0.0617 would be −6 %/h. The
sign: the recorded sides pay and receive the same dollars (SOL: 0.0022027 × 94,758.95 USD long ≈
0.0617252 × 3,441.35 USD short ≈ 210 USD/h; mainnet BTC likewise with the signs reversed), so
positive = pays on both sides. Hence rate = long / 100 (what longs pay) and short_rate = short / 100
(what shorts pay), per 1 h (``FUNDING_INTERVAL_H``: the quote's own hour; no settlement times, so
no next_at). Rollover (``marginFee.{long,short}``, percent per hour: 0.0017123… = 15 %/yr ÷ 8760) is
a borrow fee, never funding: ``borrow_rate_1h`` = ``marginFee.long`` / 100, the LONG side's (both
sides are equal in every recording). Missing or unusable funding/rollover fields give None, never
a failed OI reading.
Fixtures: tests/fixtures/avantis/ (see SOURCES.md there).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from server.core.errors import ImplausibleValue, VenueRateLimited, VenueRejected
from server.core.model import (
    ContractKind,
    Convention,
    Funding,
    Market,
    MarketOI,
    ParsedPoll,
    Raw,
    RawUnit,
    VenueType,
)
from server.core.symbols import canonical_base
from server.core.units import reported_oi, require_amount
from server.venues.base import (
    Bodies,
    Catalog,
    Request,
    Row,
    VenueSpec,
    always,
    collect,
    field_of,
    flag,
    funding_of,
    num,
    obj,
    optional,
    raw_figure,
    text,
)

TRADING_PATH: Final = "/v2/trading"
QUOTE: Final = "USD"
CRYPTO_GROUP_PREFIX: Final = "CRYPTO"  # CRYPTO1..4; FOREX, COMMODITIES, EQUITIES are not crypto
TWIN_SUFFIXES: Final = ("_UPSIDE", "_DEGEN")
RATE_LIMIT_CODE: Final = "RATE_LIMITED"
# fundingRate and marginFee are quoted in percent per hour: the rate's own interval is one hour.
FUNDING_INTERVAL_H: Final = 1.0
PERCENT: Final = 100.0


def strip_twin(name: str) -> str:
    for suffix in TWIN_SUFFIXES:
        name = name.removesuffix(suffix)
    return name


def asset_type(pair: Row) -> str:
    """``feed.attributes.assetType``; documented as possibly missing or blank ("")."""
    feed = pair.get("feed")
    attributes = feed.get("attributes") if isinstance(feed, Mapping) else None
    value = attributes.get("assetType") if isinstance(attributes, Mapping) else None
    return value if isinstance(value, str) else ""


def pair_market(pair: Row, groups: Row) -> Market | None:
    """The crypto perpetual a listed pair is, or None (delisted, not crypto, not USD-quoted)."""
    if not flag(pair, "isPairListed") or strip_twin(text(pair, "to").upper()) != QUOTE:
        return None
    group_index = field_of(pair, "groupIndex")
    group = groups.get(str(group_index))
    if group is None:
        raise ImplausibleValue(f"groupIndex {group_index!r} is not in groupInfo")
    if not text(obj(group, "groupInfo entry"), "name").startswith(CRYPTO_GROUP_PREFIX):
        return None
    if asset_type(pair) not in ("", "crypto"):
        return None
    raw = text(pair, "from")
    if not strip_twin(raw):
        raise ImplausibleValue("listed pair with an empty 'from'")
    base, factor = canonical_base(strip_twin(raw.upper()))
    return Market(
        venue_symbol=f"{raw}/{text(pair, 'to')}",
        base=base,
        base_factor=factor,
        kind=ContractKind.LINEAR,
        contract_size=1.0,  # coinOI is already in coins
        settle="USDC",
    )


def long_plus_short(pair: Row, name: str) -> float:
    """Pool rule: every trader position counted once, longs and shorts alike."""
    sides = obj(field_of(pair, name), name)
    return require_amount(num(sides, "long"), f"{name}.long") + require_amount(
        num(sides, "short"), f"{name}.short"
    )


def pool_raw(pair: Row) -> Raw:
    """``pairOI`` as sent (the venue's own long + short), else the long leg as sent."""
    total = pair.get("pairOI")
    if isinstance(total, int | float | str) and not isinstance(total, bool):
        return raw_figure(pair, "pairOI", RawUnit.USD)
    sent = raw_figure(obj(field_of(pair, "openInterest"), "openInterest"), "long", RawUnit.USD)
    return Raw(field="openInterest.long", value=sent.value, unit=RawUnit.USD)


def funding(pair: Row) -> Funding | None:
    """``fundingRate`` per side, percent per hour, positive = that side pays: rate = long / 100,
    short_rate = short / 100."""
    rates = obj(field_of(pair, "fundingRate"), "fundingRate")
    return funding_of(
        num(rates, "long") / PERCENT,
        FUNDING_INTERVAL_H,
        short_rate=optional(lambda: num(rates, "short") / PERCENT),
    )


def rollover_1h(pair: Row) -> float:
    """The long side's rollover (``marginFee.long``, percent per hour) as a fraction per hour."""
    return num(obj(field_of(pair, "marginFee"), "marginFee"), "long") / PERCENT


def parse(_: Catalog, bodies: Bodies) -> ParsedPoll:
    snapshot = obj(bodies.one("trading"), "v2/trading")
    pairs = obj(field_of(snapshot, "pairInfos"), "pairInfos")
    groups = obj(field_of(snapshot, "groupInfo"), "groupInfo")

    def convert(item: tuple[str, object]) -> MarketOI | None:
        pair = obj(item[1], f"pairInfos[{item[0]!r}]")
        market = pair_market(pair, groups)
        if market is None:
            return None
        oi_usd = long_plus_short(pair, "openInterest")
        if oi_usd == 0:
            return None  # listed but nobody holds a position (coinOI may keep 1e-10 dust)
        coins = long_plus_short(pair, "coinOI") if pair.get("coinOI") is not None else None
        return reported_oi(
            market,
            oi_base=coins,
            oi_usd=oi_usd,
            price_usd=None,
            raw=pool_raw(pair),
            convention=Convention.POOL_LONG_PLUS_SHORT,
            funding=optional(lambda: funding(pair)),
            borrow_rate_1h=optional(lambda: rollover_1h(pair)),
        )

    return collect(pairs.items(), convert, label=lambda item: f"pair {item[0]}")


def check_envelope(body: object) -> None:
    """The data service sends the bare snapshot; other Avantis services wrap errors as ``ok: false``."""
    if not isinstance(body, Mapping) or body.get("ok") is not False:
        return
    error = obj(body.get("error") or {}, "avantis error")
    code = error.get("code")
    message = f"avantis error {code}: {str(error.get('message'))[:120]}"
    if code == RATE_LIMIT_CODE:
        raise VenueRateLimited(message, retry_after_s=10.0)
    raise VenueRejected(message)


SPEC: Final = VenueSpec(
    id="avantis",
    base_url="https://prod-api.veranta.xyz/data",
    docs_url="https://sdk.veranta.xyz",
    cycle_requests=always(Request(key="trading", path=TRADING_PATH)),
    parse=parse,
    check_envelope=check_envelope,
    venue_type=VenueType.DEX,
)
