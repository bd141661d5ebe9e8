"""CORS for the REST shim, off unless ``--cors-origin`` names origins.

Every endpoint is a read-only GET with no credentials, so the policy is small: an allowed
``Origin`` gets ``Access-Control-Allow-Origin`` on every answer (errors included), and a preflight
``OPTIONS`` gets the methods (GET, HEAD, OPTIONS) and whatever request headers it asks for. An
origin not on the list gets answers without CORS headers, which a browser then refuses to show.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from server.api.json_errors import LowLevelHandler

ANY: Final = "*"
METHODS: Final = "GET, HEAD, OPTIONS"
MAX_AGE_S: Final = 600
TOKEN_LIST: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*")
MAX_REQUEST_HEADERS_CHARS: Final = 512
ORIGIN: Final = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+")


class InvalidOrigin(ValueError):
    """A ``--cors-origin`` value that is neither ``*`` nor ``scheme://host[:port]``."""


def parse_origins(values: Iterable[str]) -> tuple[str, ...]:
    """The distinct origins in ``values`` (each a comma list), or InvalidOrigin (pure)."""
    origins: list[str] = []
    for value in values:
        for part in value.split(","):
            origin = part.strip().rstrip("/")
            if not origin:
                continue
            if origin != ANY and not ORIGIN.fullmatch(origin):
                raise InvalidOrigin(f"{origin!r} is not an origin: expected * or scheme://host[:port]")
            if origin not in origins:
                origins.append(origin)
    return tuple(origins)


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    origins: frozenset[str]

    @property
    def any_origin(self) -> bool:
        return ANY in self.origins

    def allow_origin(self, origin: str | None) -> str | None:
        """The ``Access-Control-Allow-Origin`` value for a request from ``origin``, None for none."""
        if self.any_origin:
            return ANY
        if origin is not None and origin in self.origins:
            return origin
        return None


async def preflight(request: web.Request) -> web.Response:
    """A preflight ``OPTIONS`` (the origin header is added by ``with_cors``, like on every answer)."""
    headers = {
        "Allow": METHODS,
        "Access-Control-Allow-Methods": METHODS,
        "Access-Control-Max-Age": str(MAX_AGE_S),
    }
    asked = request.headers.get("Access-Control-Request-Headers", "").strip()
    if asked and len(asked) <= MAX_REQUEST_HEADERS_CHARS and TOKEN_LIST.fullmatch(asked):
        headers["Access-Control-Allow-Headers"] = asked
    return web.Response(status=204, headers=headers)


def with_cors(handler: LowLevelHandler, policy: CorsPolicy) -> LowLevelHandler:
    """``handler`` with the policy's headers added to each answer."""

    async def answered_with_cors(request: web.BaseRequest) -> web.StreamResponse:
        response = await handler(request)
        allowed = policy.allow_origin(request.headers.get("Origin"))
        if allowed is not None:
            response.headers["Access-Control-Allow-Origin"] = allowed
        if not policy.any_origin:
            response.headers.add("Vary", "Origin")
        return response

    return answered_with_cors
