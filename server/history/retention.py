"""How long each resolution is kept: the defaults and the spelling of an age (pure).

The defaults keep the store reasonable at full scale (README "History" has the measured sizes:
about 100 bytes a candle, 5,562 series, 1 GB written a day): 1-minute candles for 7 days,
5-minute for 30, 15-minute for 90 (15.5 GB in all), and hourly, 4-hourly and daily candles
forever (6.4 GB a year). A year of 5-minute candles alone would be 59 GB.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from server.history.model import Interval

DAY_MS: Final = 86_400_000
DEFAULT_RETENTION_MS: Final[Mapping[Interval, int | None]] = {
    Interval.M1: 7 * DAY_MS,
    Interval.M5: 30 * DAY_MS,
    Interval.M15: 90 * DAY_MS,
    Interval.H1: None,
    Interval.H4: None,
    Interval.D1: None,
}
UNITS_MS: Final = {"m": 60_000, "h": 3_600_000, "d": DAY_MS, "w": 7 * DAY_MS}
MAX_AGE_MS: Final = 36_500 * DAY_MS


def parse_age(text: str) -> int | None:
    """An age such as ``30d``, ``12h``, ``90m``, ``2w`` in ms; ``0`` or ``forever``: keep
    everything (None). ValueError naming the text otherwise (at least 1 minute, at most 100 years)."""
    value = text.strip().lower()
    if value in ("0", "forever"):
        return None
    number, unit = value[:-1], value[-1:]
    if unit not in UNITS_MS or not (number.isascii() and number.isdigit()) or len(number) > 6:
        raise ValueError(f"{text!r} is not an age such as 30d, 12h, 90m, 2w, or 0 (forever)")
    ms = int(number) * UNITS_MS[unit]
    if not 0 < ms <= MAX_AGE_MS:
        raise ValueError(f"{text!r} must be between 1m and 36500d, or 0 (forever)")
    return ms


def age_text(ms: int | None) -> str:
    """``ms`` spelt as ``parse_age`` reads it (for --help and logs)."""
    if ms is None:
        return "forever"
    for unit in ("d", "h"):
        if ms % UNITS_MS[unit] == 0:
            return f"{ms // UNITS_MS[unit]}{unit}"
    return f"{ms // 60_000}m"
