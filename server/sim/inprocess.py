"""Simulated venues without sockets: a ``Fetch`` that calls render functions directly.

Tests use it to check that sim and parser agree (``parse(render(state))`` gives back the state)
for every venue at once, and benchmarks use it to make real-size payloads. The result is the same
document the HTTP simulator would serve, decoded.
"""

from __future__ import annotations

import json
import time

from server.core.errors import VenueRejected
from server.poll.http import Reply
from server.sim.market import MarketWorld
from server.sim.venue import SimHttpError, SimRequest, SimVenue
from server.venues.base import Request


class InProcessFetch:
    """Answers one venue's requests from ``world`` the way its simulated HTTP server would."""

    def __init__(self, venue: SimVenue, world: MarketWorld) -> None:
        self._venue = venue
        self._world = world
        self.requests: list[Request] = []

    async def __call__(self, request: Request) -> Reply:
        self.requests.append(request)
        return Reply(body=self.document(request), headers={})

    def document(self, request: Request) -> object:
        method = "GET" if request.body is None else "POST"
        for route in self._venue.routes:
            if route.path == request.path and route.method == method:
                sim_request = SimRequest(
                    query=dict(request.params),
                    body=None if request.body is None else json.loads(request.body),
                    markets=self._world.venues[self._venue.id],
                    now_ms=time.time_ns() // 1_000_000,
                )
                try:
                    return json.loads(json.dumps(route.respond(sim_request)))
                except SimHttpError as error:
                    raise VenueRejected(f"HTTP {error.status}: {error.document}") from None
        raise VenueRejected(f"HTTP 404: no simulated route {method} {request.path}")
