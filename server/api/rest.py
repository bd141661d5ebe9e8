"""The REST shim: ``GET /v1/open-interest[?symbol=]`` exactly as API.md says, from prebuilt bytes.

One middleware turns every error (unknown path, wrong method, bad query, a bug) into the API.md
envelope ``{"status": "error", "timestamp", "error": {"code", "message"}}`` with a JSON content
type: never a traceback, never an HTML page.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from aiohttp import web

from server.api.convert import PreparedSnapshot
from server.api.sources import sources_json
from server.api.validation import InvalidArgument, normalize_symbol
from server.core.store import SnapshotHub
from server.poll.status import SourceStatusView

log = logging.getLogger("oi.rest")

HUB: Final = web.AppKey("hub", SnapshotHub[PreparedSnapshot])
SourceBoard = Callable[[], Sequence[SourceStatusView]]
SOURCES: Final[web.AppKey[SourceBoard]] = web.AppKey("sources")
JSON_TYPE: Final = "application/json"
ALLOWED_PARAMS: Final = frozenset({"symbol"})
MAX_LINE_SIZE: Final = 8 * 1024
MAX_FIELD_SIZE: Final = 8 * 1024

HTTP_CODES: Final = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    414: "URI_TOO_LONG",
    429: "RESOURCE_EXHAUSTED",
    431: "HEADERS_TOO_LARGE",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def error_response(
    status: int, message: str, *, code: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    body = {
        "status": "error",
        "timestamp": now_ms(),
        "error": {
            "code": code or HTTP_CODES.get(status, "INVALID_ARGUMENT" if status < 500 else "INTERNAL"),
            "message": message,
        },
    }
    return web.Response(
        status=status, body=json.dumps(body).encode(), content_type=JSON_TYPE, headers=headers
    )


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_envelope(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error.status, str(error))
    except web.HTTPNotFound:
        return error_response(404, f"no such path {request.path[:80]!r}; try GET /v1/open-interest")
    except web.HTTPMethodNotAllowed as error:
        allowed = ", ".join(sorted(error.allowed_methods))
        return error_response(
            405, f"method {request.method} not allowed; use {allowed}", headers={"Allow": allowed}
        )
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return error_response(error.status, error.reason or "error")
    except Exception:
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=True)
        return error_response(500, "internal error")


def reject_unknown_params(request: web.Request, allowed: frozenset[str]) -> None:
    unknown = sorted(set(request.query) - allowed)
    if unknown:
        accepted = ", ".join(repr(name) for name in sorted(allowed)) or "none"
        raise ApiError(400, f"unknown query parameter {unknown[0][:40]!r}; accepted: {accepted}")


def requested_symbol(request: web.Request) -> str | None:
    """The validated ``symbol`` query parameter, None for all; ApiError(400) on anything else."""
    query = request.query
    reject_unknown_params(request, ALLOWED_PARAMS)
    values = query.getall("symbol", [])
    if len(values) > 1:
        raise ApiError(400, "'symbol' given more than once")
    if not values:
        return None
    try:
        return normalize_symbol(values[0])
    except InvalidArgument as error:
        raise ApiError(400, str(error)) from None


async def open_interest(request: web.Request) -> web.Response:
    symbol = requested_symbol(request)
    prepared = request.app[HUB].latest
    if symbol is None:
        return web.Response(body=prepared.all_json, content_type=JSON_TYPE)
    body = prepared.symbol_json(symbol)
    if body is None:
        raise ApiError(404, f"unknown symbol {symbol!r}: no exchange reports it")
    return web.Response(body=body, content_type=JSON_TYPE)


async def sources(request: web.Request) -> web.Response:
    reject_unknown_params(request, frozenset())
    return web.Response(body=sources_json(request.app[SOURCES](), now_ms()), content_type=JSON_TYPE)


def build_app(hub: SnapshotHub[PreparedSnapshot], source_board: SourceBoard = tuple) -> web.Application:
    app = web.Application(middlewares=[error_envelope], client_max_size=64 * 1024)
    app[HUB] = hub
    app[SOURCES] = source_board
    app.router.add_get("/v1/open-interest", open_interest, allow_head=False)
    app.router.add_get("/v1/sources", sources, allow_head=False)
    return app
