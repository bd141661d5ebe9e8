"""``GET /metrics``: the service's ``Metrics`` (``server/core/metrics.py``) as Prometheus text.

A custom prometheus-client collector reads the plain counters when scraped and yields metric
families; nothing from prometheus-client runs on the request path. Each ``MetricsExposition`` has
its own ``CollectorRegistry`` (never the process-wide default: tests start several services in one
process, and each must show only its own figures).

The figures that are states rather than events (source health, snapshot version, open streams)
are read from callables at scrape time, so they can never drift from what the service serves.
The source gauges come as ``SourceSample`` (core), built by the composition root from the
poller's statuses: this layer never imports the polling layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from server.core.metrics import Buckets, Metrics, SourceSample

# The classic text format, which every Prometheus version reads; our names and labels need no
# UTF-8 escaping, so the bytes are the same as prometheus-client's newer "1.0.0" text.
CONTENT_TYPE: Final = CONTENT_TYPE_PLAIN_0_0_4

SourceSamples = Callable[[], Sequence[SourceSample]]


def no_sources() -> Sequence[SourceSample]:
    return ()


def histogram(family: HistogramMetricFamily, labels: list[str], buckets: Buckets) -> None:
    family.add_metric(labels, buckets.cumulative(), buckets.total)


class ServiceCollector:
    """Yields every series of API.md section 9 from one service's counters, when scraped."""

    def __init__(
        self, metrics: Metrics, *, sources: SourceSamples, snapshot_version: Callable[[], int]
    ) -> None:
        self._metrics = metrics
        self._sources = sources
        self._snapshot_version = snapshot_version

    def collect(self) -> Iterator[Metric]:
        yield from self._source_families()
        yield from self._poll_families()
        yield from self._snapshot_families()
        yield from self._request_families()
        yield from self._history_families()

    def _source_families(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "oi_source_up", "1 while the source's figures are fresh and counted, else 0", labels=["source"]
        )
        last = GaugeMetricFamily(
            "oi_source_last_success_timestamp_seconds",
            "Unix time of the source's last successful poll (absent before the first)",
            labels=["source"],
        )
        markets = GaugeMetricFamily(
            "oi_markets", "Markets parsed in the source's last good poll", labels=["source"]
        )
        rejected = CounterMetricFamily(
            "oi_readings_rejected",
            "Readings quarantined since start (the previous value stood)",
            labels=["source"],
        )
        for sample in self._sources():
            up.add_metric([sample.source], 1.0 if sample.up else 0.0)
            if sample.last_success_ms is not None:
                last.add_metric([sample.source], sample.last_success_ms / 1000)
            markets.add_metric([sample.source], sample.markets)
            rejected.add_metric([sample.source], sample.readings_rejected)
        yield from (up, last, markets, rejected)

    def _poll_families(self) -> Iterator[Metric]:
        durations = HistogramMetricFamily(
            "oi_poll_duration_seconds", "Duration of each poll of a source, good or failed", labels=["source"]
        )
        for source, buckets in self._metrics.poll_seconds.items():
            histogram(durations, [source], buckets)
        failures = CounterMetricFamily(
            "oi_poll_failures",
            "Failed polls, by the error's class (VenueTimeout, SchemaDrift, ...; internal for a bug)",
            labels=["source", "reason"],
        )
        for (source, reason), count in self._metrics.poll_failures.items():
            failures.add_metric([source, reason], count)
        yield from (durations, failures)

    def _snapshot_families(self) -> Iterator[Metric]:
        build = HistogramMetricFamily(
            "oi_snapshot_build_seconds", "Time to prepare a new snapshot's response bodies"
        )
        histogram(build, [], self._metrics.snapshot_build)
        yield build
        yield GaugeMetricFamily(
            "oi_snapshot_version", "Version of the snapshot being served", value=self._snapshot_version()
        )
        yield GaugeMetricFamily(
            "oi_watch_streams", "Watch streams open now", value=self._metrics.watch_streams()
        )
        if self._metrics.bus_lag is not None:
            lag = HistogramMetricFamily(
                "oi_bus_lag_seconds", "Time from a snapshot's publish on the bus to this replica"
            )
            histogram(lag, [], self._metrics.bus_lag)
            yield lag
        if self._metrics.bus_connected is not None:
            yield from self._bus_families(self._metrics.bus_connected)

    def _bus_families(self, connected: Callable[[], bool]) -> Iterator[Metric]:
        metrics = self._metrics
        yield GaugeMetricFamily(
            "oi_bus_connected", "1 while connected to the bus (NATS)", value=int(connected())
        )
        yield CounterMetricFamily(
            "oi_bus_messages_published",
            "Values put on the bus (collector)",
            value=metrics.bus_messages_published,
        )
        yield CounterMetricFamily(
            "oi_bus_publish_failures",
            "Publishes that failed (the collector sends everything again)",
            value=metrics.bus_publish_failures,
        )
        yield CounterMetricFamily(
            "oi_bus_messages_skipped",
            "Values from the bus that could not be decoded and were skipped (replica)",
            value=metrics.bus_messages_skipped,
        )

    def _request_families(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "oi_requests",
            "Requests answered, by front door, route or RPC, and status code (streams count when they end)",
            labels=["api", "method", "code"],
        )
        durations = HistogramMetricFamily(
            "oi_request_duration_seconds",
            "Time to answer a request (a stream: how long it stayed open)",
            labels=["api", "method"],
        )
        for (api, method), stats in list(self._metrics.routes.items()):
            if not stats.codes:
                continue  # a route looked up at start and never asked yet: no series
            for code, count in list(stats.codes.items()):
                requests.add_metric([api, method, str(code)], count)
            histogram(durations, [api, method], stats.latency)
        yield from (requests, durations)

    def _history_families(self) -> Iterator[Metric]:
        writes = HistogramMetricFamily("oi_history_write_seconds", "Time to write a snapshot to history")
        histogram(writes, [], self._metrics.history_write_seconds)
        yield writes
        yield CounterMetricFamily(
            "oi_history_write_failures",
            "Snapshot writes to history that failed",
            value=self._metrics.history_write_failures,
        )


class MetricsExposition:
    """One service's registry: its counters (``metrics``) and their text form (``render``)."""

    def __init__(
        self,
        metrics: Metrics | None = None,
        *,
        sources: SourceSamples = no_sources,
        snapshot_version: Callable[[], int] = lambda: 0,
    ) -> None:
        self.metrics = metrics if metrics is not None else Metrics()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(
            ServiceCollector(self.metrics, sources=sources, snapshot_version=snapshot_version)
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
