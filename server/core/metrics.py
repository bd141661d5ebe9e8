"""The service's operational figures as plain counters: what ``GET /metrics`` exposes (API.md
section 9), kept by the code that knows them, read only when Prometheus scrapes.

Plain ints and hand-bucketed latency counts rather than prometheus-client's metric objects, because
the front doors count every request: a REST answer costs ~35 µs of CPU and prometheus-client's
labelled ``Counter.labels(...).inc()`` with its lock and label lookup is a few µs, where a dict
increment and a ``bisect`` here cost well under one. The same counters serve the rare events
(polls, snapshots, history writes) so there is one mechanism and one place that lists them.
``server/api/metrics.py`` turns a ``Metrics`` into the Prometheus exposition at scrape time.

One ``Metrics`` per running service (``App``), never a module-level one: tests run several
services in one process. Everything is touched from the event loop's thread only, so no locks.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

# Upper bounds (seconds) of the latency buckets; one more bucket (+Inf) takes the rest.
REQUEST_BUCKETS_S: Final = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0,
)  # fmt: skip
POLL_BUCKETS_S: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
SNAPSHOT_BUCKETS_S: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
HISTORY_BUCKETS_S: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BUS_LAG_BUCKETS_S: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

REST: Final = "rest"  # the ``api`` label of oi_requests_total / oi_request_duration_seconds
GRPC: Final = "grpc"
INTERNAL_FAILURE: Final = "internal"  # the ``reason`` of a poll that failed on a bug, not the venue


class Buckets:
    """One latency histogram: a count per bucket (not cumulative), the sum and the bounds."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bucket (Prometheus' ``le``)
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[str, int]]:
        """(``le``, count of observations ≤ it) per bucket, ending with ``+Inf``: the exposition's form."""
        out: list[tuple[str, int]] = []
        running = 0
        for bound, count in zip((*map(repr, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


class RouteStats:
    """The answers of one route or RPC: a count per status code and the latencies. The front
    doors look theirs up once, at start, so a request costs one dict update and one bisect."""

    __slots__ = ("codes", "latency")

    def __init__(self) -> None:
        self.codes: dict[int | str, int] = {}  # HTTP status, or gRPC status name -> answers
        self.latency = Buckets(REQUEST_BUCKETS_S)

    def answered(self, code: int | str, seconds: float) -> None:
        codes = self.codes
        codes[code] = codes.get(code, 0) + 1
        latency = self.latency  # Buckets.observe, inlined: this runs on every request
        latency.counts[bisect_left(latency.bounds, seconds)] += 1
        latency.total += seconds


@dataclass(frozen=True, slots=True)
class SourceSample:
    """What the source gauges show for one source at scrape time (built from its status)."""

    source: str
    up: bool  # fresh figures counted in the totals (state ok or degraded)
    last_success_ms: int | None
    markets: int
    readings_rejected: int


class Metrics:
    """The counters of one service. Each ``count``/``observe`` method is called where the event
    happens; ``server/api/metrics.py`` reads the attributes when scraped."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], RouteStats] = {}  # (api, method) -> its answers
        self.poll_seconds: dict[str, Buckets] = {}  # source -> poll durations, good or not
        self.poll_failures: dict[tuple[str, str], int] = {}  # (source, reason) -> count
        self.snapshot_build = Buckets(SNAPSHOT_BUCKETS_S)
        self.history_write_seconds = Buckets(HISTORY_BUCKETS_S)
        self.history_write_failures = 0
        self.bus_lag: Buckets | None = None  # only where snapshots arrive over the bus (replicas)
        self.bus_connected: Callable[[], bool] | None = None  # only where a bus is used
        self.bus_messages_published = 0
        self.bus_publish_failures = 0
        self.bus_messages_skipped = 0
        self._stream_counts: list[Callable[[], int]] = []

    # --- front doors (hot path: keep each of these a few dict operations) ----------------------

    def route(self, api: str, method: str) -> RouteStats:
        """The counters of one route or RPC (``method``: from a fixed set, never client input:
        each distinct value is a set of time series). Created on first use, then the same."""
        stats = self.routes.get((api, method))
        if stats is None:
            stats = self.routes[(api, method)] = RouteStats()
        return stats

    def request(self, api: str, method: str, code: int | str, seconds: float) -> None:
        """One answered request (a stream counts once, when it ends); the hot paths hold their
        ``RouteStats`` instead of calling this."""
        self.route(api, method).answered(code, seconds)

    def count_watch_streams(self, open_streams: Callable[[], int]) -> None:
        """Add a source of open watch streams (gRPC's, a server-sent-events endpoint's); the
        ``oi_watch_streams`` gauge is their sum when scraped."""
        self._stream_counts.append(open_streams)

    def watch_streams(self) -> int:
        return sum(count() for count in self._stream_counts)

    # --- polling, snapshots, history, bus ------------------------------------------------------

    def add_sources(self, sources: Iterable[str]) -> None:
        """Start each source's poll-duration histogram empty, so its series exist before its first poll."""
        for source in sources:
            self.poll_seconds.setdefault(source, Buckets(POLL_BUCKETS_S))

    def poll(self, source: str, seconds: float, failure: str | None = None) -> None:
        """One finished poll of ``source``; ``failure``: why it failed (an error class name, or
        ``INTERNAL_FAILURE``), None when it succeeded."""
        durations = self.poll_seconds.get(source)
        if durations is None:
            durations = self.poll_seconds[source] = Buckets(POLL_BUCKETS_S)
        durations.observe(seconds)
        if failure is not None:
            key = (source, failure)
            self.poll_failures[key] = self.poll_failures.get(key, 0) + 1

    def snapshot_built(self, seconds: float) -> None:
        self.snapshot_build.observe(seconds)

    def history_write(self, seconds: float, ok: bool) -> None:
        """One write of a snapshot to history, and whether it succeeded (for the history recorder)."""
        self.history_write_seconds.observe(seconds)
        if not ok:
            self.history_write_failures += 1

    def track_bus_lag(self) -> None:
        """Expose ``oi_bus_lag_seconds`` (a replica calls this at start, before any message)."""
        if self.bus_lag is None:
            self.bus_lag = Buckets(BUS_LAG_BUCKETS_S)

    def bus_published(self, messages: int) -> None:
        self.bus_messages_published += messages

    def bus_publish_failed(self) -> None:
        self.bus_publish_failures += 1

    def bus_skipped(self) -> None:
        """A value on the bus that could not be decoded (corrupt, or a newer format)."""
        self.bus_messages_skipped += 1

    def observe_bus_lag(self, seconds: float) -> None:
        """How long a snapshot took from the collector's publish to this replica."""
        self.track_bus_lag()
        assert self.bus_lag is not None
        self.bus_lag.observe(seconds)
