"""Shared test helpers: fixture and recorded-sample loading, parser bodies, and the simulator/parser
contract check."""

from __future__ import annotations

import contextlib
import json
import math
import random
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from server.app import App
from server.config import Config
from server.core.errors import VenueRejected
from server.core.model import MarketOI, ParsedPoll, VenueReading
from server.core.readings import accept_all
from server.poll.http import Reply
from server.poll.poller import VenuePoller
from server.poll.status import SourceStatus
from server.sim.inprocess import InProcessFetch
from server.sim.market import CORE_ASSETS, MarketWorld
from server.sim.venue import SimVenue
from server.venues.base import Bodies, Request, VenueSpec

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_EXCHANGES = Path(__file__).resolve().parents[2] / "shared" / "exchanges"


def fixture(venue: str, name: str) -> object:
    """A fixture file of tests/fixtures/<venue>/, decoded."""
    return json.loads((FIXTURES / venue / name).read_text())


def recorded_samples(venue: str) -> dict[str, Any]:
    """Every recorded sample of shared/exchanges/<venue>/samples/, decoded, by file name in name order
    (empty when the folder is missing: callers skip on ``SHARED_EXCHANGES`` first)."""
    folder = SHARED_EXCHANGES / venue / "samples"
    return {path.name: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def pages(by_key: dict[str, object]) -> Bodies:
    """Bodies for a parser: one page per request key."""
    return Bodies({key: (body,) for key, body in by_key.items()})


def market(parsed: ParsedPoll, venue_symbol: str) -> MarketOI:
    """The one parsed market named ``venue_symbol``."""
    matches = [m for m in parsed.markets if m.venue_symbol == venue_symbol]
    assert len(matches) == 1, (
        f"{venue_symbol} parsed {len(matches)} times: {[m.venue_symbol for m in parsed.markets]}"
    )
    return matches[0]


def sim_world(*venues: SimVenue, seed: int = 7) -> MarketWorld:
    world = MarketWorld(assets={a.symbol: a for a in CORE_ASSETS}, rng=random.Random(seed))
    for venue in venues:
        world.add_venue(venue.id, venue.listings(CORE_ASSETS), venue_share=venue.venue_share)
    return world


@contextlib.asynccontextmanager
async def simulated_app(
    *, seed: int, sources: tuple[str, ...] = ("binance", "bybit", "okx"), interval_s: float = 0.5
) -> AsyncIterator[App]:
    """The whole service in-process against its simulator (both ports free), stopped after."""
    service = App(
        Config(
            grpc_port=0,
            http_port=0,
            simulate=True,
            sources=sources,
            poll_interval_s=interval_s,
            sim_seed=seed,
            request_timeout_s=1.0,
        )
    )
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def poll_with_failing(spec: VenueSpec, sim_venue: SimVenue, path: str | None) -> VenueReading:
    """One poll of the simulated venue through the real poller, the request to ``path`` refused
    (None: nothing refused); the same seeded world every time."""
    world = sim_world(sim_venue)
    world.step()
    inner = InProcessFetch(sim_venue, world)

    async def fetch(request: Request) -> Reply:
        if request.path == path:
            raise VenueRejected("HTTP 503: simulated outage")
        return await inner(request)

    readings: list[VenueReading] = []
    status = SourceStatus(spec.id, poll_interval_s=30)
    poller = VenuePoller(spec, fetch=fetch, interval_s=30, status=status, submit=accept_all(readings.append))
    await poller.poll_once()
    assert len(readings) == 1, status.last_error
    return readings[0]


async def assert_sim_contract(spec: VenueSpec, sim_venue: SimVenue, *, rel_tol: float = 0.005) -> None:
    """Poll the simulated venue in-process through the shared poller and check that the parsed
    markets give back the simulator's state: same markets, same USD and coin totals per base.
    ``rel_tol`` covers the venues' own rounding of their decimal strings."""
    world = sim_world(sim_venue)
    world.step()  # values off their starting points, like a running simulator
    readings: list[VenueReading] = []
    status = SourceStatus(spec.id, poll_interval_s=30)
    poller = VenuePoller(
        spec,
        fetch=InProcessFetch(sim_venue, world),
        interval_s=30,
        status=status,
        submit=accept_all(readings.append),
    )
    await poller.poll_once()
    assert len(readings) == 1, status.last_error
    parsed = readings[0].markets
    truth = world.venues[sim_venue.id]
    assert sorted(m.venue_symbol for m in parsed) == sorted(t.listing.venue_symbol for t in truth)

    usd: dict[str, float] = defaultdict(float)
    coins: dict[str, float] = defaultdict(float)
    for item in parsed:
        usd[item.base] += item.oi_usd
        if item.oi_base is not None:
            coins[item.base] += item.oi_base
    expected_usd: dict[str, float] = defaultdict(float)
    expected_coins: dict[str, float] = defaultdict(float)
    for state in truth:
        expected_usd[state.listing.asset] += state.oi_usd
        expected_coins[state.listing.asset] += state.oi_base
    assert set(usd) == set(expected_usd)
    for base, value in expected_usd.items():
        assert math.isclose(usd[base], value, rel_tol=rel_tol), (base, usd[base], value)
        if base in coins:
            assert math.isclose(coins[base], expected_coins[base], rel_tol=rel_tol), (base, coins[base])
