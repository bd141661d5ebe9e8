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
``GET    /scenario``                        active scenarios
``POST   /scenario``                        ``{"symbol": "BTC", "oi_pct_per_min": 5, "price_pct_per_min": 2,
                                            "funding_8h": 0.002}`` (each figure optional)
``DELETE /scenario/{symbol}``               end one symbol's scenario
``DELETE /scenario``                        end every scenario
==========================================  ================================================

A scenario moves one coin on every venue that lists it, in each venue's own units (render modules
read the shared listing state): OI and price drift by the given percent per real-time minute,
compounding, and funding is held at ``funding_8h`` per 8 h (each venue quotes it per its own
interval). While it holds, the coin's random walk stills, so each row of the OI / price table can
be produced cleanly; when it ends, the walk resumes around the level the drift reached.

Errors are JSON ``{"error": "..."}`` with HTTP 400 (bad request) or 404 (unknown venue/path).
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Final

from aiohttp import web

from server.core.model import MAX_FUNDING_8H
from server.sim.faults import FaultError, parse_fault
from server.sim.market import MAX_DRIFT_PCT_PER_MIN, Scenario

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


class ScenarioError(ValueError):
    pass


def _figure(document: dict[str, object], name: str, limit: float) -> float | None:
    value = document.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScenarioError(f"{name!r} must be a number")
    if abs(value) > limit:
        raise ScenarioError(f"{name!r} must be within ±{limit:g}")
    return float(value)


def parse_scenario(document: object, known: Collection[str]) -> Scenario:
    """A scenario from its JSON body; ScenarioError (one line) for anything else."""
    if not isinstance(document, dict):
        raise ScenarioError("body must be a JSON object")
    unknown = sorted(set(document) - {"symbol", "oi_pct_per_min", "price_pct_per_min", "funding_8h"})
    if unknown:
        raise ScenarioError(f"unknown field {unknown[0][:40]!r}")
    symbol = document.get("symbol")
    if not isinstance(symbol, str) or symbol.upper() not in known:
        raise ScenarioError(f"'symbol' must name a simulated coin, not {str(symbol)[:40]!r}")
    return Scenario(
        symbol=symbol.upper(),
        oi_pct_per_min=_figure(document, "oi_pct_per_min", MAX_DRIFT_PCT_PER_MIN),
        price_pct_per_min=_figure(document, "price_pct_per_min", MAX_DRIFT_PCT_PER_MIN),
        funding_8h=_figure(document, "funding_8h", MAX_FUNDING_8H),
    )


async def list_scenarios(request: web.Request) -> web.Response:
    world = _cluster(request).world
    return web.json_response({"scenarios": [s.as_json() for s in world.scenarios.values()]})


async def set_scenario(request: web.Request) -> web.Response:
    world = _cluster(request).world
    try:
        scenario = parse_scenario(json.loads(await request.read()), world.assets)
    except ValueError as error:  # ScenarioError, and JSON that does not parse
        message = str(error) if isinstance(error, ScenarioError) else "body must be a JSON object"
        return _error(400, message)
    world.set_scenario(scenario)
    return web.json_response(scenario.as_json())


async def clear_scenario(request: web.Request) -> web.Response:
    world = _cluster(request).world
    symbol = request.match_info.get("symbol")
    if symbol is None:
        cleared = sorted(world.scenarios)
        for name in cleared:
            world.clear_scenario(name)
        return web.json_response({"cleared": cleared})
    if not world.clear_scenario(symbol.upper()):
        return _error(404, f"no scenario for {symbol[:40]!r}")
    return web.json_response({"cleared": [symbol.upper()]})


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
    app.router.add_get("/scenario", list_scenarios)
    app.router.add_post("/scenario", set_scenario)
    app.router.add_delete("/scenario", clear_scenario)
    app.router.add_delete("/scenario/{symbol}", clear_scenario)
    return app
