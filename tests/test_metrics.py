"""``GET /metrics`` (API.md section 9) on the whole service in-process against the simulator:
every listed series with its type and labels, and the figures moving with what the service does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import grpc
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.api.gen.openinterest.v1 import open_interest_pb2_grpc as pb_grpc
from server.api.metrics import MetricsExposition
from server.app import App
from server.config import Config
from server.core.errors import VenueTimeout
from server.core.metrics import INTERNAL_FAILURE, REQUEST_BUCKETS_S, Buckets, Metrics
from server.core.model import VenueReading
from server.core.quarantine import screen
from server.poll.http import Reply
from server.poll.poller import VenuePoller
from server.poll.status import SourceStatus
from server.venues.base import Request
from tests.poll.test_poller import Clock, FakeVenue, Flaky, kept_into, spec
from tests.support import simulated_app

SOURCES = ("binance", "bybit", "okx")
INTERVAL_S = 0.5

# API.md section 9: family name (as the parser names it) -> (type, labels of its series)
LISTED = {
    "oi_source_up": ("gauge", {"source"}),
    "oi_source_last_success_timestamp_seconds": ("gauge", {"source"}),
    "oi_poll_duration_seconds": ("histogram", {"source"}),
    "oi_poll_failures": ("counter", {"source", "reason"}),
    "oi_markets": ("gauge", {"source"}),
    "oi_readings_rejected": ("counter", {"source"}),
    "oi_snapshot_build_seconds": ("histogram", set()),
    "oi_snapshot_version": ("gauge", set()),
    "oi_watch_streams": ("gauge", set()),
    "oi_requests": ("counter", {"api", "method", "code"}),
    "oi_request_duration_seconds": ("histogram", {"api", "method"}),
    "oi_history_write_seconds": ("histogram", set()),
    "oi_history_write_failures": ("counter", set()),
}


@pytest.fixture
async def app() -> AsyncIterator[App]:
    async with simulated_app(seed=5, sources=SOURCES, interval_s=INTERVAL_S) as service:
        yield service


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


class Scrape:
    """One parsed scrape: families by name, and one sample's value by name and labels."""

    def __init__(self, text: str) -> None:
        self.families: dict[str, Metric] = {f.name: f for f in text_string_to_metric_families(text)}

    def value(self, sample: str, **labels: str) -> float | None:
        for family in self.families.values():
            for s in family.samples:
                if s.name == sample and s.labels == labels:
                    return float(s.value)
        return None


async def scrape(session: aiohttp.ClientSession, app: App) -> Scrape:
    async with session.get(f"http://127.0.0.1:{app.http_port}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return Scrape(await response.text())


async def until_scraped(
    session: aiohttp.ClientSession, app: App, condition: Callable[[Scrape], bool], timeout_s: float = 10.0
) -> Scrape:
    deadline = time.monotonic() + timeout_s
    while True:
        scraped = await scrape(session, app)
        if condition(scraped):
            return scraped
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def requests(scraped: Scrape, api: str, method: str, code: str) -> float:
    return scraped.value("oi_requests_total", api=api, method=method, code=code) or 0.0


def all_up(scraped: Scrape) -> bool:
    return all(scraped.value("oi_source_up", source=s) == 1 for s in SOURCES)


async def test_every_listed_series_exists_with_its_type_and_labels(
    app: App, session: aiohttp.ClientSession
) -> None:
    assert app.sim is not None
    async with session.post(
        f"{app.sim.control_url}/faults", json={"venue": "okx", "fault": "http_500"}
    ) as response:
        assert response.status == 200
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
        await pb_grpc.OpenInterestServiceStub(channel).ListSources(pb.ListSourcesRequest())
    scraped = await until_scraped(
        session,
        app,
        lambda s: (
            bool(s.families["oi_poll_failures"].samples)
            and bool(s.families["oi_source_last_success_timestamp_seconds"].samples)
            and s.value("oi_snapshot_build_seconds_count") != 0
        ),
    )
    for name, (kind, labels) in LISTED.items():
        family = scraped.families.get(name)
        assert family is not None, f"{name} missing"
        assert family.type == kind, name
        assert family.samples, f"{name} has no series"
        for sample in family.samples:
            assert set(sample.labels) - {"le"} == labels, (name, sample)
    assert {s.labels["source"] for s in scraped.families["oi_source_up"].samples} == set(SOURCES)
    assert {s.labels["api"] for s in scraped.families["oi_requests"].samples} == {"rest", "grpc"}
    assert "oi_bus_lag_seconds" not in scraped.families  # only replicas have a bus
    last = scraped.value("oi_source_last_success_timestamp_seconds", source="binance")
    assert last is not None and abs(last - time.time()) < 60


async def test_rest_requests_are_counted_by_route_and_status(
    app: App, session: aiohttp.ClientSession
) -> None:
    base = f"http://127.0.0.1:{app.http_port}"
    before = await scrape(session, app)
    for path, status in (
        ("/v1/sources", 200),
        ("/v1/sources", 200),
        ("/v1/open-interest?symbol=NOPE", 404),
        ("/no/such/path", 404),
        ("/v1/sources?x=1", 400),
    ):
        async with session.get(base + path) as response:
            assert response.status == status
    async with session.post(base + "/v1/sources") as response:
        assert response.status == 405
    after = await scrape(session, app)

    def moved(method: str, code: str) -> float:
        return requests(after, "rest", method, code) - requests(before, "rest", method, code)

    assert moved("/v1/sources", "200") == 2
    assert moved("/v1/open-interest", "404") == 1
    assert moved("other", "404") == 1  # an unknown path never becomes a label of its own
    assert moved("/v1/sources", "400") == 1
    assert moved("/v1/sources", "405") == 1
    assert moved("/metrics", "200") == 1  # the first scrape, counted under its own route
    assert not any("/no/such" in s.labels.get("method", "") for s in after.families["oi_requests"].samples)
    count = after.value("oi_request_duration_seconds_count", api="rest", method="/v1/sources")
    assert count is not None and count >= 4
    infinite = after.value("oi_request_duration_seconds_bucket", api="rest", method="/v1/sources", le="+Inf")
    assert infinite == count


async def test_grpc_calls_are_counted_by_method_and_final_status(
    app: App, session: aiohttp.ClientSession
) -> None:
    await until_scraped(session, app, lambda s: all_up(s) and app.ready())  # a snapshot with BTC
    before = await scrape(session, app)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
        stub = pb_grpc.OpenInterestServiceStub(channel)
        await stub.GetOpenInterest(pb.GetOpenInterestRequest(symbol="BTC"))
        await stub.GetOpenInterest(pb.GetOpenInterestRequest())
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stub.GetOpenInterest(pb.GetOpenInterestRequest(symbol="NOPE"))
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as malformed:
            await stub.GetOpenInterest(pb.GetOpenInterestRequest(symbol="no way!"))
        assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    def moved(after: Scrape, code: str) -> float:
        return requests(after, "grpc", "GetOpenInterest", code) - requests(
            before, "grpc", "GetOpenInterest", code
        )

    def counts(after: Scrape) -> tuple[float, float, float]:
        return (moved(after, "OK"), moved(after, "NOT_FOUND"), moved(after, "INVALID_ARGUMENT"))

    # a call is counted when its handler ends, which can be just after the client has its status
    after = await until_scraped(session, app, lambda s: counts(s) == (2, 1, 1))
    assert counts(after) == (2, 1, 1)
    count = after.value("oi_request_duration_seconds_count", api="grpc", method="GetOpenInterest")
    assert count is not None and count >= 4


async def test_watch_streams_follow_open_streams_and_count_when_they_end(
    app: App, session: aiohttp.ClientSession
) -> None:
    assert (await scrape(session, app)).value("oi_watch_streams") == 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
        stub = pb_grpc.OpenInterestServiceStub(channel)
        calls = [stub.WatchOpenInterest(pb.WatchOpenInterestRequest()) for _ in range(3)]
        for call in calls:
            await call.read()  # the first message: the stream is open on the server
        await until_scraped(session, app, lambda s: s.value("oi_watch_streams") == 3)
        calls[0].cancel()
        await until_scraped(session, app, lambda s: s.value("oi_watch_streams") == 2)
        ended = await until_scraped(
            session, app, lambda s: requests(s, "grpc", "WatchOpenInterest", "CANCELLED") == 1
        )
        assert requests(ended, "grpc", "WatchOpenInterest", "OK") == 0  # the others are still open
        for call in calls[1:]:
            call.cancel()
    await until_scraped(session, app, lambda s: s.value("oi_watch_streams") == 0)


async def test_a_venue_fault_counts_failures_by_reason_then_the_source_goes_down(
    app: App, session: aiohttp.ClientSession
) -> None:
    assert app.sim is not None
    await until_scraped(session, app, all_up)
    async with session.post(
        f"{app.sim.control_url}/faults", json={"venue": "bybit", "fault": "http_500"}
    ) as response:
        assert response.status == 200
    failed = await until_scraped(
        session,
        app,
        lambda s: (s.value("oi_poll_failures_total", source="bybit", reason="VenueUnavailable") or 0) >= 1,
    )
    assert (failed.value("oi_markets", source="bybit") or 0) > 0  # the last good poll's count stays
    down = await until_scraped(session, app, lambda s: s.value("oi_source_up", source="bybit") == 0)
    assert down.value("oi_source_up", source="okx") == 1
    assert (down.value("oi_poll_failures_total", source="bybit", reason="VenueUnavailable") or 0) >= 2
    assert not any(s.labels["source"] == "okx" for s in down.families["oi_poll_failures"].samples)
    polls = down.value("oi_poll_duration_seconds_count", source="bybit")
    assert polls is not None and polls >= 3  # good and failed polls alike


async def test_snapshot_version_is_the_hubs_and_builds_are_timed(
    app: App, session: aiohttp.ClientSession
) -> None:
    scraped = await until_scraped(session, app, lambda s: (s.value("oi_snapshot_version") or 0) >= 2)
    version = scraped.value("oi_snapshot_version")
    # the hub may have moved on since the scrape; it never goes back
    assert version is not None and version <= app.hub.version
    builds = scraped.value("oi_snapshot_build_seconds_count")
    assert builds is not None and builds >= version  # one build per published version (plus at start)
    async with aiohttp.ClientSession() as other:
        again = await scrape(other, app)
    assert (again.value("oi_snapshot_version") or 0) >= version


def test_buckets_are_cumulative_and_a_bound_belongs_to_its_bucket() -> None:
    buckets = Buckets((0.1, 1.0))
    for seconds in (0.05, 0.1, 0.5, 2.0):
        buckets.observe(seconds)
    assert buckets.cumulative() == [("0.1", 2), ("1.0", 3), ("+Inf", 4)]
    assert buckets.total == pytest.approx(2.65)


def test_history_writes_and_bus_lag_are_exposed_when_recorded() -> None:
    metrics = Metrics()
    exposition = MetricsExposition(metrics, snapshot_version=lambda: 7)
    metrics.history_write(0.004, ok=True)
    metrics.history_write(0.2, ok=False)
    scraped = Scrape(exposition.render().decode())
    assert "oi_bus_lag_seconds" not in scraped.families
    assert scraped.value("oi_history_write_seconds_count") == 2
    assert scraped.value("oi_history_write_seconds_bucket", le="0.005") == 1
    assert scraped.value("oi_history_write_failures_total") == 1
    assert scraped.value("oi_snapshot_version") == 7
    metrics.track_bus_lag()
    assert Scrape(exposition.render().decode()).value("oi_bus_lag_seconds_count") == 0
    metrics.observe_bus_lag(0.3)
    scraped = Scrape(exposition.render().decode())
    assert scraped.families["oi_bus_lag_seconds"].type == "histogram"
    assert scraped.value("oi_bus_lag_seconds_bucket", le="0.25") == 0
    assert scraped.value("oi_bus_lag_seconds_bucket", le="0.5") == 1


def test_each_exposition_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.request("rest", "/healthz", "200", REQUEST_BUCKETS_S[0])
    one, two = MetricsExposition(first), MetricsExposition(second)
    assert (
        Scrape(one.render().decode()).value("oi_requests_total", api="rest", method="/healthz", code="200")
        == 1
    )
    assert not Scrape(two.render().decode()).families["oi_requests"].samples


async def test_polls_are_timed_and_failures_counted_by_error_class_or_internal() -> None:
    venue, clock, published, metrics = FakeVenue(), Clock(), list[VenueReading](), Metrics()
    poller = VenuePoller(
        spec(),
        fetch=venue,
        interval_s=1.0,
        status=SourceStatus("fake", poll_interval_s=1.0),
        submit=kept_into(published, clock, screen=Flaky(1, screen)),  # a bug on the first submit
        clock_ms=clock,
        metrics=metrics,
    )

    def timing_out(request: Request) -> Reply | None:
        raise VenueTimeout("timed out after 1s")

    for behaviour in (timing_out, lambda _: None, lambda _: None, lambda _: None):
        venue.behaviour = behaviour
        clock.now += 1000
        await poller.poll_once()
    assert metrics.poll_failures == {("fake", "VenueTimeout"): 1, ("fake", INTERNAL_FAILURE): 1}
    assert sum(metrics.poll_seconds["fake"].counts) == 4 and len(published) == 2


async def test_history_writes_and_event_streams_are_counted(tmp_path: Path) -> None:
    """The recorder's writes land in oi_history_write_seconds; an open /v1/stream is a watch stream
    and is counted under its own route."""
    service = App(
        Config(
            grpc_port=0,
            http_port=0,
            simulate=True,
            sources=("okx",),
            poll_interval_s=0.5,
            sim_seed=3,
            history="",
            history_sample_s=0.2,
            data_dir=tmp_path,
        )
    )
    await service.start()
    try:
        assert service.recorder is not None
        recorder = service.recorder
        deadline = time.monotonic() + 20
        while recorder.status().open_series == 0:  # something sampled: the open minute has candles
            assert time.monotonic() < deadline, "nothing sampled in 20 s"
            await asyncio.sleep(0.05)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{service.http_port}/v1/stream") as stream:
                assert stream.status == 200
                scraped = await scrape(session, service)
                assert (scraped.value("oi_watch_streams") or 0) >= 1
            await recorder.stop()  # writes the open minute: one batch through the hook
            scraped = await until_scraped(
                session, service, lambda s: (s.value("oi_history_write_seconds_count") or 0) >= 1
            )
            assert scraped.value("oi_history_write_failures_total") == 0
            async with session.get(f"http://127.0.0.1:{service.http_port}/v1/stream?x=1") as refused:
                assert refused.status == 400
            scraped = await until_scraped(
                session, service, lambda s: requests(s, "rest", "/v1/stream", "400") == 1
            )
            assert requests(scraped, "rest", "other", "400") == 0  # its own route, not "other"
    finally:
        await service.stop()
