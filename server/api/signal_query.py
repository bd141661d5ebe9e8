"""Validation of a screener query (API.md section 7), shared by REST and gRPC: one-line errors
naming what is accepted, so a typo never silently returns an empty screen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from server.api.signals import CROWDING_NAMES, SIGNAL_NAMES, WINDOW_NAMES
from server.api.validation import InvalidArgument

SIGNALS_PARAMS: Final = frozenset({"window", "signal", "crowding", "limit"})
MAX_LIMIT: Final = 10_000


@dataclass(frozen=True, slots=True)
class SignalsQuery:
    window: str
    signal: str | None
    crowding: str | None
    limit: int | None


def _one_of(name: str, value: str, accepted: tuple[str, ...]) -> str:
    if value not in accepted:
        raise InvalidArgument(f"unknown {name} {value[:40]!r}; accepted: {', '.join(accepted)}")
    return value


def signals_query(
    window: str | None, signal: str | None, crowding: str | None, limit: str | int | None
) -> SignalsQuery:
    """The validated query; InvalidArgument for a missing or unknown window, an unknown filter
    value, or a limit that is not a whole number in 1..10000."""
    if window is None or window == "":
        raise InvalidArgument(f"'window' is required, one of {', '.join(WINDOW_NAMES)}")
    _one_of("window", window, WINDOW_NAMES)
    if signal is not None:
        _one_of("signal", signal, tuple(sorted(SIGNAL_NAMES)))
    if crowding is not None:
        _one_of("crowding", crowding, tuple(sorted(CROWDING_NAMES)))
    count: int | None = None
    if limit is not None:
        try:
            count = int(limit)
        except ValueError:
            raise InvalidArgument(f"'limit' must be a whole number, not {str(limit)[:20]!r}") from None
        if not 1 <= count <= MAX_LIMIT:
            raise InvalidArgument(f"'limit' must be between 1 and {MAX_LIMIT}")
    return SignalsQuery(window=window, signal=signal, crowding=crowding, limit=count)


def parse_explain(raw: str) -> str:
    """``explain``: 1/true turns it on, 0/false off; anything else is refused."""
    value = raw.strip().lower()
    if value in ("1", "true"):
        return "1"
    if value in ("0", "false"):
        return "0"
    raise InvalidArgument(f"'explain' must be 1 or 0, not {raw[:20]!r}")
