"""The simulator's control API (HTTP on loopback), for tests, demos and outside load tools.

==========================================  ================================================
``GET    /venues``                          venue → base URL
``GET    /venues/{venue}/markets``          the truth: each listed market's base, oi_base, price
``GET    /faults``                          active faults per venue
``POST   /faults``                          ``{"venue": "bybit" | "all", "fault": "http_429", ...params}``
``DELETE /faults/{venue}``                  clear one venue's fault (``all`` clears every venue)
``DELETE /faults``                          clear every fault
``POST   /freeze`` / ``POST /unfreeze``     stop / resume the random walk (deterministic tests)
``POST   /tick``                            advance the random walk by one step now
==========================================  ================================================

Errors are JSON ``{"error": "..."}`` with HTTP 400 (bad request) or 404 (unknown venue/path).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

from aiohttp import web

from server.sim.faults import FaultError, parse_fault

if TYPE_CHECKING:
    from server.sim.server import SimCluster

CLUSTER: Final[web.AppKey[SimCluster]] = web.AppKey("cluster")


def _cluster(request: web.Request) -> SimCluster:
    return request.app[CLUSTER]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _venues_named(cluster: SimCluster, name: str) -> list[str] | None:
    if name == "all":
        return list(cluster.venue_ids)
    return [name] if name in cluster.venue_ids else None


async def list_venues(request: web.Request) -> web.Response:
    return web.json_response({"venues": _cluster(request).urls})


async def venue_markets(request: web.Request) -> web.Response:
    cluster = _cluster(request)
    venue = request.match_info["venue"]
    if venue not in cluster.venue_ids:
        return _error(404, f"unknown venue {venue!r}")
    return web.json_response(
        {
            "venue": venue,
            "markets": [
                {
                    "venue_symbol": m.listing.venue_symbol,
                    "base": m.listing.asset,
                    "oi_base": m.oi_base,
                    "oi_usd": m.oi_usd,
                    "price_usd": m.price_usd,
                    "funding_rate": m.funding_rate,
                    "funding_interval_h": m.listing.funding_interval_h,
                    "funding_8h": m.funding_8h,
                }
                for m in cluster.world.venues[venue]
            ],
        }
    )


async def list_faults(request: web.Request) -> web.Response:
    cluster = _cluster(request)
    return web.json_response({"faults": {venue: f.as_json() for venue, f in cluster.faults.active.items()}})


async def set_fault(request: web.Request) -> web.Response:
    cluster = _cluster(request)
    try:
        document = json.loads(await request.read())
    except ValueError:
        return _error(400, "body must be a JSON object")
    if not isinstance(document, dict):
        return _error(400, "body must be a JSON object")
    venues = _venues_named(cluster, str(document.get("venue")))
    if venues is None:
        return _error(404, f"unknown venue {document.get('venue')!r}; known: {', '.join(cluster.venue_ids)}")
    try:
        fault = parse_fault(document)
    except FaultError as error:
        return _error(400, str(error))
    for venue in venues:
        await cluster.set_fault(venue, fault)
    return web.json_response({"venues": venues, **fault.as_json()})


async def clear_fault(request: web.Request) -> web.Response:
    cluster = _cluster(request)
    venues = _venues_named(cluster, request.match_info.get("venue", "all"))
    if venues is None:
        return _error(404, f"unknown venue {request.match_info['venue']!r}")
    for venue in venues:
        await cluster.clear_fault(venue)
    return web.json_response({"cleared": venues})


async def freeze(request: web.Request) -> web.Response:
    _cluster(request).frozen = True
    return web.json_response({"frozen": True})


async def unfreeze(request: web.Request) -> web.Response:
    _cluster(request).frozen = False
    return web.json_response({"frozen": False})


async def tick(request: web.Request) -> web.Response:
    _cluster(request).world.step()
    return web.json_response({"ticked": True})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return _error(error.status, error.reason or "error")


def build_control_app(cluster: SimCluster) -> web.Application:
    app = web.Application(middlewares=[json_errors])
    app[CLUSTER] = cluster
    app.router.add_get("/venues", list_venues)
    app.router.add_get("/venues/{venue}/markets", venue_markets)
    app.router.add_get("/faults", list_faults)
    app.router.add_post("/faults", set_fault)
    app.router.add_delete("/faults", clear_fault)
    app.router.add_delete("/faults/{venue}", clear_fault)
    app.router.add_post("/freeze", freeze)
    app.router.add_post("/unfreeze", unfreeze)
    app.router.add_post("/tick", tick)
    return app
