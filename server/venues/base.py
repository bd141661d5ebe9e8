"""What a venue module declares, and the strict readers its pure parse functions use.

A venue is data plus two pure functions (tardis' mappers, cryptofeed's endpoint tables):

- ``VenueSpec``: id, live base URL, the *catalog* requests (instrument metadata, refreshed hourly)
  and ``parse_catalog``; the per-cycle requests (a function of the catalog, so per-symbol venues can
  list one request per market) and ``parse``; optional pacing for per-symbol venues and an
  envelope check for venues that wrap errors in HTTP 200 bodies.
- ``Bodies``: the decoded JSON of one cycle's (or catalog's) requests, by request key.

The poller (``server/poll``) owns HTTP, retries, pacing, timeouts and status; nothing here does I/O.
The field readers fail loudly: a missing field is ``SchemaDrift`` naming the venue's field (the whole
response is suspect), a present but unusable number is ``ImplausibleValue`` (that row is skipped).
Nothing is turned into a default value and silently summed (the ccxt ``safe_*`` trap).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeVar

from server.core.errors import ImplausibleValue, MalformedResponse, SchemaDrift
from server.core.model import Market, MarketOI, ParsedPoll

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
    poll per cycle (e.g. Hyperliquid's perp dexes); empty for most venues.
    """

    markets: Mapping[str, Market] = field(default_factory=dict)
    weight_limit_per_minute: int | None = None
    groups: tuple[str, ...] = ()


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


def field_of(row: Row, name: str) -> object:
    """A required field (any JSON type), or SchemaDrift naming it."""
    if name not in row:
        raise SchemaDrift(f"missing field {name!r}")
    return row[name]


def _to_float(value: object, name: str) -> float:
    if isinstance(value, bool):
        raise SchemaDrift(f"field {name!r}: expected a number, got a boolean")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise ImplausibleValue(f"field {name!r}: {value[:40]!r} is not a number") from None
    else:
        raise SchemaDrift(f"field {name!r}: expected a number or numeric string, got {type(value).__name__}")
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
