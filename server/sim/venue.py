"""What a simulated venue declares: which markets it lists (in its own naming) and which routes
it serves. Render modules (``server/sim/render/<id>.py``) build one ``SimVenue`` each; paths come
from the venue's SPEC requests so the simulator's URLs cannot drift from the adapter's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
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


def is_synthetic(asset: Asset) -> bool:
    """A SIMnnn coin of the full-scale simulation, listed only to bring venues up to their real counts."""
    return asset.symbol.startswith("SIM")


def real_assets(assets: Sequence[Asset]) -> list[Asset]:
    """The real coins among ``assets``: the ones a venue names and books its own way."""
    return [a for a in assets if not is_synthetic(a)]


def synthetic(assets: Sequence[Asset], already: int, market_count: int) -> list[Asset]:
    """The synthetic (SIMnnn) assets a venue lists on top of ``already`` real ones, up to its real count."""
    extra = [a for a in assets if is_synthetic(a)]
    return extra[: max(0, market_count - already)]


def with_synthetic(
    real: Iterable[Listing], assets: Sequence[Asset], market_count: int, listing: Callable[[Asset], Listing]
) -> tuple[Listing, ...]:
    """A venue's ``real`` listings, then ``listing(asset)`` for as many synthetic assets as bring it up
    to ``market_count`` markets (none in the default, core-coins-only simulation)."""
    listed = tuple(real)
    return listed + tuple(listing(a) for a in synthetic(assets, len(listed), market_count))


def by_symbol(markets: Sequence[ListingState]) -> dict[str, ListingState]:
    return {m.listing.venue_symbol: m for m in markets}


def significant(value: float, digits: int) -> float:
    """A venue-style JSON number: ``value`` to ``digits`` significant digits (tiny ones serialise in
    exponent form, as venues that send numbers rather than strings do)."""
    return float(f"{value:.{digits}g}")


def sub_dollar_size(price_usd: float) -> float:
    """The power of ten of coins worth between 0.1 and 1 USD at ``price_usd``: a contract size for
    coins a venue's real table does not cover."""
    return 10.0 ** -math.ceil(math.log10(price_usd))


def fmt(value: float, decimals: int = 8) -> str:
    """A venue-style decimal string (no exponent, trailing zeros trimmed)."""
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
