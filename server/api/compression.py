"""Response compression: which encoding a client accepts, and compressed bodies made once.

Every snapshot body is a prebuilt ``bytes`` object shared by every request for the same version
(``convert.PreparedSnapshot``), so its compressed forms are made once per body and encoding, on
first request, and kept beside it until the next version: a client that accepts gzip costs one
dictionary look-up more than one that does not, never a compression per request.

gzip is written with ``mtime=0`` and brotli at a fixed quality, so replicas holding the same
snapshot version send byte-identical compressed bodies too (API.md section 9).
"""

from __future__ import annotations

import functools
import gzip
from typing import Final

import brotli

GZIP: Final = "gzip"
BROTLI: Final = "br"
# Our preference when a client accepts both equally: brotli is ~20 % smaller on our JSON.
ENCODINGS: Final = (BROTLI, GZIP)
MIN_COMPRESS_BYTES: Final = 1024  # below this, headers and CPU outweigh the bytes saved
GZIP_LEVEL: Final = 6
BROTLI_QUALITY: Final = 5  # ~gzip's speed at 6, smaller output; 11 costs ~50 ms on a 42 KB body
MAX_CACHED_ENTRIES: Final = 4096
MAX_CACHED_BYTES: Final = 16 * 1024 * 1024


def compress(body: bytes, encoding: str) -> bytes:
    """``body`` compressed as ``encoding`` (one of ``ENCODINGS``), deterministically."""
    if encoding == GZIP:
        return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
    if encoding == BROTLI:
        return bytes(brotli.compress(body, mode=brotli.MODE_TEXT, quality=BROTLI_QUALITY))
    raise ValueError(f"unsupported encoding {encoding!r}")


def _quality(params: list[str]) -> float:
    """The ``q`` of one ``Accept-Encoding`` element; a malformed q makes the element unusable (0)."""
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0


@functools.lru_cache(maxsize=256)
def preferred_encoding(accept_encoding: str) -> str | None:
    """The encoding to send for this ``Accept-Encoding`` value, None for the body as it is (pure).

    RFC 9110 section 12.5.3: q-values rank the codings, ``q=0`` refuses one, ``*`` stands for
    every coding not named. Among equal q-values ours wins (brotli, then gzip). Clients send a
    handful of distinct values, so the answers are cached (bounded)."""
    named: dict[str, float] = {}
    wildcard: float | None = None
    for element in accept_encoding.split(",")[:32]:
        coding, *params = element.split(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        q = _quality(params)
        if coding == "*":
            wildcard = q
        elif coding == "x-gzip":
            named.setdefault(GZIP, q)
        else:
            named.setdefault(coding, q)
    best: str | None = None
    best_q = 0.0
    for encoding in ENCODINGS:
        q = named.get(encoding, wildcard if wildcard is not None else 0.0)
        if q > best_q:
            best, best_q = encoding, q
    return best


class EncodedBodies:
    """Compressed copies of the current bodies, made on first request and kept until a new
    ``generation`` (a snapshot version) comes in.

    Keys are the body object's identity with the encoding; each entry keeps its body referenced,
    so an identity is never reused while its entry lives. Bounded in entries and bytes (oldest
    out first), so bodies built per request (a rare symbol list) cannot grow it without limit."""

    __slots__ = ("_bytes", "_entries", "_generation", "max_bytes", "max_entries")

    def __init__(self, *, max_entries: int = MAX_CACHED_ENTRIES, max_bytes: int = MAX_CACHED_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: dict[tuple[int, str], tuple[bytes, bytes]] = {}
        self._bytes = 0
        self._generation: object = None

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, body: bytes, encoding: str, generation: object) -> bytes:
        """``body`` compressed as ``encoding``: from the cache, or compressed now and kept."""
        if generation is not self._generation:
            self._entries.clear()
            self._bytes = 0
            self._generation = generation
        key = (id(body), encoding)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is body:
            return entry[1]
        encoded = compress(body, encoding)
        size = len(body) + len(encoded)
        while self._entries and (
            len(self._entries) >= self.max_entries or self._bytes + size > self.max_bytes
        ):
            old_body, old_encoded = self._entries.pop(next(iter(self._entries)))
            self._bytes -= len(old_body) + len(old_encoded)
        if size <= self.max_bytes:
            self._entries[key] = (body, encoded)
            self._bytes += size
        return encoded
