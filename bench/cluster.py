"""Section 9, scale-out: one collector, NATS JetStream, api replicas, against ``--role all``.

Every server runs in its own process, on the NATS at ``OI_BENCH_NATS_URL`` (default
127.0.0.1:4222) in a bucket of this run's own, deleted afterwards: ``oi-server`` as a user runs it,
or, where a figure needs an instant from inside, ``bench/busprobe.py`` (the same ``App`` from the
same flags, its start-up heap frozen as ``oi-server`` does).
The collector and the standalone simulator run on one core, the server under test (a replica, or
the single process) on the other (``common.pin``), as on separate machines; the load generators
share the collector's core. Four measurements, each against the issue's target:

1. Bus lag at full scale (``oi-sim --full-scale`` in its own process: 18 venues, ~4,883 markets,
   ~745 symbols; the collector polls it every 1 s). The replica is ``bench/busprobe.py``: the
   service's ``App`` in a process of its own, whose hub is watched from the same event loop, so
   each sample is exact: the collector's publish instant (in the ``snapshot`` record) to the
   moment the rebuilt snapshot is served (readings decoded, aggregated, responses prepared). The
   replica's own ``oi_bus_lag_seconds`` histogram over the same window is shown beside it; it is
   observed when the record arrives, before the build, and gives bucket bounds only.
2. Replica cold start with the bucket holding the full-scale state (the collector still
   running): process spawn → ``/readyz`` 200 of ``oi-server --role api`` (polled every 5 ms), and
   ``App.start`` → ready inside the probe, with spawn → imports done beside it; wall time, and the
   replica process's CPU time, which a busy machine does not inflate. Python's bytecode is cached
   as for an installed package (a folder of the run's own); where the machine caches none
   (``PYTHONDONTWRITEBYTECODE``), starts compiling every module are timed too.
3. Freshness through collector, bus and replica: section 5's method (``bench/freshness.py``),
   its subscriber on a replica, its simulator inside the collector (default scale, 1 s polls).
4. Serving: a replica and ``--role all`` (both polling/following the same standalone simulator
   every 5 s, both probes) under section 1's unary load (all symbols, 64 in flight, rounds
   alternating) and section 3a's watch streams (all symbols; one server at a time, in windows
   ordered all, replica, replica, all, so a drift in the shared machine's load falls on both;
   the other server paused during a window, see ``paused``),
   measured in the same run; the ratio is replica/all. Publications are the servers' own
   snapshots, and each has two delays:

   - the *fan-out delay* (judged): from the instant the serving process publishes the snapshot
     to its hub (``--role all``: once it has built and prepared it; a replica: once it has
     rebuilt and prepared it from the bus) to each stream's receipt. The probe notes that
     instant by the wall clock, keyed by the timestamp the messages carry, and the watchers
     process reads the same clock. This is the replica's own watch figure, measured the same way
     for both roles, with no change to the server, the proto or REST. The first receipt among
     the streams would serve as a client-side proxy, but it drops the wake → first write part of
     the fan-out and moves with the watchers process's own scheduling (it shares a core with
     the collector and the simulator); the hub's instant is exact.
   - the *end-to-end delay* (shown, not judged): from the snapshot's build instant (the
     timestamp in the message: the collector's, for a replica) to receipt. A replica's carries
     the bus lag and its rebuild, which measurement 1 times against its own target.

   "Within 10 %" is judged on what the replica itself does: every publication delivered to
   every stream, fan-out delay p50 and p99, CPU per publication and memory per stream at most
   1.1× ``--role all``'s, and unary requests/s at least 0.9×. Memory per stream is the growth of
   the bytes the server's allocators hand out (told by the probe), from before the streams to
   with them open: the RSS growth, shown beside, is only what the free heap left by the
   process's earlier work could not hold, and its replica/all ratio went from 0.8× to 1.3× over
   runs of the same code where that of the bytes in use stayed within 3 %.

Quick mode: the simulator at default scale (20 coins), 1 s polls throughout, token sizes. Without
NATS the section says why and measures nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import aiohttp
import nats
import psutil

from bench import freshness
from bench.common import (
    LOAD_CPU,
    SERVER_CPU,
    Child,
    Figure,
    Section,
    Server,
    child,
    fmt_int,
    fmt_kb,
    fmt_ms,
    fmt_pct,
    fmt_ratio,
    judged,
    oi_server,
    percentile,
    pin,
    ratio_of,
    stop,
)
from bench.fanout import FanoutRun, Published, pooled, watch_figures
from bench.frontdoors import IN_FLIGHT, Series, Target, measure
from bench.pollcost import start_simulator

BUS: Final = os.environ.get("OI_BENCH_NATS_URL", "nats://127.0.0.1:4222")
LAG_POLL_S: Final = 1.0
SERVE_POLL_S: Final = 5.0  # serving: both servers poll or follow; 1 s would make polling the load
READY_POLL_S: Final = 0.005
FULL_WAIT_S: Final = 90.0  # every source polled once (Binance's per-market calls are paced: ~25 s)
LAG_TARGET_S: Final = 0.050
COLD_TARGET_S: Final = 1.0
RATIO_TARGET: Final = 0.9  # "within 10 %": a rate at least 0.9× --role all's
WITHIN: Final = 1.1  # "within 10 %": a delay or a cost at most 1.1× --role all's
# watch windows, one server at a time, in an order that cancels a drift in the machine's load
WATCH_ORDER: Final = ("all", "replica", "replica", "all")


@dataclass(frozen=True, slots=True, kw_only=True)
class Sizes:
    lag_warm_s: float  # after every source delivered once (the catalog cycle): not sampled
    lag_s: float
    cold_repeats: int
    trials: int  # freshness: simulator steps, the window after each, the warm-up
    trial_window_s: float
    trial_warm_s: float
    unary_rounds: int
    unary_s: float
    streams: int
    watch_s: float
    stragglers_s: float  # after a watch window: the last publication's stragglers


QUICK: Final = Sizes(
    lag_warm_s=0.5,
    lag_s=1.5,
    cold_repeats=1,
    trials=1,
    trial_window_s=2.0,
    trial_warm_s=1.0,
    unary_rounds=1,
    unary_s=0.5,
    streams=20,
    watch_s=1.0,
    stragglers_s=0.5,
)
FULL: Final = Sizes(
    lag_warm_s=5.0,
    lag_s=20.0,
    cold_repeats=5,
    trials=10,
    trial_window_s=freshness.TRIAL_WINDOW_S,
    trial_warm_s=4.0,
    unary_rounds=5,
    unary_s=3.0,
    streams=1000,
    watch_s=5.0,  # per window: two windows a server
    stragglers_s=2.0,
)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# --- NATS ---------------------------------------------------------------------------------------


async def nats_problem(url: str) -> str | None:
    """Why the benchmark cannot run on ``url`` (unreachable, no JetStream), or None."""
    try:
        nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False)
    except Exception as error:  # any failure is the reason to report
        return f"NATS not reachable at {url}: {type(error).__name__}: {error}"
    try:
        await nc.jetstream().account_info()
    except Exception as error:
        return f"NATS at {url} has no JetStream: {type(error).__name__}: {error}"
    finally:
        await nc.close()
    return None


@contextlib.asynccontextmanager
async def bucket(url: str) -> AsyncIterator[str]:
    """A key-value bucket name of this run's own; the bucket is deleted afterwards."""
    name = f"oi_bench_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False)
        try:
            with contextlib.suppress(Exception):  # never created: nothing to delete
                await nc.jetstream().delete_key_value(name)
        finally:
            await nc.close()


# --- the processes ------------------------------------------------------------------------------


def bus_flags(name: str) -> tuple[str, ...]:
    return ("--bus", BUS, "--bus-bucket", name, "--history", "none")


def replica_flags(name: str) -> tuple[str, ...]:
    return ("--role", "api", *bus_flags(name), "--grpc-port", "0", "--http-port", "0")


def venue_flags(urls: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(flag for venue, url in urls.items() for flag in ("--venue-url", f"{venue}={url}"))


def collector(name: str, poll_s: float, *source: str) -> contextlib.AbstractAsyncContextManager[Server]:
    """A collector polling ``source`` (``--venue-url``s, or ``--simulate``) on the load core."""
    return oi_server(
        "--role",
        "collector",
        *bus_flags(name),
        *source,
        "--poll-interval",
        f"{poll_s:g}",
        "--http-port",
        "0",
        cpu=LOAD_CPU,
    )


async def ready(http: aiohttp.ClientSession, port: int, timeout_s: float = 60.0) -> None:
    """Until ``/readyz`` answers 200."""
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                if response.status == 200:
                    return
        if time.monotonic() > deadline:
            raise RuntimeError(f"port {port}: not ready within {timeout_s:g} s")
        await asyncio.sleep(READY_POLL_S)


async def sources_polled(http: aiohttp.ClientSession, port: int) -> int:
    """How many sources have delivered at least once, as ``/v1/sources`` says."""
    async with http.get(f"http://127.0.0.1:{port}/v1/sources") as response:
        if response.status != 200:
            return 0
        data = (await response.json())["data"]
    return sum(1 for status in data.values() if status["last_success"] is not None)


async def all_polled(http: aiohttp.ClientSession, ports: Sequence[int], sources: int) -> None:
    """Until every server at ``ports`` holds a reading of every source (at most FULL_WAIT_S)."""
    deadline = time.monotonic() + FULL_WAIT_S
    for port in ports:
        await ready(http, port, FULL_WAIT_S)
        while True:
            polled = await sources_polled(http, port)
            if polled >= sources or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)


# --- 1 and 2: bus lag and cold start ------------------------------------------------------------


@dataclass(slots=True)
class Lag:
    exact_s: list[float] = field(default_factory=list)  # publish → the rebuilt snapshot served
    arrival_s: list[float] = field(default_factory=list)  # publish → the record received
    histogram: list[tuple[str, int]] = field(default_factory=list)  # (le, cumulative count)
    gc_pauses_s: list[tuple[float, float]] = field(default_factory=list)  # full collections: wall, CPU
    cpu_share: float = 0.0
    seconds: float = 0.0
    held: dict[str, int] = field(default_factory=dict)  # sources, markets, symbols


@dataclass(slots=True)
class ColdStart:
    spawn_to_ready_s: Figure = field(default_factory=Figure)  # bytecode cached, as installed
    spawn_to_ready_cpu_s: Figure = field(default_factory=Figure)  # the replica process's CPU
    uncompiled_s: Figure = field(default_factory=Figure)  # as this machine runs it, when it caches none
    uncompiled_cpu_s: Figure = field(default_factory=Figure)
    start_to_ready_s: Figure = field(default_factory=Figure)
    start_to_ready_cpu_s: Figure = field(default_factory=Figure)
    spawn_to_main_s: Figure = field(default_factory=Figure)
    spawn_to_main_cpu_s: Figure = field(default_factory=Figure)
    held: list[int] = field(default_factory=list)  # symbols held at each probe's ready


async def sample_lag(probe: Child, sizes: Sizes) -> Lag:
    lag = Lag()
    await probe.send(f"lag {sizes.lag_warm_s}")  # the first cycles: catalogs, every reading new
    await probe.read(sizes.lag_warm_s + 30)
    await probe.send(f"lag {sizes.lag_s}")
    found = await probe.read(sizes.lag_s + 30)
    await probe.send("held")
    lag.held = {k: int(v) for k, v in (await probe.read(30)).items()}  # type: ignore[call-overload]
    exact, histogram, pauses = found["lag_s"], found["histogram"], found["gc_full_s"]
    assert isinstance(exact, list) and isinstance(histogram, list) and isinstance(pauses, list)
    lag.exact_s = [float(v) for v in exact]
    lag.arrival_s = [float(v) for v in found["arrival_s"]]  # type: ignore[attr-defined]
    lag.histogram = [(str(le), int(count)) for le, count in histogram]
    lag.gc_pauses_s = [(float(wall), float(cpu)) for wall, cpu in pauses]
    lag.seconds = float(found["seconds"])  # type: ignore[arg-type]
    lag.cpu_share = float(found["cpu_s"]) / lag.seconds  # type: ignore[arg-type]
    return lag


async def spawn_to_ready(
    http: aiohttp.ClientSession, name: str, env: Mapping[str, str], wall: Figure, cpu: Figure
) -> None:
    """``oi-server --role api`` from process spawn to ``/readyz`` 200: wall time, and the
    process's CPU time by then."""
    began = time.monotonic()
    async with oi_server(*replica_flags(name), cpu=SERVER_CPU, env=env) as replica:
        await ready(http, replica.port("http"))
        wall.add(time.monotonic() - began)
        times = psutil.Process(replica.pid).cpu_times()
        cpu.add(times.user + times.system)


async def probe_start(name: str, env: Mapping[str, str], cold: ColdStart | None) -> None:
    """A probe replica's cold start: spawn → imports done, and App.start → ready inside it."""
    began = time.time()
    async with child("bench.busprobe", *replica_flags(name), cpu=SERVER_CPU, env=env) as probe:
        if cold is not None:
            said = {key: float(value) for key, value in probe.ready.items()}  # type: ignore[arg-type]
            cold.spawn_to_main_s.add(said["main_at"] - began)
            cold.spawn_to_main_cpu_s.add(said["main_cpu_s"])
            cold.start_to_ready_s.add(said["ready_s"])
            cold.start_to_ready_cpu_s.add(said["ready_cpu_s"])
            cold.held.append(round(said["symbols"]))


async def cold_starts(http: aiohttp.ClientSession, name: str, sizes: Sizes, quick: bool) -> ColdStart:
    """Replicas started one after another while the collector runs. Python's bytecode is cached
    (in a folder of this run's own, filled by a first, unmeasured start of each kind), as for an
    installed package; where this machine caches none (PYTHONDONTWRITEBYTECODE), starts as it
    runs them, compiling every module, are timed too."""
    cold = ColdStart()
    with tempfile.TemporaryDirectory(prefix="oi-bench-pyc-") as cache:
        cached = {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": cache}
        if not quick:  # quick mode times the starts that fill the cache
            await spawn_to_ready(http, name, cached, Figure(), Figure())
            await probe_start(name, cached, None)
        for _ in range(sizes.cold_repeats):
            await spawn_to_ready(http, name, cached, cold.spawn_to_ready_s, cold.spawn_to_ready_cpu_s)
            await probe_start(name, cached, cold)
            if os.environ.get("PYTHONDONTWRITEBYTECODE") and not quick:
                await spawn_to_ready(http, name, {}, cold.uncompiled_s, cold.uncompiled_cpu_s)
    return cold


async def measure_lag(urls: Mapping[str, str], sizes: Sizes, quick: bool) -> tuple[Lag, ColdStart]:
    """The collector polls the full-scale simulator every LAG_POLL_S: the bus lag sampled in a
    probe replica, then replicas started against the bucket it keeps full."""
    async with (
        bucket(BUS) as name,
        collector(name, LAG_POLL_S, *venue_flags(urls)),
        aiohttp.ClientSession() as http,
    ):
        async with child(
            "bench.busprobe", *replica_flags(name), cpu=SERVER_CPU, ready_timeout_s=FULL_WAIT_S
        ) as probe:
            await all_polled(http, [int(probe.ready["http_port"])], len(urls))  # type: ignore[call-overload]
            lag = await sample_lag(probe, sizes)
        return lag, await cold_starts(http, name, sizes, quick)


def lag_rows(section: Section, lag: Lag, quick: bool) -> None:
    held = lag.held
    samples = f"{len(lag.exact_s)} versions in {lag.seconds:.0f} s"
    where = (
        f"{held.get('sources', 0)} venues, {held.get('markets', 0):,} markets, {held.get('symbols', 0):,} "
        f"symbols, {LAG_POLL_S:g} s polls; {samples}"
    )
    section.row(
        "bus lag p50 / p99 / max: collector publish → replica has the record (oi_bus_lag_seconds)",
        " / ".join(fmt_ms(v) for v in _spread(lag.arrival_s)),
        "–",
        "–",
        where,
    )
    section.row(
        "… → replica serves the rebuilt snapshot (decode, aggregate, prepare included)",
        " / ".join(fmt_ms(v) for v in _spread(lag.exact_s)),
        "–",
        "–",
        samples,
    )
    section.row(
        "replica CPU while following the bus", fmt_pct(lag.cpu_share) + " of a core", "–", "–", samples
    )
    walls = [wall for wall, _ in lag.gc_pauses_s]
    cpus = [cpu for _, cpu in lag.gc_pauses_s]
    section.row(
        "replica's full garbage collections (gen 2): count; longest wall / CPU; CPU in all",
        f"{len(walls)}; {fmt_ms(max(walls, default=0.0))} / {fmt_ms(max(cpus, default=0.0))}; "
        f"{fmt_ms(sum(cpus))}",
        "–",
        "–",
        samples,
    )
    section.target(
        f"bus lag p99 < {fmt_ms(LAG_TARGET_S)} at full scale (publish → replica has it)",
        judged(bool(lag.arrival_s) and percentile(lag.arrival_s, 0.99) < LAG_TARGET_S, quick),
    )


def _spread(values: Sequence[float]) -> tuple[float, float, float]:
    """p50, p99, max (NaN for none)."""
    if not values:
        return math.nan, math.nan, math.nan
    return percentile(values, 0.5), percentile(values, 0.99), max(values)


def cold_rows(section: Section, cold: ColdStart, quick: bool) -> None:
    repeats = f"{len(cold.spawn_to_ready_s.values)} starts; the bucket holds {cold.held[-1]:,} symbols"

    def row(name: str, wall: Figure, cpu: Figure, conditions: str) -> None:
        section.row(name, f"{wall.show(fmt_ms)}; CPU {cpu.show(fmt_ms)}", "–", "–", conditions)

    row("cold start: process spawn → /readyz 200", cold.spawn_to_ready_s, cold.spawn_to_ready_cpu_s, repeats)
    if cold.uncompiled_s.values:
        row(
            "cold start: process spawn → /readyz 200, bytecode not cached (PYTHONDONTWRITEBYTECODE here)",
            cold.uncompiled_s,
            cold.uncompiled_cpu_s,
            "every module compiled at each start",
        )
    row(
        "cold start: App.start → ready (in the process)",
        cold.start_to_ready_s,
        cold.start_to_ready_cpu_s,
        repeats,
    )
    row(
        "cold start: process spawn → imports done (before App.start)",
        cold.spawn_to_main_s,
        cold.spawn_to_main_cpu_s,
        repeats,
    )
    section.target(
        f"replica cold start < {COLD_TARGET_S:g} s: App.start → ready",
        judged(cold.start_to_ready_s.median < COLD_TARGET_S, quick),
    )
    section.target(
        f"replica cold start < {COLD_TARGET_S:g} s: process spawn → /readyz 200 (bytecode cached)",
        judged(cold.spawn_to_ready_s.median < COLD_TARGET_S, quick),
    )


# --- 3: freshness through the bus ---------------------------------------------------------------


async def measure_freshness(sizes: Sizes) -> freshness.Found:
    """Section 5's trials with the collector's simulator stepped and the subscriber on a replica."""
    simulate = ("--simulate", "--sim-seed", "11")
    async with (
        bucket(BUS) as name,
        collector(name, freshness.POLL_INTERVAL_S, *simulate) as source,
        oi_server(*replica_flags(name), cpu=SERVER_CPU) as replica,
        aiohttp.ClientSession() as http,
    ):
        await ready(http, replica.port("http"))
        return await freshness.measure(
            str(source.ready["sim_control"]),
            f"http://127.0.0.1:{replica.port('http')}",
            f"127.0.0.1:{replica.port('grpc')}",
            trials=sizes.trials,
            window_s=sizes.trial_window_s,
            warm_s=sizes.trial_warm_s,
        )


def freshness_rows(section: Section, found: freshness.Found, quick: bool) -> None:
    cells = freshness.group_cells(found, "fast")
    conditions = f"{cells[0]}, default scale; {cells[1]} trials × sources; missed {cells[5]}"
    section.row("freshness p50: simulator step → watch on the replica", cells[2], "–", "–", conditions)
    section.row("freshness p99", cells[3], "–", "–", "section 5 measures the single process")
    section.row("freshness max", cells[4], "–", "–", "")
    section.target(
        f"freshness p99 < {freshness.TARGET_P99_S:g} s through collector, bus and replica",
        judged(found.met, quick),
    )
    if found.slow:
        section.notes.append("freshness: " + freshness.slow_note(found))


# --- 4: serving, a replica against --role all ---------------------------------------------------


@dataclass(slots=True)
class Serving:
    unary: dict[str, Series] = field(default_factory=dict)
    watch: dict[str, FanoutRun] = field(default_factory=dict)
    symbols: int = 0


def port_of(probe: Child, kind: str) -> int:
    """``grpc`` or ``http``: the port a probe's server listens on."""
    port = probe.ready[f"{kind}_port"]
    assert isinstance(port, int), probe.ready
    return port


async def watch_run(impl: str, probe: Child, sizes: Sizes) -> FanoutRun:
    result = FanoutRun(impl, sizes.streams)

    async def publish() -> Published:  # the server's own snapshots, for the window
        began = now_ms()
        await asyncio.sleep(sizes.watch_s)
        return Published(None, began, now_ms())

    async def published_at() -> dict[int, float]:  # when the probe's hub published each one
        await probe.send("published")
        found = (await probe.read(30))["published"]
        assert isinstance(found, dict)
        return {int(stamp): float(at) for stamp, at in found.items()}

    async def held() -> int | None:  # the bytes its allocators hand out
        await probe.send("memory")
        found = (await probe.read(30))["held"]
        return None if found is None else int(found)  # type: ignore[call-overload]

    await watch_figures(
        result,
        probe.pid,
        f"127.0.0.1:{port_of(probe, 'grpc')}",
        publish,
        stragglers_s=sizes.stragglers_s,
        published_at=published_at,
        held=held,
    )
    return result


@contextlib.contextmanager
def paused(pids: Iterable[int]) -> Iterator[None]:
    """The other server stopped (SIGSTOP) during a server's watch window, resumed after.

    Both share the server core. Left running, the single process's polls (18 venues parsed,
    aggregated, prepared: bursts of ~270 ms of CPU) land in the replica's windows, while the
    replica's following (a rebuild per version) costs the single process's windows far less:
    the comparison then measured the neighbour, not the server under test."""
    processes = [psutil.Process(pid) for pid in pids]
    for process in processes:
        process.suspend()
    try:
        yield
    finally:
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.resume()


async def measure_serving(urls: Mapping[str, str], sizes: Sizes, poll_s: float) -> Serving:
    """Both servers run as ``bench/busprobe.py`` (``oi-server``'s ``App`` with its flags, which
    says when its hub publishes each snapshot), on the server core, side by side."""
    found = Serving()
    venues = venue_flags(urls)
    api = ("--grpc-port", "0", "--http-port", "0", "--history", "none")
    single_flags = (*venues, "--poll-interval", f"{poll_s:g}", *api)
    async with (
        bucket(BUS) as name,
        collector(name, poll_s, *venues),
        child("bench.busprobe", *single_flags, cpu=SERVER_CPU, ready_timeout_s=FULL_WAIT_S) as single,
        child("bench.busprobe", *replica_flags(name), cpu=SERVER_CPU, ready_timeout_s=FULL_WAIT_S) as replica,
        aiohttp.ClientSession() as http,
    ):
        servers = {"all": single, "replica": replica}
        await all_polled(http, [port_of(s, "http") for s in servers.values()], len(urls))
        async with http.get(f"http://127.0.0.1:{port_of(replica, 'http')}/v1/open-interest") as response:
            found.symbols = len((await response.json())["data"])
        targets = {impl: Target(port_of(s, "grpc"), s.pid) for impl, s in servers.items()}
        found.unary = await measure(
            "grpc", "", targets, rounds=sizes.unary_rounds, duration_s=sizes.unary_s, use_wrk=False
        )
        rounds: dict[str, list[FanoutRun]] = {impl: [] for impl in servers}
        for impl in WATCH_ORDER:
            with paused(s.pid for other, s in servers.items() if other != impl):
                rounds[impl].append(await watch_run(impl, servers[impl], sizes))
        found.watch = {impl: pooled(runs) for impl, runs in rounds.items()}
    return found


def serving_rows(section: Section, found: Serving, sizes: Sizes, poll_s: float, quick: bool) -> None:
    unary, watch = found.unary, found.watch
    setting = (
        f"{found.symbols:,} symbols, {poll_s:g} s polls; {sizes.unary_rounds} rounds of {sizes.unary_s:g} s"
    )

    def pair(name: str, of: str, fmt: Callable[[float], str], conditions: str) -> Figure:
        ours, base = getattr(unary["replica"], of), getattr(unary["all"], of)
        ratio = ratio_of(ours.values, base.values)
        section.row(name, ours.show(fmt), base.show(fmt), ratio.show(fmt_ratio), conditions)
        return ratio

    rps = pair(
        f"unary GetOpenInterest all symbols, {IN_FLIGHT} in flight: requests/s", "rps", fmt_int, setting
    )
    pair("unary p50", "p50", fmt_ms, "")
    pair("unary p99", "p99", fmt_ms, "")
    pair("unary server CPU per request", "cpu_per_request_s", lambda s: f"{s * 1e6:.0f} µs", "")
    replica, single = watch["replica"], watch["all"]
    windows = WATCH_ORDER.count("replica")
    streams = f"{sizes.streams:,} all-symbols streams, {windows} windows of {sizes.watch_s:g} s a server"
    section.row(
        "watch: delivered (per publication)",
        replica.delivered.show(fmt_pct),
        single.delivered.show(fmt_pct),
        "–",
        f"{streams}; publications: replica {replica.publications}, all {single.publications}",
    )
    ratios = {
        "fan-out delay p50": replica.fanout_p50.median / single.fanout_p50.median,
        "fan-out delay p99": replica.fanout_p99.median / single.fanout_p99.median,
        "CPU per publication": replica.cpu_per_publication_s / single.cpu_per_publication_s,
        "memory per stream": replica.held_per_stream.median / single.held_per_stream.median,
    }
    if math.isnan(ratios["memory per stream"]):  # the allocators could not say: the RSS instead
        del ratios["memory per stream"]
        ratios["RSS per stream"] = replica.rss_per_stream / single.rss_per_stream

    def watched(name: str, of: str, fmt: Callable[[float], str], conditions: str) -> None:
        """A row of one watch figure per window (a ``Figure``), compared by their medians."""
        ours, base = getattr(replica, of), getattr(single, of)
        section.row(name, ours.show(fmt), base.show(fmt), fmt_ratio(ours.median / base.median), conditions)

    watched(
        "watch fan-out delay p50: the server publishes to its hub → client",
        "fanout_p50",
        fmt_ms,
        "each server's own instant (a replica: once it has rebuilt the snapshot); per publication",
    )
    watched("watch fan-out delay p99", "fanout_p99", fmt_ms, "")
    section.row(
        "watch: server CPU per publication",
        fmt_ms(replica.cpu_per_publication_s),
        fmt_ms(single.cpu_per_publication_s),
        fmt_ratio(ratios["CPU per publication"]),
        "the process's CPU over the window (polling or following included) / publications",
    )
    watched(
        "watch: memory per stream (the allocators' bytes in use)",
        "held_per_stream",
        fmt_kb,
        "glibc's heap in use + Python's small-object blocks, before the streams and with them open; "
        "per window",
    )
    section.row(
        "watch: RSS per stream",
        fmt_kb(replica.rss_per_stream),
        fmt_kb(single.rss_per_stream),
        fmt_ratio(replica.rss_per_stream / single.rss_per_stream),
        "the first window; not judged where the memory in use is known: the RSS grows by what "
        "the free heap left by earlier work cannot hold (0.8-1.3× between runs of the same code)",
    )
    watched(
        "watch delay end to end p50: snapshot built → client, the bus included",
        "p50",
        fmt_ms,
        "not judged against 10 %: a replica's runs from the collector's build, so it carries the "
        "bus lag and the rebuild (their own targets above)",
    )
    watched("watch delay end to end p99", "p99", fmt_ms, "")
    for run in (replica, single):
        if run.errors:
            section.notes.append(f"watch on {run.impl}: stream errors {run.errors}")
        if run.untimed:
            section.notes.append(f"watch on {run.impl}: {run.untimed} publications without a publish instant")
    section.target(
        f"replica requests/s ≥ {RATIO_TARGET:g}× --role all's (unary, median of paired rounds)",
        judged(rps.median >= RATIO_TARGET, quick),
    )
    delivered = all(
        min(r.delivered.values, default=0.0) >= 1.0 and r.opened == r.streams for r in (replica, single)
    )
    within = all(ratio <= WITHIN for ratio in ratios.values())  # NaN (nothing measured) is never within
    section.target(
        f"watch within 10 %: 100 % delivered; replica's {', '.join(ratios)} ≤ {WITHIN:g}× --role all's "
        "(the end-to-end delay, bus included, is not judged here)",
        judged(delivered and within, quick),
    )
    if not quick and not within:
        over = ", ".join(
            f"{name} {fmt_ratio(ratio)}" for name, ratio in ratios.items() if not ratio <= WITHIN
        )
        section.notes.append(f"watch: past {WITHIN:g}×: {over}")


# --- the section --------------------------------------------------------------------------------


async def run_cluster(quick: bool) -> Section:
    sizes = QUICK if quick else FULL
    section = Section(
        "9. Scale-out: collector → NATS JetStream → api replica",
        ("measure", "replica", "--role all (same run)", "replica / all", "conditions"),
    )
    problem = await nats_problem(BUS)
    if problem is not None:
        section.notes.append(f"skipped: {problem}")
        return section
    load_before = os.getloadavg()[0]
    simulator, urls = await start_simulator(full_scale=not quick)
    pin(simulator.pid, LOAD_CPU)
    try:
        lag, cold = await measure_lag(urls, sizes, quick)
        serve_poll_s = LAG_POLL_S if quick else SERVE_POLL_S
        serving = await measure_serving(urls, sizes, serve_poll_s)
    finally:
        await stop(simulator, grace_s=5)
    fresh = await measure_freshness(sizes)
    lag_rows(section, lag, quick)
    cold_rows(section, cold, quick)
    freshness_rows(section, fresh, quick)
    serving_rows(section, serving, sizes, serve_poll_s, quick)
    section.notes.append(
        f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, "
        f"{len(os.sched_getaffinity(0))} CPUs; figures are median (min–max) over repeats"
    )
    return section
