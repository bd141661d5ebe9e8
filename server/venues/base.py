"""What a venue module declares, and the strict readers its pure parse functions use.

A venue is data plus two pure functions (tardis' mappers, cryptofeed's endpoint tables):

- ``VenueSpec``: id, live base URL, the *catalog* requests (instrument metadata, refreshed hourly)
  and ``parse_catalog``; the per-cycle requests (a function of the catalog, so per-symbol venues can
  list one request per market) and ``parse``; optional pacing for per-symbol venues and an
  envelope check for venues that wrap errors in HTTP 200 bodies.
- ``Bodies``: the decoded JSON of one cycle's (or catalog's) requests, by request key.

What several venues share is written once here: ``catalog_of`` (a catalog from the markets a row
loop found), ``always`` (cycle requests that do not depend on the catalog), ``field_rows`` (the rows
of a ``data``/``result`` field), ``first_price`` (a mark price with the prices to fall back on when
it is empty) and ``code_envelope`` (an in-body status code checked against its success value).

The poller (``server/poll``) owns HTTP, retries, pacing, timeouts and status; nothing here does I/O.
The field readers fail loudly: a missing field is ``SchemaDrift`` naming the venue's field (the whole
response is suspect), a present but unusable number is ``ImplausibleValue`` (that row is skipped).
Nothing is turned into a default value and silently summed (the ccxt ``safe_*`` trap).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeVar

from server.core.errors import (
    ImplausibleValue,
    MalformedResponse,
    SchemaDrift,
    VenueRateLimited,
    VenueRejected,
)
from server.core.model import Funding, Market, MarketOI, ParsedPoll, Raw, RawUnit, VenueType

HOUR_S: Final = 3600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One HTTP request, relative to the venue's base URL. ``body`` (JSON text) makes it a POST.

    ``host`` names one of the spec's ``hosts`` for venues whose books live on two hosts (Coinbase);
    "" is the spec's ``base_url``.
    """

    key: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    body: str | None = None
    weight: int = 1
    optional: bool = False  # a failure drops this body (the parser skips its market) instead of the poll
    host: str = ""


@dataclass(frozen=True, slots=True)
class Bodies:
    """Decoded JSON bodies by request key; paginated requests keep every page in order."""

    pages_by_key: Mapping[str, tuple[object, ...]]

    def one(self, key: str) -> object:
        """The body of a required request (its first page)."""
        pages = self.pages_by_key.get(key)
        if not pages:
            raise MalformedResponse(f"no body for request {key!r}")
        return pages[0]

    def get(self, key: str) -> object | None:
        """The body of an optional request, or None when that request failed."""
        pages = self.pages_by_key.get(key)
        return pages[0] if pages else None

    def pages(self, key: str) -> tuple[object, ...]:
        pages = self.pages_by_key.get(key)
        if not pages:
            raise MalformedResponse(f"no body for request {key!r}")
        return pages


@dataclass(frozen=True, slots=True, kw_only=True)
class Catalog:
    """A venue's instrument metadata, as its catalog endpoints describe it (refreshed hourly).

    ``markets``: venue symbol → ``Market`` for every perpetual we count. ``weight_limit_per_minute``:
    the venue's published request budget when it publishes one at runtime. ``groups``: sub-books to
    poll per cycle (e.g. Hyperliquid's perp dexes); empty for most venues. ``funding_interval_h``:
    venue symbol → funding interval in hours, for venues whose catalog says it (a symbol absent
    here has no known interval, so no funding).
    """

    markets: Mapping[str, Market] = field(default_factory=dict)
    weight_limit_per_minute: int | None = None
    groups: tuple[str, ...] = ()
    funding_interval_h: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pacing:
    """Request pacing for venues that need one request per market.

    We spend at most ``share`` of the venue's per-minute weight budget (the rest is headroom for
    the hourly catalog refresh and other clients behind the same IP) with at most ``concurrency``
    requests in flight, and pause until the next minute when the venue's used-weight header says
    we passed that share anyway.
    """

    weight_per_minute: int
    share: float = 0.7
    concurrency: int = 8
    used_weight_header: str | None = None


def catalog_of(
    markets: Iterable[Market | None],
    *,
    weight_limit_per_minute: int | None = None,
    groups: tuple[str, ...] = (),
) -> Catalog:
    """A catalog of the markets a venue's catalog rows describe, by venue symbol; None (a row that is
    not a perpetual we count) is left out, and a symbol listed twice keeps its last market."""
    return Catalog(
        markets={market.venue_symbol: market for market in markets if market is not None},
        weight_limit_per_minute=weight_limit_per_minute,
        groups=groups,
    )


def always(*requests: Request) -> Callable[[Catalog], tuple[Request, ...]]:
    """``cycle_requests`` for a bulk venue: the same requests every cycle, whatever the catalog."""

    def cycle_requests(_: Catalog) -> tuple[Request, ...]:
        return requests

    return cycle_requests


def _no_catalog(_: Bodies) -> Catalog:
    return Catalog()


def _no_envelope(_: object) -> None:
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueSpec:
    """Everything the shared machinery needs to poll one venue.

    ``hosts`` maps extra host names to live base URLs (``Request.host``); a base-URL override
    (``--venue-url``, the simulator) points every host of the venue at the one URL given.
    """

    id: str
    base_url: str
    docs_url: str
    cycle_requests: Callable[[Catalog], tuple[Request, ...]]
    parse: Callable[[Catalog, Bodies], ParsedPoll]
    catalog_requests: tuple[Request, ...] = ()
    parse_catalog: Callable[[Bodies], Catalog] = _no_catalog
    catalog_ttl_s: float = HOUR_S
    check_envelope: Callable[[object], None] = _no_envelope
    next_page: Callable[[Request, object], Request | None] | None = None
    pacing: Pacing | None = None
    hosts: Mapping[str, str] = field(default_factory=dict)
    venue_type: VenueType = VenueType.CEX

    def live_urls(self) -> dict[str, str]:
        """Host name → live base URL ("" is ``base_url``)."""
        return {"": self.base_url, **self.hosts}


# --- strict field readers -------------------------------------------------------------------------

Row = Mapping[str, object]
R = TypeVar("R")


def obj(value: object, what: str) -> Row:
    """``value`` as a JSON object, or SchemaDrift naming ``what``."""
    if not isinstance(value, Mapping):
        raise SchemaDrift(f"{what}: expected an object, got {type(value).__name__}")
    return value


def rows(value: object, what: str) -> Sequence[Row]:
    """``value`` as a JSON array of objects, or SchemaDrift naming ``what``."""
    if not isinstance(value, list):
        raise SchemaDrift(f"{what}: expected an array, got {type(value).__name__}")
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise SchemaDrift(f"{what}[{index}]: expected an object, got {type(item).__name__}")
    return value


def field_rows(body: object, name: str, what: str) -> Sequence[Row]:
    """The array of objects in field ``name`` of the JSON object ``body`` (``data``, ``result``...);
    SchemaDrift names ``what`` or ``what.name``."""
    return rows(field_of(obj(body, what), name), f"{what}.{name}")


def field_of(row: Row, name: str) -> object:
    """A required field (any JSON type), or SchemaDrift naming it."""
    try:
        return row[name]
    except KeyError:
        raise SchemaDrift(f"missing field {name!r}") from None


def _to_float(value: object, name: str) -> float:
    """A JSON number or numeric string as a finite float: a wrong type is SchemaDrift (the response
    changed shape), an unusable value (text, NaN, inf, beyond float range) is ImplausibleValue."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise SchemaDrift(f"field {name!r}: expected a number or numeric string, got {type(value).__name__}")
    try:
        number = float(value)
    except (ValueError, OverflowError):  # "abc"; an integer beyond float's range
        raise ImplausibleValue(f"field {name!r}: {str(value)[:40]!r} is not a number") from None
    if not math.isfinite(number):
        raise ImplausibleValue(f"field {name!r}: {value!r} is not finite")
    return number


def num(row: Row, name: str) -> float:
    """A required finite number (JSON number or numeric string, as venues send both)."""
    return _to_float(field_of(row, name), name)


def opt_num(row: Row, name: str) -> float | None:
    """A number the venue documents as optional: absent, null or "" read as None."""
    value = row.get(name)
    if value is None or value == "":
        return None
    return _to_float(value, name)


def text(row: Row, name: str) -> str:
    """A required string field."""
    value = field_of(row, name)
    if not isinstance(value, str):
        raise SchemaDrift(f"field {name!r}: expected a string, got {type(value).__name__}")
    return value


def flag(row: Row, name: str) -> bool:
    """A required boolean field."""
    value = field_of(row, name)
    if not isinstance(value, bool):
        raise SchemaDrift(f"field {name!r}: expected a boolean, got {type(value).__name__}")
    return value


def first_price(
    row: Row,
    names: Sequence[str],
    *,
    usable: Callable[[float], bool] = lambda price: price > 0,
    read: Callable[[Row, str], float | None] = opt_num,
) -> float:
    """The first of ``names`` (a mark price, then the prices a venue falls back on) whose value is
    ``usable``, each read with ``read``: ``opt_num`` where a fallback field may be absent, null or ""
    (the next one is then read), ``num`` where every field read is required. ``names[0]`` is always
    sent, so its absence is SchemaDrift, not a fallback case; no usable value is ImplausibleValue."""
    field_of(row, names[0])
    for name in names:
        price = read(row, name)
        if price is not None and usable(price):
            return price
    raise ImplausibleValue(f"no usable price in {', '.join(names)}")


def raw_figure(row: Row, name: str, unit: RawUnit) -> Raw:
    """The venue's own OI figure in field ``name``, verbatim: a string as sent, a JSON number as its
    text (``json.loads`` keeps ints exact; a float prints as the shortest text that reads back)."""
    value = field_of(row, name)
    return Raw(field=name, value=value if isinstance(value, str) else json.dumps(value), unit=unit)


T = TypeVar("T")


def optional(read: Callable[[], T]) -> T | None:
    """``read()``, or None when the venue's field is missing or unusable. For figures that ride
    along with OI (funding, next funding time): their absence must never fail the OI reading."""
    try:
        return read()
    except (SchemaDrift, ImplausibleValue, KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def funding_of(
    rate: float | None,
    interval_hours: float | None,
    *,
    next_at_ms: float | None = None,
    short_rate: float | None = None,
) -> Funding | None:
    """A ``Funding`` from a venue's rate (fraction per interval, the rate longs pay) and that
    market's interval in hours from the venue's own data; None when either is missing or unusable
    (never a guessed interval). ``next_at_ms`` is kept only when it is a plausible unix ms time."""
    if rate is None or interval_hours is None:
        return None
    if not (math.isfinite(rate) and math.isfinite(interval_hours) and interval_hours > 0):
        return None
    next_ms = int(next_at_ms) if next_at_ms is not None and 1e12 <= next_at_ms < 1e14 else None
    short = short_rate if short_rate is not None and math.isfinite(short_rate) else None
    return Funding(rate=rate, interval_hours=interval_hours, next_at_ms=next_ms, short_rate=short)


def code_envelope(
    venue: str,
    code_field: str,
    ok: object,
    *,
    message_field: str = "msg",
    rate_limited: Collection[object] = (),
    retry_after_s: float = 0.0,
) -> Callable[[object], None]:
    """``check_envelope`` for venues whose every body carries a status code ``code_field``, even under
    HTTP 200: ``ok`` is success, a code in ``rate_limited`` is VenueRateLimited (retry after
    ``retry_after_s``), any other is VenueRejected quoting ``message_field``. A body without the
    field is SchemaDrift."""
    what = f"{venue} response"

    def check_envelope(body: object) -> None:
        envelope = obj(body, what)
        code = field_of(envelope, code_field)
        if code == ok:
            return
        message = f"{venue} {code_field} {code}: {str(envelope.get(message_field))[:120]}"
        if code in rate_limited:
            raise VenueRateLimited(message, retry_after_s=retry_after_s)
        raise VenueRejected(message)

    return check_envelope


def collect(
    items: Iterable[R], convert: Callable[[R], MarketOI | None], *, label: Callable[[R], str]
) -> ParsedPoll:
    """Convert each row: None means "not a market we count" (ignored), ImplausibleValue means a bad
    row (skipped and reported with its label). SchemaDrift propagates: the whole response is suspect.
    An empty result is MalformedResponse, so an empty market list never replaces good data."""
    markets: list[MarketOI] = []
    skipped: list[str] = []
    skipped_symbols: list[str] = []
    for item in items:
        try:
            market = convert(item)
        except ImplausibleValue as error:
            skipped.append(f"{label(item)}: {error}")
            skipped_symbols.append(label(item))
            continue
        if market is not None:
            markets.append(market)
    if not markets:
        detail = f" ({len(skipped)} rows skipped: {skipped[0]})" if skipped else ""
        raise MalformedResponse(f"no perpetual markets in the response{detail}")
    return ParsedPoll(markets=tuple(markets), skipped=tuple(skipped), skipped_symbols=tuple(skipped_symbols))
