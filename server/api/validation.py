"""Client input checks shared by both front doors (REST and gRPC), so they can never disagree."""

from __future__ import annotations

import re
from typing import Final, TypeVar

from google.protobuf.message import DecodeError, Message

from server.core.sources import SOURCE_IDS
from server.core.symbols import bundle_of, client_symbol

SYMBOL_PATTERN: Final = re.compile(r"[A-Za-z0-9]{1,20}")
MAX_WATCH_SYMBOLS: Final = 1000  # more than every listed base; bounds per-stream filter work


M = TypeVar("M", bound=Message)


class InvalidArgument(ValueError):
    """Client input that can never be valid; the message says what was expected."""


def decode_request(message_type: type[M], raw: bytes) -> M:
    """``raw`` parsed as a ``message_type``, or InvalidArgument.

    A gRPC request deserializer that raises makes grpc.aio answer UNKNOWN ("Unexpected <class
    DecodeError>") and log a traceback; decoding inside the method instead lets the call end with
    INVALID_ARGUMENT, like any other malformed input. Bytes that are not the message's wire format
    and string fields that are not valid UTF-8 (e.g. an encoded lone surrogate) both land here.
    """
    try:
        return message_type.FromString(raw)
    except DecodeError:
        name = message_type.DESCRIPTOR.full_name
        raise InvalidArgument(f"request is not a valid {name} message ({len(raw)} bytes)") from None


def normalize_symbol(raw: str) -> str:
    """``raw`` as a canonical symbol (upper-case, ``XBT`` -> ``BTC``: ``core.symbols.client_symbol``),
    or InvalidArgument (API.md: 1-20 of A-Z a-z 0-9)."""
    if not SYMBOL_PATTERN.fullmatch(raw):
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise InvalidArgument(f"malformed symbol {shown!r}: expected 1-20 characters of A-Z, a-z, 0-9")
    return client_symbol(raw)


def unknown_symbol_message(symbol: str, *, served: bool, delivered: bool) -> str:
    """Why nobody reports ``symbol`` (a canonical symbol), for the NOT_FOUND answer of both doors.

    ``served``: the current snapshot has any symbol at all; ``delivered``: any source has ever
    delivered data. Offline, or before the first poll, the symbol is not the problem: say so, and
    where to look (the per-source statuses carry each venue's last error).
    """
    if not served:
        why = "no source has fresh data" if delivered else "no source has delivered data yet"
        return (
            f"no data for {symbol!r}: {why}; see GET /v1/sources (gRPC ListSources) for each source's error"
        )
    message = f"unknown symbol {symbol!r}: no exchange reports it"
    bundle = bundle_of(symbol)
    if bundle is not None:
        name, factor = bundle
        message += (
            f"; {symbol} is a bundle of {factor:g} {name}: ask for {name} (oi_contracts in {name} coins)"
        )
    return message


def normalize_watch_symbols(raw: list[str]) -> tuple[str, ...] | None:
    """The watch filter: None for all symbols, else the distinct symbols, sorted."""
    if len(raw) > MAX_WATCH_SYMBOLS:
        raise InvalidArgument(f"too many symbols: {len(raw)} (at most {MAX_WATCH_SYMBOLS} per watch)")
    if not raw:
        return None
    return tuple(sorted({normalize_symbol(symbol) for symbol in raw}))


def normalize_source(raw: str) -> str:
    """``raw`` as a source id of API.md section 1 (case-insensitive), or InvalidArgument."""
    source = raw.lower()
    if source not in SOURCE_IDS:
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise InvalidArgument(f"unknown source {shown!r}; sources: {', '.join(SOURCE_IDS)}")
    return source
