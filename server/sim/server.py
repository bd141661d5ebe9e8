"""The exchange simulator: one aiohttp app per venue on 127.0.0.1:0, plus a fault-control API.

Each venue app serves that venue's real paths and JSON formats (render modules), from a shared
``MarketWorld`` that random-walks every ``tick_s``. Faults are switched at run time through the
control API (see ``control.py``); ``down`` really closes the venue's port and reopens it on the
same port when cleared. ``oi-server --simulate`` starts this in-process; ``oi-sim`` runs it alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from server.sim.control import build_control_app
from server.sim.faults import Fault, FaultBook, FaultKind, fault_middleware
from server.sim.market import CORE_ASSETS, MarketWorld, synthetic_assets
from server.sim.render import SIM_VENUES
from server.sim.venue import SimHttpError, SimRequest, SimRoute, SimVenue

log = logging.getLogger("oi.sim")

FULL_SCALE_SYNTHETIC = 800  # enough synthetic coins for the venue with the most perpetuals
SHUTDOWN_S = 0.5  # held requests (latency/timeout faults) must not delay a stop


@dataclass(slots=True)
class _Running:
    venue: SimVenue
    runner: web.AppRunner
    site: web.TCPSite | None
    port: int


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class SimCluster:
    def __init__(
        self,
        *,
        venues: Sequence[str] | None = None,
        host: str = "127.0.0.1",
        control_port: int = 0,
        seed: int | None = None,
        tick_s: float = 0.5,
        full_scale: bool = False,
    ) -> None:
        unknown = sorted(set(venues or ()) - set(SIM_VENUES))
        if unknown:
            raise ValueError(f"no simulator for {', '.join(unknown)}")
        self.venue_ids = tuple(venues) if venues else tuple(SIM_VENUES)
        self.host = host
        self.control_port = control_port
        self.tick_s = tick_s
        self.faults = FaultBook()
        assets = CORE_ASSETS + (synthetic_assets(FULL_SCALE_SYNTHETIC) if full_scale else ())
        self.world = MarketWorld(assets={a.symbol: a for a in assets}, rng=random.Random(seed))
        for venue_id in self.venue_ids:
            venue = SIM_VENUES[venue_id]
            self.world.add_venue(venue_id, venue.listings(assets), venue_share=venue.venue_share)
        self.frozen = False
        self._running: dict[str, _Running] = {}
        self._control: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        for venue_id in self.venue_ids:
            runner = web.AppRunner(
                self._venue_app(SIM_VENUES[venue_id]), access_log=None, shutdown_timeout=SHUTDOWN_S
            )
            await runner.setup()
            site = web.TCPSite(runner, self.host, 0)
            await site.start()
            self._running[venue_id] = _Running(SIM_VENUES[venue_id], runner, site, _bound_port(runner))
        self._control = web.AppRunner(build_control_app(self), access_log=None, shutdown_timeout=SHUTDOWN_S)
        await self._control.setup()
        await web.TCPSite(self._control, self.host, self.control_port).start()
        self.control_port = _bound_port(self._control)
        self._ticker = asyncio.create_task(self._tick_forever(), name="sim-ticker")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for running in self._running.values():
            await running.runner.cleanup()
        if self._control is not None:
            await self._control.cleanup()

    @property
    def urls(self) -> dict[str, str]:
        return {venue_id: f"http://{self.host}:{r.port}" for venue_id, r in self._running.items()}

    @property
    def control_url(self) -> str:
        return f"http://{self.host}:{self.control_port}"

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            if not self.frozen:
                self.world.step()

    # --- faults that need the socket -------------------------------------------------------------

    async def apply_down(self, venue_id: str, down: bool) -> None:
        """Close (or reopen, on the same port) a venue's listening socket."""
        running = self._running[venue_id]
        if down and running.site is not None:
            await running.site.stop()
            running.site = None
        elif not down and running.site is None:
            site = web.TCPSite(running.runner, self.host, running.port, reuse_address=True)
            await site.start()
            running.site = site

    async def set_fault(self, venue_id: str, fault: Fault) -> None:
        previous = self.faults.get(venue_id)
        self.faults.set(venue_id, fault)
        if fault.kind is FaultKind.DOWN:
            await self.apply_down(venue_id, True)
        elif previous is not None and previous.kind is FaultKind.DOWN:
            await self.apply_down(venue_id, False)

    async def clear_fault(self, venue_id: str) -> None:
        previous = self.faults.get(venue_id)
        self.faults.clear(venue_id)
        if previous is not None and previous.kind is FaultKind.DOWN:
            await self.apply_down(venue_id, False)

    # --- venue apps ------------------------------------------------------------------------------

    def _venue_app(self, venue: SimVenue) -> web.Application:
        app = web.Application(middlewares=[fault_middleware(self.faults, venue.id)])
        for route in venue.routes:
            app.router.add_route(route.method, route.path, self._handler(venue.id, route))
        return app

    def _handler(self, venue_id: str, route: SimRoute) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            body: object | None = None
            if request.can_read_body:
                try:
                    body = json.loads(await request.read())
                except ValueError:
                    return web.json_response({"error": "body is not JSON"}, status=400)
            sim_request = SimRequest(
                query=dict(request.query), body=body, markets=self.world.venues[venue_id], now_ms=_now_ms()
            )
            try:
                document = route.respond(sim_request)
            except SimHttpError as error:
                return web.json_response(error.document, status=error.status)
            return web.json_response(document)

        return handle


def _bound_port(runner: web.AppRunner) -> int:
    address = runner.addresses[0]
    return int(address[1])
