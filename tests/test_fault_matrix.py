"""Every simulator fault against every venue: the service keeps answering on both front doors,
healthy venues are untouched, a faulty venue keeps its last good figures until they go stale and
then leaves the totals, its status says what happened, and it is back within two poll intervals of
the fault being cleared. Parametrised over the registry: a new venue is covered automatically.

Every wait is on a condition with a generous deadline, and recovery is counted in polls, not in
seconds: on a loaded 2-core machine a poll interval of wall time says little.

The venues are split in two halves that take turns being faulty, so each fault costs two rounds,
not one per venue. Per-market pacing is lifted for this test only (it is about faults, and a paced
venue's honest interval would make a round last a minute); the specs are otherwise the real ones.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Sequence

import aiohttp
import grpc
import pytest
import pytest_asyncio

from bench.soak import CountedStatus, counted_statuses
from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.api.gen.openinterest.v1 import open_interest_pb2_grpc as pb_grpc
from server.app import App
from server.config import Config
from server.core.sources import SourceState
from server.venues import REGISTRY
from server.venues.base import VenueSpec

INTERVAL_S = 1.0  # staleness 3 s: a loaded 2-core machine cannot promise 18 polls every 0.5 s
# a healthy in-process venue answers in milliseconds, but a loaded machine can hold a poll off the
# CPU for over a second (a 2 MB huge_body answer took more than 1 s at a load average of 8); only
# the faults that hold a request should time out
TIMEOUT_S = 3.0
MAX_BODY_BYTES = 1_000_000
DEADLINE_S = 60.0  # for conditions that take a few poll intervals on an idle machine

FAULTS: dict[str, tuple[dict[str, object], tuple[str, ...]]] = {
    "latency": ({"fault": "latency", "seconds": 3 * TIMEOUT_S}, ("VenueTimeout",)),
    "timeout": ({"fault": "timeout"}, ("VenueTimeout",)),
    "http_429": ({"fault": "http_429", "retry_after_s": INTERVAL_S}, ("VenueRateLimited",)),
    "http_500": ({"fault": "http_500"}, ("VenueUnavailable",)),
    "connection_refused": ({"fault": "down"}, ("VenueUnavailable",)),
    "malformed_json": ({"fault": "malformed_json"}, ("MalformedResponse",)),
    "changed_shape": ({"fault": "changed_shape"}, ("SchemaDrift",)),
    "absurd_numbers": ({"fault": "absurd_numbers"}, ("MalformedResponse", "ImplausibleValue")),
    "empty_markets": ({"fault": "empty_markets"}, ("MalformedResponse", "SchemaDrift")),
    "huge_body": ({"fault": "huge_body", "size_bytes": 2 * MAX_BODY_BYTES}, ("MalformedResponse",)),
}

VENUES = sorted(REGISTRY)
HALVES = (VENUES[::2], VENUES[1::2])


def unpaced(spec: VenueSpec) -> VenueSpec:
    return spec if spec.pacing is None else dataclasses.replace(spec, pacing=None)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app() -> AsyncIterator[App]:
    service = App(
        Config(
            grpc_port=0,
            http_port=0,
            simulate=True,
            poll_interval_s=INTERVAL_S,
            request_timeout_s=TIMEOUT_S,
            sim_seed=21,
            max_body_bytes=MAX_BODY_BYTES,
        ),
        specs={source: unpaced(spec) for source, spec in REGISTRY.items()},
    )
    counted_statuses(service)  # failed polls counted: recovery is measured in polls
    await service.start()
    yield service
    await service.stop()


async def until(what: str, condition: Callable[[], bool], timeout_s: float) -> float:
    """Seconds it took for ``condition`` to hold; fails the test after ``timeout_s``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, f"timed out waiting for: {what}"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def failed_polls(app: App, source: str) -> int:
    status = app.statuses[source]
    assert isinstance(status, CountedStatus)
    return status.failed_polls


def fresh(app: App, source: str) -> bool:
    return source in app.readings.fresh_sources()


def reporting(app: App) -> set[str]:
    """Sources that currently count in the published snapshot (any symbol)."""
    return {e.source for row in app.hub.latest.rows for e in row.exchanges}


async def front_doors_answer(
    app: App, session: aiohttp.ClientSession, stub: pb_grpc.OpenInterestServiceStub
) -> None:
    async with session.get(f"http://127.0.0.1:{app.http_port}/v1/open-interest") as response:
        assert response.status == 200 and (await response.json())["status"] == "ok"
    async with session.get(f"http://127.0.0.1:{app.http_port}/v1/sources") as response:
        assert response.status == 200
    response_pb = await stub.GetOpenInterest(pb.GetOpenInterestRequest(), timeout=5)
    assert response_pb.timestamp > 0


async def one_round(
    app: App,
    session: aiohttp.ClientSession,
    stub: pb_grpc.OpenInterestServiceStub,
    fault: dict[str, object],
    expected: tuple[str, ...],
    faulty: Sequence[str],
) -> None:
    assert app.sim is not None
    healthy = [v for v in VENUES if v not in faulty]
    await until("every venue fresh", lambda: all(fresh(app, v) for v in VENUES), DEADLINE_S)
    failures_before = {v: app.statuses[v].consecutive_failures for v in faulty}
    for venue in faulty:
        async with session.post(f"{app.sim.control_url}/faults", json={"venue": venue, **fault}) as response:
            assert response.status == 200

    # the status says what happened
    await until(
        "a failed poll on every faulty venue",
        lambda: all(app.statuses[v].consecutive_failures > failures_before[v] for v in faulty),
        DEADLINE_S,
    )
    for venue in faulty:
        error = app.statuses[venue].last_error or ""
        assert error.startswith(expected), f"{venue}: {error!r}"
        assert "Traceback" not in error and len(error) <= 300
    kept = {v: app.readings.readings[v] for v in faulty}
    healthy_before = {v: app.readings.readings[v].fetched_at_ms for v in healthy}

    # both front doors answer; healthy venues carry on; faulty ones keep their last good reading
    await front_doors_answer(app, session, stub)
    await until(
        "healthy venues polled again",
        lambda: all(app.readings.readings[v].fetched_at_ms > healthy_before[v] for v in healthy),
        DEADLINE_S,
    )
    assert all(app.readings.readings[v] is kept[v] for v in faulty), "a failed poll replaced good data"

    # faulty venues go stale and leave the totals; healthy ones stay in. One condition, waited
    # for: a loaded machine can hold a healthy venue's poll past its staleness for a moment (seen
    # beside a CPU hog), which is the service being honest, not a fault leaking across venues
    def settled() -> bool:
        states = {view.source: view.state for view in app.source_views()}
        shown = reporting(app)
        return (
            not set(faulty) & shown
            and set(healthy) <= shown
            and all(states[v] is SourceState.STALE for v in faulty)
            and all(states[v] in (SourceState.OK, SourceState.DEGRADED) for v in healthy)
        )

    await until("faulty venues out of the totals, healthy ones in", settled, DEADLINE_S)
    for row in app.hub.latest.rows:  # totals are the sum of what is listed, to the cent
        assert row.total_cents == sum(e.oi_usd_cents for e in row.exchanges)
    await front_doors_answer(app, session, stub)

    # cleared: back within two polls (the one in flight may still fail, the next one must not)
    async with session.delete(f"{app.sim.control_url}/faults") as response:
        assert response.status == 200
    failed_before = {v: failed_polls(app, v) for v in faulty}
    await until("faulty venues back", lambda: all(fresh(app, v) for v in faulty), DEADLINE_S)
    # once back, a venue fails no more polls, so this count is final when we read it
    late = {v: failed_polls(app, v) - failed_before[v] for v in faulty}
    assert max(late.values()) <= 1, f"polls that failed after the fault was cleared: {late}"


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("fault_name", sorted(FAULTS))
async def test_fault(app: App, fault_name: str) -> None:
    fault, expected = FAULTS[fault_name]
    async with (
        aiohttp.ClientSession() as session,
        grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel,
    ):
        stub = pb_grpc.OpenInterestServiceStub(channel)
        try:
            for half in HALVES:
                await one_round(app, session, stub, fault, expected, half)
        finally:  # a failed round must not leave its faults on for the next test of the module
            assert app.sim is not None
            async with session.delete(f"{app.sim.control_url}/faults") as response:
                assert response.status == 200
