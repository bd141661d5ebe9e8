"""Spacing requests inside a venue's published weight budget (for per-market endpoints).

A token bucket kept as a virtual clock (GCRA): each request of weight w advances the clock by
w / rate seconds, where rate = budget × share / 60 weight per second, and waits until the clock
catches up with real time. Up to ``burst`` weight may go at once (a full bucket: the budgets are
per minute, so a small cycle need not be spread over it), never more than one minute's share.
When the venue's used-weight header shows we passed our share anyway (other clients on the IP, a
restart), everything waits for the venue's next one-minute window.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from typing import Final

from server.venues.base import Pacing

MINUTE_S: Final = 60.0


def weight_rate_per_s(pacing: Pacing, weight_limit_per_minute: int | None) -> float:
    """Weight per second we allow ourselves: the venue's published limit if known, else the spec's."""
    limit = weight_limit_per_minute or pacing.weight_per_minute
    return limit * pacing.share / MINUTE_S


BURST_S: Final = 10.0  # a full bucket holds 10 s worth of the budget ...
MIN_BURST_WEIGHT: Final = 5.0  # ... but at least 5 weight, so a 4-request cycle is not spread thin


def burst_weight(rate_per_s: float) -> float:
    """Weight allowed at once: 10 s of budget, at least 5, at most one minute's share."""
    return min(max(rate_per_s * BURST_S, MIN_BURST_WEIGHT), rate_per_s * MINUTE_S)


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
    """Lets requests start at ``rate_per_s`` weight per second after an initial ``burst``;
    ``pause`` holds every later request back."""

    def __init__(
        self,
        rate_per_s: float,
        *,
        burst: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = rate_per_s
        self._burst_s = (burst_weight(rate_per_s) if burst is None else burst) / rate_per_s
        self._monotonic = monotonic
        self._clock = monotonic() - self._burst_s  # a full bucket

    async def acquire(self, weight: int) -> None:
        now = self._monotonic()
        self._clock = max(self._clock, now - self._burst_s) + weight / self._rate
        if self._clock > now:
            await asyncio.sleep(self._clock - now)

    def pause(self, seconds: float) -> None:
        self._clock = max(self._clock, self._monotonic() + seconds)
