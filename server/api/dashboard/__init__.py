"""The dashboard: a few static pages served by the REST shim at ``/`` and ``/assets/...``.

Every file comes from this package as installed (``pyproject.toml`` package-data): no CDN, no
internet, no build step at run time. The files are read once when the application is built and
answered from memory with a strong ``ETag`` (a hash of the bytes) and ``Cache-Control: no-cache``,
so a browser revalidates cheaply (304) and never runs an old script after an upgrade.
Third-party files sit in ``vendor/`` with their licences; ``make web-assets`` refreshes them from
the npm lockfile in ``web/``.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Final

from aiohttp import web

CONTENT_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
}
ASSET_NAMES: Final = (
    "index.html",
    "app.js",
    "style.css",
    "favicon.svg",
    "vendor/uPlot.iife.min.js",
    "vendor/uPlot.min.css",
    "vendor/uPlot.LICENSE.txt",
)


class Asset:
    """One file's bytes, content type and validator."""

    __slots__ = ("body", "content_type", "etag")

    def __init__(self, name: str, body: bytes) -> None:
        self.body = body
        self.content_type = CONTENT_TYPES[name[name.rfind(".") :]]
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'

    def response(self, request: web.Request) -> web.Response:
        headers = {"ETag": self.etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        if self.etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        return web.Response(body=self.body, headers={**headers, "Content-Type": self.content_type})


def load_assets() -> dict[str, Asset]:
    """Every dashboard file from the installed package, by its name under ``/assets/``."""
    root = resources.files(__name__)
    return {name: Asset(name, root.joinpath(name).read_bytes()) for name in ASSET_NAMES}


ASSETS: Final = web.AppKey("dashboard_assets", dict[str, Asset])


async def index(request: web.Request) -> web.Response:
    return request.app[ASSETS]["index.html"].response(request)


async def asset(request: web.Request) -> web.Response:
    found = request.app[ASSETS].get(request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound
    return found.response(request)


def add_dashboard_routes(app: web.Application) -> None:
    """Serve the dashboard at ``/`` and its files at ``/assets/<name>``."""
    app[ASSETS] = load_assets()
    app.router.add_get("/", index)  # HEAD too, as every route of the REST shim
    app.router.add_get("/assets/{name:.+}", asset)
