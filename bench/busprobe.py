"""An ``oi-server`` run in this process, so it can be timed from inside: ``python -m bench.busprobe ARGS``.

ARGS are ``oi-server``'s own flags (``--role api --bus nats://… --bus-bucket X …``, or a
``--role all`` that polls): the server is the service's ``App``, built from them as the CLI builds
it, its start-up heap frozen as ``oi-server`` freezes it. Nothing in the server is changed; the
probe watches the hub from a coroutine of the same event loop and wraps the hub's ``publish`` to
note when each snapshot is published (a dictionary entry per publication).

It prints one JSON line when the server is ready (``/readyz`` would answer 200)::

    {"main_at": unix s, "main_cpu_s": s, "start_s": App.start, "ready_s": App.start → ready,
     "ready_cpu_s": s, "symbols": n, "grpc_port": p, "http_port": p}

``main_at`` is the wall clock when this module's imports are done, so the parent can tell process
spawn and imports from the start itself; ``main_cpu_s`` is the CPU they took, ``ready_cpu_s`` the
CPU from there to ready. Then it obeys commands on stdin, one per line:

- ``lag SECONDS`` (a replica): for that long, per snapshot the replica builds from a bus version,
  the bus lag ``wake - published_at_ms``: the collector's publish instant (in the ``snapshot``
  record) to the moment the rebuilt snapshot is in the hub, prepared and served (decoding the
  readings the record counts, aggregating them and preparing the response bodies all included).
  Answers ``{"lag_s": [...], "arrival_s": [...] (publish → the record received, as
  oi_bus_lag_seconds observes it, before the build), "cpu_s": this process's CPU over the window,
  "seconds": window, "histogram": [[le, cumulative count], ...]}``, the last being the replica's
  own ``oi_bus_lag_seconds`` over the window (observed when the record arrives, before the build)
  with its ``histogram_sum_s``, and ``gc_full_s``: each full garbage collection's [wall, CPU] s.
- ``held`` (a replica): ``{"sources": n, "markets": n, "symbols": n}``, what it holds now.
- ``memory``: ``{"rss": bytes, "held": bytes or null}``: the resident size, and the bytes the
  process's allocators hand out now (``held_bytes``; null where glibc's ``mallinfo2`` is missing).
- ``published``: ``{"published": {"<timestamp ms>": unix ms}}``: for each snapshot published to
  the hub since the last ``published``, keyed by the timestamp its messages carry (its build
  instant: the collector's, for a replica), the wall-clock instant this process published it,
  the moment every watch stream is woken to send it. Then forgets them.

It stops the server and exits at stdin EOF.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import os
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Final

import psutil

from bench.common import emit, stdin_lines
from server.api.convert import PreparedSnapshot
from server.app import App
from server.cli import settle_heap
from server.config import parse_config


def wall_ms() -> float:
    return time.time_ns() / 1_000_000


class FullCollections:
    """While entered: each of this process's full (generation 2) garbage collections, its wall
    time and CPU time (the wall time counts the moments another process had the core)."""

    def __init__(self) -> None:
        self.seconds: list[tuple[float, float]] = []  # (wall, CPU)
        self._began = (0.0, 0.0)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._began = (time.perf_counter(), time.process_time())
        else:
            wall, cpu = self._began
            self.seconds.append((time.perf_counter() - wall, time.process_time() - cpu))

    def __enter__(self) -> FullCollections:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self._callback)


async def sample_lag(app: App, seconds: float) -> dict[str, object]:
    """Bus lags of the versions built within ``seconds`` (see the module docstring)."""
    follower = app.follower
    assert follower is not None and follower.state.meta is not None
    histogram = app.metrics.bus_lag
    assert histogram is not None
    before = [count for _, count in histogram.cumulative()]
    sum_before = histogram.total
    lags: list[float] = []
    arrivals: list[float] = []  # the same instants oi_bus_lag_seconds observes, exactly
    observe = app.metrics.observe_bus_lag

    def observe_and_keep(seconds: float) -> None:
        arrivals.append(seconds)
        observe(seconds)

    app.metrics.observe_bus_lag = observe_and_keep  # type: ignore[method-assign]
    pauses = FullCollections()
    cpu_before = time.process_time()
    started = time.monotonic()
    version = app.hub.version

    async def follow() -> None:
        nonlocal version
        while True:
            version, prepared = await app.hub.wait_newer(version)
            now = wall_ms()
            meta = follower.state.meta
            # a bus version (not a local rebuild that aged a source out): its snapshot is the
            # record's, built at the collector's build instant
            if meta is not None and prepared.timestamp_ms == meta.built_at_ms:
                lags.append(max(0.0, now - meta.published_at_ms) / 1000)

    try:
        with pauses, contextlib.suppress(TimeoutError):
            await asyncio.wait_for(follow(), seconds)
    finally:
        app.metrics.observe_bus_lag = observe  # type: ignore[method-assign]
    elapsed = time.monotonic() - started
    after = histogram.cumulative()
    return {
        "lag_s": lags,
        "arrival_s": arrivals,
        "cpu_s": time.process_time() - cpu_before,
        "seconds": elapsed,
        "histogram": [[le, count - was] for (le, count), was in zip(after, before, strict=True)],
        "histogram_sum_s": histogram.total - sum_before,
        "gc_full_s": pauses.seconds,
    }


class Publications:
    """The instant each snapshot reaches the hub, by the timestamp its messages carry.

    Wraps ``hub.publish`` (the app looks it up at every call, so the wrapper sees every
    publication): one clock read and one dictionary entry each. A timestamp published twice
    (never, in practice: build instants are milliseconds apart) keeps its first instant."""

    def __init__(self, app: App) -> None:
        self.at_ms: dict[int, float] = {}
        publish = app.hub.publish

        def timed(value: PreparedSnapshot) -> int:
            version = publish(value)
            self.at_ms.setdefault(value.timestamp_ms, wall_ms())
            return version

        app.hub.publish = timed  # type: ignore[method-assign]

    def take(self) -> dict[str, object]:
        """The instants noted since the last call, then forgets them."""
        found, self.at_ms = self.at_ms, {}
        return {"published": {str(stamp): at for stamp, at in found.items()}}


class _MallInfo2(ctypes.Structure):
    _fields_ = [  # glibc's struct mallinfo2, in order
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


PYMALLOC_IN_USE: Final = re.compile(rb"# bytes in allocated blocks\s*=\s*([\d,]+)")


def held_bytes() -> int | None:
    """What the process's allocators hand out now: glibc's heap in use (``mallinfo2``: blocks
    in use plus mmapped ones: gRPC core's buffers, Python's larger objects) plus the blocks of
    Python's small-object allocator in use (``sys._debugmallocstats``, which writes to the C
    stderr: caught in a file for the moment). Unlike the resident size, this does not depend on
    how much free heap earlier work left behind for new allocations to reuse. None without
    glibc's ``mallinfo2`` (2.33+). Takes a few milliseconds (it walks Python's arenas)."""
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except AttributeError:
        return None
    mallinfo2.restype = _MallInfo2
    heap = mallinfo2()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        caught.seek(0)
        found = PYMALLOC_IN_USE.search(caught.read())
    if found is None:  # Python built without its small-object allocator
        return None
    return int(heap.uordblks + heap.hblkhd) + int(found.group(1).replace(b",", b""))


def held(app: App) -> dict[str, object]:
    """What the replica holds: sources, their markets, and the symbols served."""
    assert app.follower is not None
    readings = app.follower.state.readings
    return {
        "sources": len(readings),
        "markets": sum(len(reading.markets) for reading in readings.values()),
        "symbols": len(app.hub.latest.snapshot.symbols),
    }


async def run(argv: Sequence[str], main_at: float) -> None:
    main_cpu_s = time.process_time()  # the interpreter's start and the imports
    app = App(parse_config(argv))
    publications = Publications(app)
    began = time.perf_counter()
    await app.start()
    settle_heap()  # as oi-server does
    started = time.perf_counter()
    try:
        while not app.ready():  # a replica becomes ready when it publishes its first build
            await app.hub.wait_newer(app.hub.version)
        emit(
            {
                "main_at": main_at,
                "main_cpu_s": main_cpu_s,
                "start_s": started - began,
                "ready_s": time.perf_counter() - began,
                "ready_cpu_s": time.process_time() - main_cpu_s,
                "symbols": len(app.hub.latest.snapshot.symbols),
                "grpc_port": app.grpc_port,
                "http_port": app.http_port,
            }
        )
        async for line in stdin_lines():
            words = line.split()
            if words[:1] == ["lag"]:
                emit(await sample_lag(app, float(words[1])))
            elif words[:1] == ["held"]:
                emit(held(app))
            elif words[:1] == ["memory"]:
                emit({"rss": psutil.Process().memory_info().rss, "held": held_bytes()})
            elif words[:1] == ["published"]:
                emit(publications.take())
    finally:
        await app.stop()


def main(argv: Sequence[str] | None = None) -> None:
    main_at = time.time()
    asyncio.run(run(sys.argv[1:] if argv is None else argv, main_at))


if __name__ == "__main__":
    main()
