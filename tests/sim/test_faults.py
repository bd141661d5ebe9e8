"""The simulator's fault switches, driven through its control API over HTTP, seen by our HTTP layer."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from server.core.errors import (
    MalformedResponse,
    VenueError,
    VenueRateLimited,
    VenueTimeout,
    VenueUnavailable,
)
from server.poll.http import fetch_json
from server.sim.faults import Fault, FaultKind, empty_arrays, faulty_body, rename_keys, scale_numbers
from server.sim.server import SimCluster
from server.venues import okx
from server.venues.base import Catalog, Request

OI_REQUEST = okx.SPEC.cycle_requests(Catalog())[0]


@pytest.fixture
async def cluster() -> AsyncIterator[SimCluster]:
    sim = SimCluster(venues=["okx", "bybit"], seed=5)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def set_fault(session: aiohttp.ClientSession, sim: SimCluster, **document: object) -> dict[str, object]:
    async with session.post(f"{sim.control_url}/faults", json=document) as response:
        assert response.status == 200, await response.text()
        body: dict[str, object] = await response.json()
        return body


# a local answer takes milliseconds, but a loaded machine can stall the event loop for a good part
# of a second: only the faults that hold a request should ever meet a timeout
TIMEOUT_S = 10.0


async def fetch_okx(session: aiohttp.ClientSession, sim: SimCluster, timeout_s: float = TIMEOUT_S) -> object:
    return (
        await fetch_json(session, sim.urls["okx"], OI_REQUEST, timeout_s=timeout_s, max_bytes=1_000_000)
    ).body


async def test_healthy_venue_serves_its_real_format(
    session: aiohttp.ClientSession, cluster: SimCluster
) -> None:
    body = await fetch_okx(session, cluster)
    assert isinstance(body, dict) and body["code"] == "0" and body["data"]


@pytest.mark.parametrize(
    ("fault", "error", "fragment"),
    [
        ({"fault": "http_429", "retry_after_s": 3}, VenueRateLimited, "429"),
        ({"fault": "http_500"}, VenueUnavailable, "HTTP 500"),
        ({"fault": "timeout"}, VenueTimeout, "no answer"),
        ({"fault": "latency", "seconds": 1.5}, VenueTimeout, "no answer"),
        ({"fault": "malformed_json"}, MalformedResponse, "not JSON"),
        ({"fault": "huge_body", "size_bytes": 2_000_000}, MalformedResponse, "cap"),
        ({"fault": "down"}, VenueUnavailable, "cannot connect"),
    ],
)
async def test_each_fault_and_its_clearing(
    session: aiohttp.ClientSession,
    cluster: SimCluster,
    fault: dict[str, object],
    error: type[VenueError],
    fragment: str,
) -> None:
    await set_fault(session, cluster, venue="okx", **fault)
    with pytest.raises(error, match=fragment) as caught:  # the timeout and latency faults hold 1.5 s+
        await fetch_okx(session, cluster, timeout_s=0.5 if error is VenueTimeout else TIMEOUT_S)
    if isinstance(caught.value, VenueRateLimited):
        assert caught.value.retry_after_s == 3.0
    # the other venue is untouched
    bybit = await fetch_json(
        session,
        cluster.urls["bybit"],
        Request(key="t", path="/v5/market/tickers", params=(("category", "linear"),)),
        timeout_s=TIMEOUT_S,
    )
    assert isinstance(bybit.body, dict) and bybit.body["retCode"] == 0
    async with session.delete(f"{cluster.control_url}/faults/okx") as response:
        assert response.status == 200
    body = await fetch_okx(session, cluster)  # the same port answers again, also after "down"
    assert isinstance(body, dict) and body["code"] == "0"


async def test_body_faults_keep_json_but_break_the_format(
    session: aiohttp.ClientSession, cluster: SimCluster
) -> None:
    await set_fault(session, cluster, venue="okx", fault="changed_shape")
    body = await fetch_okx(session, cluster)
    assert isinstance(body, dict) and set(body) == {"code_v2", "msg_v2", "data_v2"}
    await set_fault(session, cluster, venue="okx", fault="empty_markets")
    body = await fetch_okx(session, cluster)
    assert isinstance(body, dict) and body["data"] == [] and body["code"] == "0"
    await set_fault(session, cluster, venue="okx", fault="absurd_numbers", factor=1000)
    absurd = await fetch_okx(session, cluster)
    assert isinstance(absurd, dict) and float(absurd["data"][0]["oiUsd"]) > 1e6


async def test_control_api_lists_and_validates(session: aiohttp.ClientSession, cluster: SimCluster) -> None:
    async with session.get(f"{cluster.control_url}/venues") as response:
        assert set((await response.json())["venues"]) == {"okx", "bybit"}
    await set_fault(session, cluster, venue="all", fault="http_500")
    async with session.get(f"{cluster.control_url}/faults") as response:
        assert (await response.json())["faults"] == {
            "okx": {"fault": "http_500"},
            "bybit": {"fault": "http_500"},
        }
    for bad, status in (
        ({"venue": "nope", "fault": "http_500"}, 404),
        ({"venue": "okx", "fault": "meteor"}, 400),
        ({"venue": "okx", "fault": "latency", "seconds": -1}, 400),
        ({"venue": "okx", "fault": "http_429", "retry_after_s": "soon"}, 400),
    ):
        async with session.post(f"{cluster.control_url}/faults", json=bad) as response:
            assert response.status == status
            assert "error" in await response.json()
    async with session.post(f"{cluster.control_url}/faults", data=b"not json") as response:
        assert response.status == 400
    async with session.delete(f"{cluster.control_url}/faults") as response:
        assert response.status == 200
    async with session.get(f"{cluster.control_url}/faults") as response:
        assert (await response.json())["faults"] == {}


async def test_truth_endpoint_and_moving_values(session: aiohttp.ClientSession, cluster: SimCluster) -> None:
    async def truth() -> dict[str, float]:
        async with session.get(f"{cluster.control_url}/venues/okx/markets") as response:
            return {m["venue_symbol"]: m["oi_usd"] for m in (await response.json())["markets"]}

    first = await truth()
    async with session.post(f"{cluster.control_url}/tick") as response:
        assert response.status == 200
    second = await truth()
    assert first.keys() == second.keys() and first != second
    assert all(v > 0 for v in second.values())


def test_pure_transforms() -> None:
    document = {"a": [1, "2.5", {"b": "x"}], "c": True, "d": None}
    assert rename_keys(document) == {"a_v2": [1, "2.5", {"b_v2": "x"}], "c_v2": True, "d_v2": None}
    assert scale_numbers(document, 10) == {"a": [10, "25.0", {"b": "x"}], "c": True, "d": None}
    assert scale_numbers({"code": "00000", "px": "1.5", "n": 2.5}, 1e9) == {
        "code": "00000",
        "px": "1500000000.0",
        "n": 2.5e9,
    }
    assert empty_arrays(document) == {"a": [], "c": True, "d": None}
    keyed = {
        "markets": {"BTC-USD": {"px": "1", "oi": "2"}, "ETH-USD": {"px": "3", "oi": "4"}},
        "meta": {"v": 1},
    }
    assert empty_arrays(keyed) == {"markets": {}, "meta": {"v": 1}}
    assert len(faulty_body(document, Fault(kind=FaultKind.HUGE_BODY, size_bytes=5000))) == 5000


def test_random_walk_stays_positive_and_plausible() -> None:
    sim = SimCluster(venues=["okx"], seed=1)
    start = {s.listing.venue_symbol: (s.price_usd, s.oi_base) for s in sim.world.venues["okx"]}
    began = time.monotonic()
    for _ in range(20_000):  # about three simulated hours at the default tick
        sim.world.step()
    assert time.monotonic() - began < 60
    for state in sim.world.venues["okx"]:
        price, oi = start[state.listing.venue_symbol]
        assert 0.5 < state.price_usd / price < 2 and 0.3 < state.oi_base / oi < 3
