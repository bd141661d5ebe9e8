"""Composition root: builds the session, pollers, latest readings, hub, both front doors and the simulator,
and owns the order of startup and shutdown. Nothing else in the service wires objects together.

Shutdown (SIGTERM/SIGINT via the CLI, or ``stop()`` in tests): health goes NOT_SERVING, pollers
are cancelled, the hub closes so every watch stream ends with status OK, the gRPC server stops
with a short grace, then the REST site, the HTTP session and the simulator. A task that ended with
an error is logged when it ends and never keeps shutdown from completing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import grpc
from aiohttp import web
from grpc_health.v1 import health

from server.api.convert import PreparedSnapshot
from server.api.grpc_service import (
    OpenInterestService,
    add_health_and_reflection,
    add_open_interest_service,
    server_options,
    set_serving,
)
from server.api.history import HistoryAccess
from server.api.metrics import MetricsExposition
from server.api.rest import RestRunner, build_app
from server.api.stream import LIMITS as STREAM_LIMITS
from server.bus.codec import Frame
from server.bus.connection import BusConnection
from server.bus.follower import BusFollower
from server.bus.publisher import BusPublisher
from server.bus.replica import Built
from server.config import Config
from server.core.hub import SnapshotHub
from server.core.metrics import Metrics, SourceSample
from server.core.model import Snapshot
from server.core.readings import LatestReadings
from server.core.signals import Settings as SignalSettings
from server.core.sources import SOURCE_IDS, SourceRecord, SourceState, SourceStatusView
from server.history.model import HistoryStore
from server.history.reader import StoreReader
from server.history.recorder import HistoryRecorder
from server.history.sqlite import HistoryInUse
from server.history.stores import DEFAULT_FILE, open_store
from server.poll.http import HostRouter
from server.poll.poller import VenuePoller
from server.poll.status import SourceStatus
from server.preflight import StartupError, TlsMaterial, bind, check_bindable, host_port, load_tls
from server.signals.seed import seed as seed_signals
from server.sim.server import SimCluster
from server.venues import REGISTRY
from server.venues.base import VenueSpec

if TYPE_CHECKING:
    from server.core.signal_book import SignalBook

log = logging.getLogger("oi.app")

STALENESS_TICK_S: Final = 0.5  # how often a silent source is checked for staleness
REST_SHUTDOWN_S: Final = 1.0  # in-flight REST answers are prebuilt bytes: 1 s is plenty


def _source_order(source: str) -> int:
    return SOURCE_IDS.index(source) if source in SOURCE_IDS else len(SOURCE_IDS)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def report_task_end(task: asyncio.Task[None]) -> None:
    """Log a long-lived task that ended with an error, when it ends (not only at shutdown)."""
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        log.error("task %s ended: %s: %s", task.get_name(), type(error).__name__, error, exc_info=error)


def proxies_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``HTTPS_PROXY`` or ``HTTP_PROXY`` (any case) is set: then the venue session takes
    them and ``NO_PROXY`` from the environment, as curl and pip do. Only then: aiohttp's
    ``trust_env`` looks the proxy (and ``~/.netrc``) up again in a thread for every request, about
    0.45 ms of CPU each, which a poll cycle of a thousand requests without a proxy need not pay."""
    variables = os.environ if environ is None else environ
    return any(variables.get(name) for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"))


def history_name(spec: str, data_dir: Path) -> str:
    """``--history`` as logs and the status show it: the default file spelt out, and never a
    PostgreSQL password."""
    text = spec.strip()
    if not text:
        return f"sqlite:///{data_dir / DEFAULT_FILE}"
    parts = urlsplit(text)
    if parts.password is not None:
        host = parts.hostname or ""
        netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return text


def signal_book(config: Config) -> SignalBook:
    """The signal windows for ``config``. Imported here, for the roles that compute them: numpy
    is ~0.1 s of a start that an api replica need not pay."""
    from server.core.signal_book import SignalBook  # noqa: PLC0415

    return SignalBook(
        SignalSettings(
            poll_interval_ms=round(config.poll_interval_s * 1000),
            oi_bands=config.oi_dead_bands,
            price_bands=config.price_dead_bands,
            crowding_threshold=config.crowding_threshold,
        )
    )


class App:
    def __init__(
        self,
        config: Config,
        *,
        clock_ms: Callable[[], int] = wall_clock_ms,
        specs: Mapping[str, VenueSpec] = REGISTRY,
    ) -> None:
        self.config = config
        self._specs = specs
        self._clock_ms = clock_ms
        # the signal windows, computed where readings arrive (an api replica serves the collector's)
        self.signals = None if config.role == "api" else signal_book(config)
        self.hub: SnapshotHub[PreparedSnapshot] = SnapshotHub(
            PreparedSnapshot(Snapshot(built_at_ms=clock_ms()))
        )
        self.role = config.role
        polls = self.role != "api"
        self.statuses = (
            {s: SourceStatus(s, poll_interval_s=config.poll_interval_s) for s in config.sources}
            if polls
            else {}
        )
        self.pollers: dict[str, VenuePoller] = {}
        self.metrics = Metrics()
        self.metrics.add_sources(self.statuses)
        self.exposition = MetricsExposition(
            self.metrics, sources=self.source_samples, snapshot_version=self.snapshot_version
        )
        self.readings = LatestReadings(
            clock_ms=clock_ms,
            on_snapshot=self._on_snapshot,
            coalesce_s=config.snapshot_coalesce_s,
        )
        self.sim: SimCluster | None = None
        self.recorder: HistoryRecorder | None = None
        self.history_reader: StoreReader | None = None
        # the bus (API.md section 9): a collector publishes, an api replica follows
        self.bus: BusConnection | None = None
        self.publisher: BusPublisher | None = None
        self.follower: BusFollower | None = None
        if self.role != "all" and config.bus is not None:
            self.bus = BusConnection(config.bus, bucket=config.bus_bucket, name=f"oi-{self.role}")
            self.metrics.bus_connected = lambda: self.bus is not None and self.bus.connected
            if self.role == "collector":
                self.publisher = BusPublisher(
                    self.bus, clock_ms=clock_ms, records=self.source_records, metrics=self.metrics
                )
            else:
                self.follower = BusFollower(
                    self.bus, clock_ms=clock_ms, on_built=self._on_built, metrics=self.metrics
                )
                self.metrics.track_bus_lag()
        self.grpc_port = 0
        self.http_port = 0
        self._session: aiohttp.ClientSession | None = None
        self._grpc: grpc.aio.Server | None = None
        self._health: health.aio.HealthServicer | None = None
        self._rest: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._health_task: asyncio.Task[None] | None = None
        self._serving = False
        self._stopping = False

    def source_views(self) -> list[SourceStatusView]:
        """Every polled source's status, in configuration order (on a replica: as the collector
        published them, judged by this replica's clock)."""
        now = self._clock_ms()
        if self.follower is not None:
            state = self.follower.state
            return [
                record.view(now_ms=now, stale_after_ms=state.stale_after_ms.get(s, self._default_stale_ms()))
                for s, record in sorted(state.records.items(), key=lambda item: _source_order(item[0]))
            ]
        return [
            status.view(now_ms=now, stale_after_ms=self._stale_after_ms(s))
            for s, status in self.statuses.items()
        ]

    def snapshot_version(self) -> int:
        """The version served (a replica: the collector's version it holds, the same on every
        replica, so ``oi_snapshot_version`` shows which replicas are behind)."""
        return self.follower.state.version if self.follower is not None else self.hub.version

    def source_records(self) -> list[SourceRecord]:
        """What a collector publishes of each source."""
        return [status.record() for status in self.statuses.values()]

    def source_samples(self) -> list[SourceSample]:
        """What ``GET /metrics`` shows of each source: up while its figures count (ok, degraded)."""
        return [
            SourceSample(
                source=view.source,
                up=view.state in (SourceState.OK, SourceState.DEGRADED),
                last_success_ms=view.last_success_ms,
                markets=view.markets,
                readings_rejected=view.readings_rejected,
            )
            for view in self.source_views()
        ]

    def _stale_after_ms(self, source: str) -> int:
        poller = self.pollers.get(source)
        if poller is not None:
            return poller.stale_after_ms
        return self._default_stale_ms()

    def _default_stale_ms(self) -> int:
        return int(3 * self.config.poll_interval_s * 1000)

    # --- snapshots and health ------------------------------------------------------------------

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        started = time.perf_counter()
        # once per snapshot, for the symbols that changed (readings arrive only where it exists)
        changes = self.signals.observe(snapshot) if self.signals is not None else {}
        prepared = PreparedSnapshot(snapshot, previous=self.hub.latest, changes=changes)
        self.metrics.snapshot_built(time.perf_counter() - started)
        version = self.hub.publish(prepared)
        if self.publisher is not None:
            counted = self.readings.counted()
            self.publisher.offer(
                Frame(
                    version=version,
                    built_at_ms=snapshot.built_at_ms,
                    readings=counted,
                    stale_after_ms={s: self.readings.stale_after_ms[s] for s in counted},
                    changes=dict(changes),
                    symbols=len(snapshot.symbols),
                )
            )
        self._health_follows(bool(self.readings.fresh_sources()))

    def _on_built(self, built: Built) -> None:
        """A replica's snapshot, built from the bus: prepared and published as a collector's own."""
        started = time.perf_counter()
        prepared = PreparedSnapshot(built.snapshot, previous=self.hub.latest, changes=built.changes)
        self.metrics.snapshot_built(time.perf_counter() - started)
        self.hub.publish(prepared)
        assert self.follower is not None
        self._health_follows(bool(self.follower.state.fresh_sources(self._clock_ms())))

    def _health_follows(self, serving: bool) -> None:
        if serving != self._serving and self._health is not None:
            self._serving = serving
            # one task at a time, kept until the next flip: flapping sources must not grow a list
            self._health_task = asyncio.create_task(self._set_health(serving), name="health")

    async def _set_health(self, serving: bool) -> None:
        if self._health is None:
            return
        await set_serving(self._health, serving)
        log.info("health %s", "SERVING" if serving else "NOT_SERVING")

    async def _staleness_ticks(self) -> None:
        while True:
            await asyncio.sleep(STALENESS_TICK_S)
            if self.follower is not None:
                self.follower.expire()
                self._health_follows(bool(self.follower.state.fresh_sources(self._clock_ms())))
            else:
                self.readings.expire()

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Check, then start everything; on any failure stop what was started and raise
        ``StartupError`` (one line for the user), so nothing is left listening or polling."""
        config = self.config
        # checked before anything starts: every common mistake fails here, with nothing to undo
        tls = None
        if config.tls_cert is not None and config.tls_key is not None:
            tls = load_tls(config.tls_cert, config.tls_key)
        check_bindable(config.host, config.grpc_port, what="gRPC", port_flag="--grpc-port")
        rest_sockets = bind(config.host, config.http_port, what="REST", port_flag="--http-port")
        try:
            if config.simulate and config.sim_control_port:
                check_bindable(
                    "127.0.0.1",
                    config.sim_control_port,
                    what="simulator control",
                    port_flag="--sim-control-port",
                )
            await self._start_parts(tls, rest_sockets)
        except BaseException as error:
            await self._undo_start()
            for sock in rest_sockets:  # those no site took yet
                sock.close()
            if isinstance(error, OSError):  # a race with another process, or a cause not foreseen
                raise StartupError(str(error.strerror or error)) from None
            raise
        log.info(
            "oi-server ready",
            extra={
                "role": config.role,
                "grpc_port": self.grpc_port if self._grpc is not None else None,
                "http_port": self.http_port,
                "host": config.host,
                "tls": tls is not None,
                "sources": ",".join(self.statuses) or None,
                "bus": config.bus,
                "simulate": config.simulate,
                "sim_control": self.sim.control_url if self.sim else None,
                "sim_venues": ",".join(f"{k}={v}" for k, v in self.sim.urls.items()) if self.sim else None,
            },
        )

    async def _start_parts(self, tls: TlsMaterial | None, rest_sockets: list[socket.socket]) -> None:
        config = self.config
        if self.bus is not None:
            self._tasks.append(asyncio.create_task(self.bus.run(), name="bus-connect"))
        if self.role != "api":
            await self._start_polling()
            history = await self._start_history()
        else:
            history = await self._start_history_reader()
        if self.role != "collector":
            await self._start_grpc(tls, history)
        rest_app = build_app(
            self.hub,
            self.source_views,
            ready=self.ready,
            cors_origins=config.cors_origins,
            history=history,
            metrics=self.exposition,
            operations_only=self.role == "collector",
        )
        if STREAM_LIMITS in rest_app:
            stream_limits = rest_app[STREAM_LIMITS]
            stream_limits.max_streams = config.max_watch_streams  # event streams: their own count
            self.metrics.count_watch_streams(lambda: stream_limits.open)
        self._rest = RestRunner(
            rest_app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=REST_SHUTDOWN_S,
        )
        await self._rest.setup()
        context = tls.context if tls is not None else None
        for sock in rest_sockets:
            await web.SockSite(self._rest, sock, ssl_context=context).start()
        self.http_port = int(rest_sockets[0].getsockname()[1])

        if self.publisher is not None:
            await self._take_over()
            self._tasks.append(asyncio.create_task(self.publisher.run(), name="bus-publish"))
        if self.follower is not None:
            self._tasks.append(asyncio.create_task(self.follower.run(), name="bus-follow"))
        for source, poller in self.pollers.items():
            self._tasks.append(asyncio.create_task(poller.run(), name=f"poll-{source}"))
        self._tasks.append(asyncio.create_task(self._staleness_ticks(), name="staleness"))
        for task in self._tasks:
            task.add_done_callback(report_task_end)

    async def _start_polling(self) -> None:
        """The simulator (with ``--simulate``), the venue session and one poller per source."""
        config = self.config
        overrides: dict[str, str] = {}
        if config.simulate:
            self.sim = SimCluster(
                venues=config.sources,
                control_port=config.sim_control_port,
                seed=config.sim_seed,
                full_scale=config.sim_full_scale,
            )
            await self.sim.start()
            overrides.update(self.sim.urls)
        overrides.update(config.venue_urls)

        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=200, limit_per_host=16, ttl_dns_cache=300),
            headers={
                "User-Agent": "oi-service/0.1 (+open-interest aggregator)",
                "Accept-Encoding": "gzip, deflate",
            },
            trust_env=proxies_configured(),
        )
        for source in config.sources:
            spec = self._specs[source]
            urls = spec.live_urls()
            if source in overrides:  # a mirror, proxy or simulator stands in for every host of the venue
                urls = dict.fromkeys(urls, overrides[source])
            self.pollers[source] = VenuePoller(
                spec,
                fetch=HostRouter(
                    self._session, urls, timeout_s=config.request_timeout_s, max_bytes=config.max_body_bytes
                ),
                interval_s=config.poll_interval_s,
                status=self.statuses[source],
                submit=self.readings.accept,
                clock_ms=self._clock_ms,
                metrics=self.metrics,
            )

    async def _start_grpc(self, tls: TlsMaterial | None, history: HistoryAccess) -> None:
        config = self.config
        self._grpc = grpc.aio.server(options=server_options(config.max_watch_streams))
        self.service = OpenInterestService(
            self.hub, self.source_views, max_watch_streams=config.max_watch_streams, history=history
        )
        add_open_interest_service(self._grpc, self.service, self.metrics)
        self._health = add_health_and_reflection(self._grpc)
        await set_serving(self._health, False)
        address = host_port(config.host, config.grpc_port)
        try:
            if tls is not None:
                credentials = grpc.ssl_server_credentials([(tls.key_pem, tls.cert_pem)])
                self.grpc_port = self._grpc.add_secure_port(address, credentials)
            else:
                self.grpc_port = self._grpc.add_insecure_port(address)
        except RuntimeError:  # checked free a moment ago: another process took it since
            raise StartupError(f"gRPC could not listen on {address} (--grpc-port)") from None
        await self._grpc.start()

    async def _take_over(self) -> None:
        """A collector continues from what the bus holds: the readings it last published (with
        their true fetch times: stale ones drop out by the usual rule) and its version numbers,
        so replicas see no dip in the totals and no version going back."""
        assert self.publisher is not None
        state = await self.publisher.load()
        if state is None or state.meta is None:
            return
        self.hub.skip_to(state.meta.version)
        ours = {s: r for s, r in state.readings.items() if s in self.statuses}
        if ours:
            self.readings.restore(ours, {s: state.stale_after_ms[s] for s in ours})
        log.info(
            "took over from the bus",
            extra={"version": state.meta.version, "readings": ",".join(sorted(ours))},
        )

    def _history_store(self) -> HistoryStore | None:
        """The store ``--history`` names, not yet opened (None: off, said in the log)."""
        try:
            store = open_store(self.config.history, self.config.data_dir)
        except ValueError as error:
            raise StartupError(str(error)) from None
        if store is None:
            log.info("history off (--history none)")
        return store

    async def _start_history_reader(self) -> HistoryAccess:
        """A replica reads the collector's history (``--history postgresql://…``), never writes."""
        config = self.config
        store = self._history_store()
        if store is None:
            return HistoryAccess()
        self.history_reader = StoreReader(
            store, describe=history_name(config.history, config.data_dir), clock_ms=self._clock_ms
        )
        await self.history_reader.start()
        return HistoryAccess(self.history_reader, self.history_reader.status_json)

    async def _start_history(self) -> HistoryAccess:
        """The recorder over ``--history`` (off for ``none``). A store that cannot be reached
        does not stop the start: history answers 503 until it can; a file another process
        holds does (two recorders would write over each other)."""
        config = self.config
        store = self._history_store()
        if store is None:
            return HistoryAccess()
        describe = history_name(config.history, config.data_dir)
        self.recorder = HistoryRecorder(
            store,
            self.hub,
            self._clock_ms,
            describe=describe,
            retention_ms=config.history_retention_ms,
            sample_every_s=config.history_sample_s,
            fatal=(HistoryInUse,),
            on_write=lambda seconds, ok: self.metrics.history_write(seconds, ok=ok),
        )
        try:
            await self.recorder.start()
        except HistoryInUse as error:
            self.recorder = None
            raise StartupError(f"--history {describe}: {error}") from None
        # the signal windows from what was recorded: a restarted service has them at once
        if self.signals is not None:
            seeded = await seed_signals(self.signals, store, self._clock_ms())
            log.info("signal windows seeded", extra={"values": seeded})
        return HistoryAccess(self.recorder, self.recorder.status_json)

    async def _undo_start(self) -> None:
        """Stop what a failed ``start`` had started, quietly: the caller reports the one cause."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._grpc is not None:
            with contextlib.suppress(Exception):
                await self._grpc.stop(0)
        if self._rest is not None:
            with contextlib.suppress(Exception):
                await self._rest.cleanup()
        if self._session is not None:
            await self._session.close()
        if self.sim is not None:
            with contextlib.suppress(Exception):
                await self.sim.stop()
        if self.recorder is not None:
            with contextlib.suppress(Exception):
                await self.recorder.stop()
            self.recorder = None
        await self._close_bus_and_reader()
        self._grpc = self._rest = self._session = self._health = self.sim = None

    async def _close_bus_and_reader(self) -> None:
        if self.bus is not None:
            with contextlib.suppress(Exception):
                await self.bus.close()
        if self.history_reader is not None:
            await self.history_reader.stop()
            self.history_reader = None

    def ready(self) -> bool:
        """``/readyz``: a snapshot with data is held and shutdown has not begun (a replica: a
        complete snapshot from the bus, even if its sources have aged out since)."""
        if self.follower is not None:
            return not self._stopping and self.follower.built
        return not self._stopping and bool(self.hub.latest.rows)

    async def stop(self) -> None:
        """Shut down in order; completes whatever any task did (a task that ended with an error
        was logged when it ended and does not keep the hub, gRPC or REST from closing)."""
        self._stopping = True
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._health_task is not None:
            await asyncio.gather(self._health_task, return_exceptions=True)
            report_task_end(self._health_task)
        if self.recorder is not None:  # pollers are stopped: the open minute is final; flush it
            await self.recorder.stop()
        self.readings.close()
        self.hub.close()  # every watch stream ends
        if self._grpc is not None:
            await self._stop_grpc(self._grpc)
        if self._rest is not None:
            await self._rest.cleanup()
        if self._session is not None:
            await self._session.close()
        if self.sim is not None:
            await self.sim.stop()
        await self._close_bus_and_reader()
        log.info("oi-server stopped")

    async def _stop_grpc(self, server: grpc.aio.Server) -> None:
        """Stop gRPC within the shutdown grace, once the watch streams have sent their final
        status (``OpenInterestService.watches_finished`` says why that comes first)."""
        grace = self.config.shutdown_grace_s
        started = time.monotonic()
        unfinished = await self.service.watches_finished(grace)  # set up with the server
        if unfinished:
            log.warning(
                "watch streams not ended within the shutdown grace; gRPC cancels them",
                extra={"streams": unfinished, "grace_s": grace},
            )
        await server.stop(max(0.0, grace - (time.monotonic() - started)))
