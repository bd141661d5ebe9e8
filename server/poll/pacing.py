"""Spacing requests inside a venue's published weight budget (for per-market endpoints).

A token bucket in time: each request of weight w starts at least w / rate seconds after the
previous one, where rate = budget × share / 60 weight per second. When the venue's used-weight
header shows we passed our share anyway (other clients on the IP, a restart), everything waits
for the venue's next one-minute window.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping

from server.venues.base import Pacing

MINUTE_S = 60.0


def weight_rate_per_s(pacing: Pacing, weight_limit_per_minute: int | None) -> float:
    """Weight per second we allow ourselves: the venue's published limit if known, else the spec's."""
    limit = weight_limit_per_minute or pacing.weight_per_minute
    return limit * pacing.share / MINUTE_S


def min_cycle_s(total_weight: int, rate_per_s: float) -> float:
    """The shortest time one cycle of ``total_weight`` can take inside the budget."""
    return total_weight / rate_per_s


def over_budget_pause_s(
    headers: Mapping[str, str], pacing: Pacing, weight_limit_per_minute: int | None, *, now_s: float
) -> float:
    """Seconds to wait when the used-weight header exceeds our share, else 0 (pure)."""
    if pacing.used_weight_header is None:
        return 0.0
    raw = headers.get(pacing.used_weight_header)
    if raw is None:
        return 0.0
    try:
        used = float(raw)
    except ValueError:
        return 0.0
    limit = weight_limit_per_minute or pacing.weight_per_minute
    if used <= limit * pacing.share:
        return 0.0
    return MINUTE_S - math.fmod(now_s, MINUTE_S)  # the venue's window rolls over on the minute


class Pacer:
    """Hands out start times at ``rate_per_s`` weight per second; ``pause`` pushes them all back."""

    def __init__(self, rate_per_s: float, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate_per_s
        self._monotonic = monotonic
        self._next_start = monotonic()

    async def acquire(self, weight: int) -> None:
        now = self._monotonic()
        start = max(now, self._next_start)
        self._next_start = start + weight / self._rate
        if start > now:
            await asyncio.sleep(start - now)

    def pause(self, seconds: float) -> None:
        self._next_start = max(self._next_start, self._monotonic() + seconds)
