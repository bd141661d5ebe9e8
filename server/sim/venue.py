"""What a simulated venue declares: which markets it lists (in its own naming) and which routes
it serves. Render modules (``server/sim/render/<id>.py``) build one ``SimVenue`` each; paths come
from the venue's SPEC requests so the simulator's URLs cannot drift from the adapter's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from server.sim.market import Asset, Listing, ListingState


@dataclass(frozen=True, slots=True, kw_only=True)
class SimRequest:
    """One request to a simulated venue, with the venue's current market state."""

    query: Mapping[str, str]
    body: object | None  # decoded JSON body of a POST
    markets: Sequence[ListingState]
    now_ms: int


class SimHttpError(Exception):
    """Answer with this HTTP status and JSON document (e.g. the venue's own "invalid symbol" error)."""

    def __init__(self, status: int, document: object) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.document = document


@dataclass(frozen=True, slots=True, kw_only=True)
class SimRoute:
    path: str
    respond: Callable[[SimRequest], object]
    method: str = "GET"


@dataclass(frozen=True, slots=True, kw_only=True)
class SimVenue:
    """``listings(assets)`` picks and names the markets; ``venue_share`` scales OI to the venue's
    size; ``market_count`` is the venue's real number of perpetuals (reference page), which the
    full-scale simulation reproduces with synthetic coins."""

    id: str
    listings: Callable[[Sequence[Asset]], tuple[Listing, ...]]
    routes: tuple[SimRoute, ...]
    venue_share: float
    market_count: int


def synthetic(assets: Sequence[Asset], already: int, market_count: int) -> list[Asset]:
    """The synthetic (SIMnnn) assets a venue lists on top of ``already`` real ones, up to its real count."""
    extra = [a for a in assets if a.symbol.startswith("SIM")]
    return extra[: max(0, market_count - already)]


def by_symbol(markets: Sequence[ListingState]) -> dict[str, ListingState]:
    return {m.listing.venue_symbol: m for m in markets}


def fmt(value: float, decimals: int = 8) -> str:
    """A venue-style decimal string (no exponent, trailing zeros trimmed)."""
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
