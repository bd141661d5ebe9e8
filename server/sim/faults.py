"""Injectable venue faults: one plan per venue, applied by one aiohttp middleware.

Kinds and their parameters (all optional):

========================  =====================================================================
``latency``               answer normally after ``seconds`` (default 2)
``timeout``               never answer in time: hold the request ``seconds`` (default 3600)
``http_429``              HTTP 429 with ``Retry-After: retry_after_s`` (default 2)
``http_500``              HTTP 500
``malformed_json``        HTTP 200 with a truncated JSON body
``changed_shape``         HTTP 200, well-formed JSON with every object key renamed (``key`` → ``key_v2``)
``absurd_numbers``        HTTP 200, every number and decimal string multiplied by ``factor`` (1e9);
                          integer strings (codes such as "00000", ids, timestamps) are left alone
``empty_markets``         HTTP 200, every array emptied, and every object keyed by id (2+ entries,
                          all objects with the same fields, like dYdX's ``markets``) too
``huge_body``             HTTP 200, the real body padded with whitespace to ``size_bytes`` (40 MiB)
``down``                  the venue's port is closed: connection refused
========================  =====================================================================

Body transforms are pure functions of the decoded document, so tests can check them directly.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Middleware


class FaultKind(StrEnum):
    LATENCY = "latency"
    TIMEOUT = "timeout"
    HTTP_429 = "http_429"
    HTTP_500 = "http_500"
    MALFORMED_JSON = "malformed_json"
    CHANGED_SHAPE = "changed_shape"
    ABSURD_NUMBERS = "absurd_numbers"
    EMPTY_MARKETS = "empty_markets"
    HUGE_BODY = "huge_body"
    DOWN = "down"


BODY_FAULTS: Final = frozenset(
    {
        FaultKind.CHANGED_SHAPE,
        FaultKind.ABSURD_NUMBERS,
        FaultKind.EMPTY_MARKETS,
        FaultKind.HUGE_BODY,
        FaultKind.MALFORMED_JSON,
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    kind: FaultKind
    seconds: float | None = None
    retry_after_s: float = 2.0
    factor: float = 1e9
    size_bytes: int = 40 * 1024 * 1024

    def as_json(self) -> dict[str, object]:
        document: dict[str, object] = {"fault": self.kind.value}
        if self.kind in (FaultKind.LATENCY, FaultKind.TIMEOUT):
            document["seconds"] = self.hold_seconds
        elif self.kind is FaultKind.HTTP_429:
            document["retry_after_s"] = self.retry_after_s
        elif self.kind is FaultKind.ABSURD_NUMBERS:
            document["factor"] = self.factor
        elif self.kind is FaultKind.HUGE_BODY:
            document["size_bytes"] = self.size_bytes
        return document

    @property
    def hold_seconds(self) -> float:
        if self.seconds is not None:
            return self.seconds
        return 3600.0 if self.kind is FaultKind.TIMEOUT else 2.0


class FaultError(ValueError):
    """A fault request that cannot be honoured; the message says why."""


def parse_fault(document: Mapping[str, object]) -> Fault:
    """Validate a control-API fault document (everything but ``venue``)."""
    raw_kind = document.get("fault")
    try:
        kind = FaultKind(str(raw_kind))
    except ValueError:
        known = ", ".join(k.value for k in FaultKind)
        raise FaultError(f"unknown fault {raw_kind!r}; known: {known}") from None

    def number(name: str, default: float, *, minimum: float = 0.0) -> float:
        value = document.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= minimum:
            raise FaultError(f"{name} must be a number >= {minimum}")
        return float(value)

    seconds = document.get("seconds")
    return Fault(
        kind=kind,
        seconds=None if seconds is None else number("seconds", 0.0),
        retry_after_s=number("retry_after_s", 2.0),
        factor=number("factor", 1e9),
        size_bytes=int(number("size_bytes", 40 * 1024 * 1024, minimum=1)),
    )


def rename_keys(document: object) -> object:
    if isinstance(document, dict):
        return {f"{key}_v2": rename_keys(value) for key, value in document.items()}
    if isinstance(document, list):
        return [rename_keys(item) for item in document]
    return document


def scale_numbers(document: object, factor: float) -> object:
    if isinstance(document, bool) or document is None:
        return document
    if isinstance(document, int):
        return round(document * factor)
    if isinstance(document, float):
        return document * factor
    if isinstance(document, str):
        if not any(mark in document for mark in ".eE"):
            return document  # "00000", "0", ids and ms timestamps are not quantities
        try:
            return repr(float(document) * factor)
        except ValueError:
            return document
    if isinstance(document, dict):
        return {key: scale_numbers(value, factor) for key, value in document.items()}
    if isinstance(document, list):
        return [scale_numbers(item, factor) for item in document]
    return document


def _is_keyed_collection(document: dict[str, object]) -> bool:
    records = [v for v in document.values() if isinstance(v, dict)]
    if len(records) < 2 or len(records) != len(document):
        return False
    return all(set(r) == set(records[0]) for r in records)


def empty_arrays(document: object) -> object:
    """Every market list emptied: arrays, and objects that are collections keyed by id."""
    if isinstance(document, dict):
        if _is_keyed_collection(document):
            return {}
        return {key: empty_arrays(value) for key, value in document.items()}
    if isinstance(document, list):
        return []
    return document


def faulty_body(document: object, fault: Fault) -> bytes:
    """The bytes a body fault sends instead of ``document`` (pure)."""
    if fault.kind is FaultKind.MALFORMED_JSON:
        return json.dumps(document).encode()[: max(1, len(json.dumps(document)) // 2)] or b"{"
    if fault.kind is FaultKind.CHANGED_SHAPE:
        return json.dumps(rename_keys(document)).encode()
    if fault.kind is FaultKind.ABSURD_NUMBERS:
        return json.dumps(scale_numbers(document, fault.factor)).encode()
    if fault.kind is FaultKind.EMPTY_MARKETS:
        return json.dumps(empty_arrays(document)).encode()
    if fault.kind is FaultKind.HUGE_BODY:
        body = json.dumps(document).encode()
        return body + b" " * max(0, fault.size_bytes - len(body))
    raise ValueError(f"{fault.kind} is not a body fault")


@dataclass(slots=True)
class FaultBook:
    """The active fault per venue (at most one), switched at run time by the control API."""

    active: dict[str, Fault] = field(default_factory=dict)

    def set(self, venue: str, fault: Fault) -> None:
        self.active[venue] = fault

    def clear(self, venue: str | None = None) -> None:
        if venue is None:
            self.active.clear()
        else:
            self.active.pop(venue, None)

    def get(self, venue: str) -> Fault | None:
        return self.active.get(venue)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fault_middleware(book: FaultBook, venue: str) -> Middleware:
    """The one place faults happen: before the handler (delays, errors) or on its JSON body."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        fault = book.get(venue)
        if fault is None or fault.kind is FaultKind.DOWN:
            return await handler(request)
        if fault.kind in (FaultKind.LATENCY, FaultKind.TIMEOUT):
            await asyncio.sleep(fault.hold_seconds)
            return await handler(request)
        if fault.kind is FaultKind.HTTP_429:
            return web.json_response(
                {"error": "rate limited (simulated)"},
                status=429,
                headers={"Retry-After": f"{fault.retry_after_s:g}"},
            )
        if fault.kind is FaultKind.HTTP_500:
            return web.json_response({"error": "internal error (simulated)"}, status=500)
        response = await handler(request)
        if not isinstance(response, web.Response) or response.body is None or response.status != 200:
            return response
        document = json.loads(bytes(response.body))  # type: ignore[arg-type]
        return web.Response(body=faulty_body(document, fault), content_type="application/json")

    return middleware
