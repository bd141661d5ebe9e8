"""What a collector puts on the bus, and how a replica reads it back. Pure: bytes in, values out.

The bus is one JetStream key-value bucket that keeps the latest value of each key:

- ``reading.<source>``: the source's latest screened reading, with its staleness limit;
- ``status.<source>``: the source's poll record (``core.sources.SourceRecord``);
- ``signals.<symbol>``: the symbol's signal windows (``core.signals.Changes``);
- ``snapshot``: one snapshot version: when it was built, and which reading of each source it
  counted (by fetch time). Written last, after everything it refers to.

A replica rebuilds the collector's snapshot from the readings the ``snapshot`` record names,
with the same pure aggregation (``core.aggregate``), so two replicas at the same version hold
the same figures and answer byte-identical JSON; the signal windows come as computed by the
collector (a replica could not recompute them: it did not see every past reading).

Compatibility (a rolling upgrade): every value is a msgspec map with a ``format`` number.
Changes within one format are additive only (a new field with a default; an old reader ignores
fields it does not know, a new reader fills the default for fields an old writer did not send).
A change an old reader cannot take bumps ``FORMAT``: a reader skips (and counts) a value of a
format newer than its own, so upgrade replicas first, then the collector. A value that fails
to decode is skipped and counted the same way, never applied.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import msgspec

from server.core.model import VenueReading
from server.core.signals import Changes
from server.core.sources import SourceRecord

FORMAT: Final = 1
SNAPSHOT_KEY: Final = "snapshot"
READING: Final = "reading."
STATUS: Final = "status."
SIGNALS: Final = "signals."
# A reading body larger than this is compressed (zlib, level 1): NATS refuses a message past
# its max_payload (1 MiB by default), and the largest venue at full scale is about a third of it.
COMPRESS_OVER: Final = 256 * 1024
_ZLIB: Final = b"z"  # the first byte of a compressed value; msgpack maps never start with it
_KEY_SAFE: Final = re.compile(r"^[A-Za-z0-9_-]+$")


class ReadingMessage(msgspec.Struct, kw_only=True):
    format: int = FORMAT
    reading: VenueReading
    stale_after_ms: int


class StatusMessage(msgspec.Struct, kw_only=True):
    format: int = FORMAT
    record: SourceRecord


class SignalsMessage(msgspec.Struct, kw_only=True):
    format: int = FORMAT
    symbol: str
    changes: Changes


class SnapshotMessage(msgspec.Struct, kw_only=True):
    """One snapshot version: ``counted`` is source → fetch time of the reading it counted, and
    ``stale_after_ms`` each counted source's staleness limit (a replica ages them out by its own
    clock when the collector stops publishing). ``published_at_ms`` is when the collector sent
    it (the replica's bus lag). ``symbols`` is how many symbols it holds (a check)."""

    format: int = FORMAT
    version: int
    built_at_ms: int
    published_at_ms: int
    counted: dict[str, int]
    stale_after_ms: dict[str, int]
    symbols: int


Message = ReadingMessage | StatusMessage | SignalsMessage | SnapshotMessage


class Undecodable(Exception):
    """A value that cannot be taken: corrupt, of a newer format, or under an unknown key."""


_encoder = msgspec.msgpack.Encoder()
_DECODERS: Final[
    dict[str, msgspec.msgpack.Decoder[ReadingMessage | StatusMessage | SignalsMessage | SnapshotMessage]]
] = {
    READING: msgspec.msgpack.Decoder(ReadingMessage),
    STATUS: msgspec.msgpack.Decoder(StatusMessage),
    SIGNALS: msgspec.msgpack.Decoder(SignalsMessage),
    SNAPSHOT_KEY: msgspec.msgpack.Decoder(SnapshotMessage),
}


def symbol_key(symbol: str) -> str:
    """``signals.<symbol>``; a symbol with characters a key may not hold is spelt in hex
    (``signals.x.<hex>``): keys allow only letters, digits, ``-_/=.``."""
    if _KEY_SAFE.match(symbol):
        return SIGNALS + symbol
    return SIGNALS + "x." + symbol.encode().hex()


def key_of(message: Message) -> str:
    if isinstance(message, ReadingMessage):
        return READING + message.reading.source
    if isinstance(message, StatusMessage):
        return STATUS + message.record.source
    if isinstance(message, SignalsMessage):
        return symbol_key(message.symbol)
    return SNAPSHOT_KEY


def encode(message: Message) -> bytes:
    body = _encoder.encode(message)
    if len(body) > COMPRESS_OVER:
        return _ZLIB + zlib.compress(body, 1)
    return body


def decode(key: str, value: bytes) -> Message:
    """The message under ``key``; ``Undecodable`` with the reason when it cannot be taken."""
    kind = SNAPSHOT_KEY if key == SNAPSHOT_KEY else key[: key.find(".") + 1]
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise Undecodable(f"unknown key {key!r}")
    try:
        if value[:1] == _ZLIB:
            value = zlib.decompress(value[1:])
        message = decoder.decode(value)
    except (msgspec.DecodeError, zlib.error) as error:
        raise Undecodable(f"{key}: {error}") from None
    if message.format > FORMAT:
        raise Undecodable(f"{key}: format {message.format} is newer than this replica's {FORMAT}")
    return message


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """What one snapshot version needs on the bus, taken when the collector built it."""

    version: int
    built_at_ms: int
    readings: Mapping[str, VenueReading]  # the readings it counted
    stale_after_ms: Mapping[str, int]
    changes: Mapping[str, Changes]
    symbols: int

    def snapshot_message(self, published_at_ms: int) -> SnapshotMessage:
        return SnapshotMessage(
            version=self.version,
            built_at_ms=self.built_at_ms,
            published_at_ms=published_at_ms,
            counted={s: r.fetched_at_ms for s, r in sorted(self.readings.items())},
            stale_after_ms={s: self.stale_after_ms[s] for s in sorted(self.readings)},
            symbols=self.symbols,
        )
