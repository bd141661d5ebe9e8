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

    async def _serve_venue(self, venue: SimVenue, port: int) -> _Running:
        # handler_cancellation: a request held by a timeout fault ends when the client gives up,
        # instead of piling up in the simulator for an hour
        runner = web.AppRunner(
            self._venue_app(venue), access_log=None, shutdown_timeout=SHUTDOWN_S, handler_cancellation=True
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, port, reuse_address=True)
        await site.start()
        return _Running(venue, runner, site, _bound_port(runner))

    async def start(self) -> None:
        for venue_id in self.venue_ids:
            self._running[venue_id] = await self._serve_venue(SIM_VENUES[venue_id], 0)
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
            if running.site is not None:
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
        last = time.monotonic()
        while True:
            await asyncio.sleep(self.tick_s)
            now = time.monotonic()
            if not self.frozen:  # scenarios drift by the real time elapsed, not per tick
                self.world.drift(now - last)
                self.world.step()
            last = now

    # --- faults that need the socket -------------------------------------------------------------

    async def apply_down(self, venue_id: str, down: bool) -> None:
        """Take a venue off the network (listening socket and open keep-alive connections closed,
        so clients see connection refused), or bring it back on the same port."""
        running = self._running[venue_id]
        if down and running.site is not None:
            await running.runner.cleanup()
            running.site = None
        elif not down and running.site is None:
            self._running[venue_id] = await self._serve_venue(running.venue, running.port)

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
