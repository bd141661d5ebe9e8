"""The only module that does venue HTTP: one request in, decoded JSON (or a VenueError) out.

Like httpx's ``map_httpcore_exceptions``, every aiohttp/OS/JSON failure becomes our own error type
here, once, with a one-line message fit for the source status. Bodies are read with a byte cap
(counted after decompression, so a gzip bomb cannot blow up memory) before they are decoded.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import socket
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import aiohttp
import msgspec

from server.core.errors import (
    MalformedResponse,
    VenueRateLimited,
    VenueRejected,
    VenueTimeout,
    VenueUnavailable,
)
from server.venues.base import Request

DEFAULT_MAX_BODY_BYTES: Final = 32 * 1024 * 1024  # the largest real bulk body is a few MB
DEFAULT_RETRY_AFTER_S: Final = 10.0  # when a 429/418 carries no usable Retry-After
RATE_LIMIT_STATUSES: Final = frozenset({418, 429})


@dataclass(frozen=True, slots=True)
class Reply:
    body: object
    headers: Mapping[str, str]


def retry_after_seconds(
    value: str | None, *, now_s: float, default_s: float = DEFAULT_RETRY_AFTER_S
) -> float:
    """Parse ``Retry-After`` (delta seconds or an HTTP date) into seconds from now; never negative."""
    if not value:
        return default_s
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default_s
    return max(0.0, when.timestamp() - now_s)


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise MalformedResponse(f"body of {declared} bytes exceeds the {max_bytes}-byte cap")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise MalformedResponse(f"body exceeds the {max_bytes}-byte cap")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_json(raw: bytes) -> object:
    """``json.loads(raw)``, by msgspec's decoder where it accepts the body: the same values (ints
    exact, floats correctly rounded, the last of duplicate keys), at well under half the CPU on the
    large bulk bodies. What it refuses (NaN and Infinity, a BOM or UTF-16, lone surrogates, numbers
    beyond float range, anything malformed) goes to ``json.loads`` as before, which decides and
    words the error. The one body read differently: nesting deeper than ~1,000 levels, which
    ``json.loads`` refused with RecursionError, is decoded (and then fails the parser's checks)."""
    try:
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, ValueError):
        decoded: object = json.loads(raw)
        return decoded


def _json_or_none(raw: bytes) -> object | None:
    try:
        decoded: object = json.loads(raw)
        return decoded
    except (ValueError, UnicodeDecodeError):
        return None


def connect_reason(error: aiohttp.ClientConnectorError) -> str:
    """Why a connection could not be made, in a few words: "Connection refused", "Temporary
    failure in name resolution", a certificate problem; the host and port are said by the caller."""
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        return f"certificate: {str(error.certificate_error)[:120]}"
    cause = error.os_error
    if not isinstance(cause, socket.gaierror) and cause.errno is not None and cause.errno > 0:
        return os.strerror(cause.errno)  # "Connection refused", not "Connect call failed (addr)"
    return (cause.strerror or str(cause) or type(cause).__name__)[:120]


def _status_error(status: int, headers: Mapping[str, str], raw: bytes) -> Exception:
    snippet = raw[:120].decode("utf-8", "replace").replace("\n", " ")
    if status in RATE_LIMIT_STATUSES:
        wait = retry_after_seconds(headers.get("Retry-After"), now_s=time.time())
        return VenueRateLimited(f"HTTP {status} rate limited (retry after {wait:.0f}s)", retry_after_s=wait)
    if status >= 500:
        return VenueUnavailable(f"HTTP {status}")
    return VenueRejected(f"HTTP {status}: {snippet}", body=_json_or_none(raw))


async def fetch_json(
    session: aiohttp.ClientSession,
    base_url: str,
    request: Request,
    *,
    timeout_s: float,
    max_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Reply:
    """Perform ``request`` against ``base_url`` and decode its JSON body, or raise a VenueError."""
    url = base_url.rstrip("/") + request.path
    method = "GET" if request.body is None else "POST"
    headers = {"Content-Type": "application/json"} if request.body is not None else None
    try:
        async with asyncio.timeout(timeout_s):
            async with session.request(
                method, url, params=list(request.params), data=request.body, headers=headers
            ) as response:
                raw = await _read_capped(response, max_bytes)
                if response.status >= 400:
                    raise _status_error(response.status, response.headers, raw)
                reply_headers = response.headers  # case-blind: Binance sends x-mbx-used-weight-1m
    except TimeoutError:
        raise VenueTimeout(f"no answer within {timeout_s:g}s") from None
    except aiohttp.ClientConnectorError as error:
        raise VenueUnavailable(
            f"cannot connect to {error.host}:{error.port}: {connect_reason(error)}"
        ) from error
    except aiohttp.ClientPayloadError as error:
        raise MalformedResponse(f"broken body: {str(error)[:120]}") from error
    except (aiohttp.ClientError, OSError) as error:
        where = urllib.parse.urlsplit(url).netloc
        raise VenueUnavailable(f"{type(error).__name__} from {where}: {str(error)[:120]}") from error
    try:
        return Reply(body=decode_json(raw), headers=reply_headers)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedResponse(f"not JSON: {str(error)[:80]}") from None


class HostRouter:
    """A venue's ``Fetch``: each request goes to the base URL of its ``host`` ("" = the main one)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        urls: Mapping[str, str],
        *,
        timeout_s: float,
        max_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self._session = session
        self._urls = dict(urls)
        self._timeout_s = timeout_s
        self._max_bytes = max_bytes

    async def __call__(self, request: Request) -> Reply:
        return await fetch_json(
            self._session,
            self._urls[request.host],
            request,
            timeout_s=self._timeout_s,
            max_bytes=self._max_bytes,
        )
