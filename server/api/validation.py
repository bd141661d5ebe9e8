"""Client input checks shared by both front doors (REST and gRPC), so they can never disagree."""

from __future__ import annotations

import re
from typing import Final

SYMBOL_PATTERN: Final = re.compile(r"[A-Za-z0-9]{1,20}")
MAX_WATCH_SYMBOLS: Final = 1000  # more than every listed base; bounds per-stream filter work


class InvalidArgument(ValueError):
    """Client input that can never be valid; the message says what was expected."""


def normalize_symbol(raw: str) -> str:
    """``raw`` as a canonical symbol (upper-case), or InvalidArgument (API.md: 1-20 of A-Z a-z 0-9)."""
    if not SYMBOL_PATTERN.fullmatch(raw):
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise InvalidArgument(f"malformed symbol {shown!r}: expected 1-20 characters of A-Z, a-z, 0-9")
    return raw.upper()


def normalize_watch_symbols(raw: list[str]) -> tuple[str, ...] | None:
    """The watch filter: None for all symbols, else the distinct symbols, sorted."""
    if len(raw) > MAX_WATCH_SYMBOLS:
        raise InvalidArgument(f"too many symbols: {len(raw)} (at most {MAX_WATCH_SYMBOLS} per watch)")
    if not raw:
        return None
    return tuple(sorted({normalize_symbol(symbol) for symbol in raw}))
