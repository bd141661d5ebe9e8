"""Soak: the whole service in-process against the simulator, fast polls, faults on and off at random.

    python -m bench.soak --duration-s 600 --poll-interval 0.1 --seed 7 [--sources a,b] [--full-scale]

What runs for ``--duration-s`` of wall time:

- the service (``server.app.App``, simulator included) polling every ``--poll-interval`` seconds;
- a fault switcher that puts a random simulator fault (every kind in ``server/sim/faults.py``) on a
  random venue, or clears one, every ``--fault-every-s`` on average, keeping at most a third of the
  venues faulty, so the totals always have healthy venues to move them;
- a few gRPC watch streams (all symbols, two named filters, one slow reader that reads every 3 s),
  REST clients (keep-alive and one new connection per request), a gRPC unary client, and a
  channel that is opened, watched once and closed again every couple of seconds;
- a sampler, every ``--sample-every-s``: process RSS, open file descriptors, pending asyncio tasks,
  and the invariants, checked through the real front doors (see ``Checker``).

"Hours simulated" counts each poll interval as one production interval (30 s): duration / poll
interval × 30 s. Paced venues poll slower than the configured interval (their budget says so);
the summary also gives the polls each venue really completed.

Exit status 1 if an invariant was violated or a resource grew past its tolerance after warm-up.
Growth compares the first third of the post-warm-up samples with the last third, so one-time
allocations (caches, catalogs, connection pools, the first fault of each kind) do not count:

- Every resource is measured by the *median* of each third. A leak lifts every later sample, so
  it lifts the median; in-flight work (a poll's request tasks, a REST connection, a held request)
  makes single samples jump, by hundreds of tasks at full scale, and the median ignores those.
- Tasks are the *long-lived* ones: pending for longer than any request can be in flight, and not
  aiohttp's per-connection handlers (their number follows the fault mix; each connection is an
  fd, so the fd check sees them). What is left is a fixed set (pollers, tickers, watch streams,
  our own clients): its median did not move by one task in any run, busy machine or not, so the
  tolerance is 5 tasks. A task leaked per poll of a single venue passes it within two seconds.
- fds: the ones the venue pool and the simulator do not account for (``Sample.loose_fds``): every
  open fd, less the simulator's own sockets (it runs in this process, so each venue connection
  was counted twice) and less the connections the venue client pool holds by design. The pool
  holds one connection per concurrent request of a venue (8 for binance's per-market requests)
  and drops them all when a fault cancels a poll (a 429, ``down``, a huge body), so the raw
  count swung by 16 fds per venue with the fault mix, 32 with both binance venues, and a clean
  run under CPU load failed a 16-fd tolerance (first third 133, last 149). A socket nobody owns
  (a connection the pool lost track of, a failed connect not closed) is still counted, so a
  leak of one fd per fault switched on passes the tolerance of 16 within seconds.
- RSS: 24 MiB plus 5 %. CPython's allocator and the gRPC core keep arenas after bursts (a 2 MiB
  ``huge_body`` fault, a full-scale snapshot), noise of a few MiB; a leak of 1 KB per poll at
  0.1 s on 18 venues is ~90 MiB in ten minutes. A 25 s run only catches gross RSS leaks.

After ``stop()`` every task must be gone and the fds back to their count before start (plus the
few gRPC core keeps for the life of the process), and the server's watch-stream gauge must drop
to zero once every client has hung up.

The clients live in the measured process, so they must not hold memory that grows: the slow
reader keeps a fixed 64 KB HTTP/2 window (see ``Soak.watch``). What it reads is still minutes
old: conflation happens only once its receive window is full of unread messages, and the window
is drained oldest first (the summary prints "oldest on arrival" per stream).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import random
import statistics
import sys
import time
import weakref
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
import grpc
import psutil

from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.api.gen.openinterest.v1 import open_interest_pb2_grpc as pb_grpc
from server.app import App
from server.config import Config
from server.poll.status import SourceStatus
from server.sim.faults import FaultKind
from server.venues import REGISTRY

PRODUCTION_INTERVAL_S: Final = 30.0
MAX_BODY_BYTES: Final = 1024 * 1024  # every simulated body, full scale too, is well under 1 MiB
MIB: Final = 1024 * 1024
MAX_LISTED_VIOLATIONS: Final = 40  # the summary lists this many; all are counted
# gRPC core opens a few process-wide descriptors (epoll set, wake-up fds) on first use and keeps
# them: 6 on this machine for the first run in a process, 0 for every later run.
FDS_FIRST_USE: Final = 8

# loggers whose records at ERROR are invariant violations
WATCHED_LOGGERS: Final = ("oi", "grpc", "asyncio", "aiohttp")

Out = Callable[[str], None]


def _print(line: str) -> None:
    print(line, flush=True)


# --- options, samples, report ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SoakOptions:
    """One soak run. Tolerances are absolute growth from the first to the last post-warm-up third
    (see the module docstring for why each is what it is)."""

    duration_s: float
    poll_interval_s: float
    seed: int = 1
    sources: tuple[str, ...] = tuple(REGISTRY)
    full_scale: bool = False
    sample_every_s: float = 2.0
    warmup_s: float | None = None  # default: 20 % of the run, at least long_lived_s + 1
    fault_every_s: float = 1.0  # mean time between fault switches (exponentially distributed)
    max_faulty: int | None = None  # default: a third of the sources, at least 1
    watch_liveness_s: float = 5.0  # a watch stream this far behind the newest snapshot is stuck
    task_tolerance: int = 5  # long-lived tasks, see the module docstring
    fd_tolerance: int = 16
    rss_tolerance_mib: float = 24.0
    rss_tolerance_share: float = 0.05

    @property
    def warmup(self) -> float:
        if self.warmup_s is not None:
            return self.warmup_s
        return max(self.long_lived_s + 1, 0.2 * self.duration_s)

    @property
    def long_lived_s(self) -> float:
        """Longer than any request can be in flight: three tries of a poll request, each up to
        the request timeout, with the poller's backoffs or an inline Retry-After (≤ 2 s) between."""
        return 3 * self.request_timeout_s + 2.0

    @property
    def faulty_limit(self) -> int:
        if self.max_faulty is not None:
            return self.max_faulty
        return max(1, len(self.sources) // 3)

    @property
    def request_timeout_s(self) -> float:
        """Long enough that a loaded 2-core machine never times out a healthy venue; short enough
        that a ``timeout`` fault costs a handful of polls rather than a hundred."""
        return min(10.0, max(1.0, 3 * self.poll_interval_s))

    @property
    def hours_simulated(self) -> float:
        return self.duration_s / self.poll_interval_s * PRODUCTION_INTERVAL_S / 3600


@dataclass(frozen=True, slots=True)
class Sample:
    at_s: float  # since the service started
    rss_bytes: int
    fds: int  # every open fd of the process
    # fds less the simulator's sockets and the venue connections the client pool holds (see the
    # module docstring): what a leak would lift
    loose_fds: int
    tasks: int  # every pending asyncio task
    # pending at a sample ``options.long_lived_s`` earlier too, aiohttp's connection handlers aside
    long_lived_tasks: int
    polls: int
    faulty: int
    watch_streams: int  # the server's own gauge of open WatchOpenInterest streams


@dataclass(frozen=True, slots=True)
class Growth:
    name: str
    first: float  # the median of the first post-warm-up third
    last: float  # the same measure of the last third
    tolerance: float

    @property
    def grew(self) -> float:
        return self.last - self.first

    @property
    def ok(self) -> bool:
        return self.grew <= self.tolerance


@dataclass(slots=True)
class Violations:
    """Every invariant violation, counted by kind; the first few kept word for word."""

    by_kind: Counter[str] = field(default_factory=Counter)
    listed: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def add(self, kind: str, detail: str) -> None:
        self.by_kind[kind] += 1
        if len(self.listed) < MAX_LISTED_VIOLATIONS:
            self.listed.append(f"t={time.monotonic() - self.started:7.1f}s {kind}: {detail}")

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


@dataclass(slots=True, kw_only=True)
class SoakReport:
    options: SoakOptions
    samples: list[Sample]
    warm: list[Sample]  # the samples after warm-up, which the growth checks use
    growth: list[Growth]
    violations: Violations
    polls_by_source: dict[str, tuple[int, int]]  # source -> (succeeded, failed)
    faults_on: Counter[str]
    faults_off: int
    checks: Counter[str]  # how many times each invariant was actually evaluated
    streams: list[WatchStream]
    wall_s: float
    fds_before: int
    tasks_before: int
    fds_after_stop: int
    tasks_after_stop: int

    @property
    def polls(self) -> int:
        return sum(ok + failed for ok, failed in self.polls_by_source.values())

    @property
    def failures(self) -> list[str]:
        """Why the soak failed; empty when it passed."""
        reasons = [f"{n} × {kind}" for kind, n in sorted(self.violations.by_kind.items())]
        reasons += [
            f"{g.name} grew {g.grew:g} after warm-up (tolerance {g.tolerance:g})"
            for g in self.growth
            if not g.ok
        ]
        if self.tasks_after_stop > self.tasks_before:
            reasons.append(f"{self.tasks_after_stop - self.tasks_before} tasks still pending after stop()")
        if self.fds_after_stop - self.fds_before > FDS_FIRST_USE:
            reasons.append(
                f"{self.fds_after_stop - self.fds_before} more open fds after stop() than before start"
            )
        if len(self.warm) < 3:
            reasons.append(f"only {len(self.warm)} samples after warm-up: growth cannot be judged")
        return reasons

    def summary(self) -> list[str]:
        o = self.options
        first, warm0, last = self.samples[0], self.warm[0] if self.warm else self.samples[0], self.samples[-1]
        succeeded = sum(ok for ok, _ in self.polls_by_source.values())
        by_source = ", ".join(f"{s} {ok}/{ok + bad}" for s, (ok, bad) in sorted(self.polls_by_source.items()))
        lines = [
            "=== soak summary ===",
            f"wall time            {self.wall_s:.0f} s at poll interval {o.poll_interval_s:g} s, "
            f"seed {o.seed}, {len(o.sources)} sources{' (full scale)' if o.full_scale else ''}",
            f"hours simulated      {o.hours_simulated:.1f} h "
            f"(duration / poll interval × {PRODUCTION_INTERVAL_S:g} s)",
            f"polls                {self.polls} ({succeeded} succeeded)",
            f"  per source ok/all  {by_source}",
            f"faults switched      {sum(self.faults_on.values())} on, {self.faults_off} off: "
            + ", ".join(f"{k} {n}" for k, n in sorted(self.faults_on.items())),
            f"RSS MiB              start {first.rss_bytes / MIB:.1f}, "
            f"after warm-up {warm0.rss_bytes / MIB:.1f}, end {last.rss_bytes / MIB:.1f}",
            f"open fds             before start {self.fds_before}, start {first.fds}, "
            f"after warm-up {warm0.fds}, end {last.fds}, after stop {self.fds_after_stop}",
            f"  loose (see docs)   start {first.loose_fds}, after warm-up {warm0.loose_fds}, "
            f"end {last.loose_fds}",
            f"asyncio tasks        before start {self.tasks_before}, start {first.tasks}, after warm-up "
            f"{warm0.tasks}, end {last.tasks}, after stop {self.tasks_after_stop}",
            f"  long-lived (≥{o.long_lived_s:g} s)  after warm-up {warm0.long_lived_tasks}, "
            f"end {last.long_lived_tasks}",
            f"samples              {len(self.samples)} ({len(self.warm)} after {o.warmup:g} s warm-up)",
            "checks evaluated     " + ", ".join(f"{k} {n}" for k, n in sorted(self.checks.items())),
        ]
        for stream in self.streams:
            lines.append(
                f"watch {stream.name:<20} {stream.messages} messages, "
                f"oldest on arrival {stream.max_lag_s:.1f} s, reopened {stream.restarts} times"
            )
        for g in self.growth:
            lines.append(
                f"growth {g.name:<22} first third {g.first:10.1f}  last third {g.last:10.1f}  "
                f"grew {g.grew:8.1f}  tolerance {g.tolerance:6.1f}  {'ok' if g.ok else 'FAILED'}"
            )
        lines.append(f"invariant violations {self.violations.total}")
        lines += [f"  {v}" for v in self.violations.listed]
        failures = self.failures
        lines.append("RESULT: " + ("PASS" if not failures else "FAIL: " + "; ".join(failures)))
        return lines


def growth_of(warm: Sequence[Sample], options: SoakOptions) -> list[Growth]:
    """The median of each resource: first third of ``warm`` against the last."""
    third = len(warm) // 3
    if third == 0:
        return []
    head, tail = warm[:third], warm[-third:]
    rss_first = statistics.median(s.rss_bytes for s in head) / MIB
    return [
        Growth(
            "long-lived tasks (median)",
            statistics.median(s.long_lived_tasks for s in head),
            statistics.median(s.long_lived_tasks for s in tail),
            options.task_tolerance,
        ),
        Growth(
            "loose fds (median)",
            statistics.median(s.loose_fds for s in head),
            statistics.median(s.loose_fds for s in tail),
            options.fd_tolerance,
        ),
        Growth(
            "RSS MiB (median)",
            rss_first,
            statistics.median(s.rss_bytes for s in tail) / MIB,
            options.rss_tolerance_mib + options.rss_tolerance_share * rss_first,
        ),
    ]


# --- the service, counted -------------------------------------------------------------------------


class CountedStatus(SourceStatus):
    """A source status that also counts polls. The poller reports every finished poll to its
    status, so this is the one place that sees them all without touching the service's code."""

    def __init__(self, source: str, *, poll_interval_s: float) -> None:
        super().__init__(source, poll_interval_s=poll_interval_s)
        self.succeeded_polls = 0
        self.failed_polls = 0

    def succeeded(self, *, at_ms: int, markets: int, skipped_rows: int, duration_ms: int) -> None:
        super().succeeded(at_ms=at_ms, markets=markets, skipped_rows=skipped_rows, duration_ms=duration_ms)
        self.succeeded_polls += 1

    def failed(self, *, at_ms: int, error: str, duration_ms: int) -> None:
        super().failed(at_ms=at_ms, error=error, duration_ms=duration_ms)
        self.failed_polls += 1


def counted_statuses(app: App) -> dict[str, CountedStatus]:
    """Swap the app's statuses for counting ones; must run before ``app.start()`` hands them out."""
    counted = {
        source: CountedStatus(source, poll_interval_s=status.poll_interval_s)
        for source, status in app.statuses.items()
    }
    app.statuses.update(counted)
    return counted


def pooled_connections(app: App) -> int:
    """Connections the service's venue client pool holds: in use by a request, or idle for the
    next one. aiohttp keeps them in ``TCPConnector._acquired`` and ``._conns`` (no public count)."""
    session = app._session
    connector = session.connector if session is not None else None
    if not isinstance(connector, aiohttp.BaseConnector):
        return 0
    return len(connector._acquired) + sum(len(idle) for idle in connector._conns.values())


def is_connection_handler(task: asyncio.Task[Any]) -> bool:
    """aiohttp serves each open HTTP connection with one task for the connection's life. How many
    keep-alive connections the simulator and the REST site hold follows the fault mix (a ``down``
    venue has none, a timed-out request closes its own), which swings the task count by ±15;
    each such connection is also an open socket, so the fd check watches them instead."""
    return getattr(task.get_coro(), "__qualname__", "") == "RequestHandler.start"


class ErrorLog(logging.Handler):
    """Counts log records at ERROR and above of the service and of the libraries it runs on (an
    unexpected exception in a poller or a handler, a failed gRPC batch): each one is an invariant
    violation, as in the end-to-end test."""

    def __init__(self, violations: Violations) -> None:
        super().__init__(level=logging.ERROR)
        self._violations = violations

    def emit(self, record: logging.LogRecord) -> None:
        self._violations.add("service logged an error", f"{record.name}: {record.getMessage()[:200]}")


# --- invariants -----------------------------------------------------------------------------------


def cents(usd: float) -> int:
    return round(usd * 100)


class Checker:
    """The invariants, checked on real responses. Each check counts how often it ran, so a run
    where a check never got the chance (every snapshot moved mid-check) cannot pass silently."""

    def __init__(self, app: App, violations: Violations) -> None:
        self._app = app
        self.violations = violations
        self.ran: Counter[str] = Counter()

    def stale_after_ms(self, source: str) -> int:
        poller = self._app.pollers.get(source)
        return (
            poller.stale_after_ms if poller is not None else int(3 * self._app.config.poll_interval_s * 1000)
        )

    def rest_status(self, where: str, status: int, content_type: str) -> None:
        self.ran["no 5xx"] += 1
        if status >= 500:
            self.violations.add("REST 5xx", f"{where}: HTTP {status}")
        if content_type != "application/json":
            self.violations.add("REST non-JSON answer", f"{where}: HTTP {status} {content_type}")

    def all_symbols(self, where: str, body: Mapping[str, object]) -> None:
        """All-symbols body: ordered by total, each symbol reported by 1..len(sources) exchanges."""
        self.ran["all-symbols shape"] += 1
        data = body.get("data")
        if (
            body.get("status") != "ok"
            or not isinstance(data, dict)
            or not isinstance(body.get("timestamp"), int)
        ):
            self.violations.add("all-symbols shape", f"{where}: {str(body)[:200]}")
            return
        totals = [cents(v["total_oi_usd"]) for v in data.values()]
        if totals != sorted(totals, reverse=True):
            self.violations.add("all-symbols order", f"{where}: not ordered by total_oi_usd descending")
        for symbol, value in data.items():
            count = value["exchange_count"]
            if not 1 <= count <= len(self._app.config.sources):
                self.violations.add("exchange_count range", f"{where}: {symbol} exchange_count {count}")

    def one_symbol(
        self,
        where: str,
        timestamp: int,
        symbol: str,
        exchanges: Mapping[str, Mapping[str, float]],
        total: float,
    ) -> None:
        """Per-symbol figures: total equals the sum of the listed ``oi_usd`` to the cent, exchanges
        ordered by ``oi_usd``, each fresh at the snapshot's own time (API.md: 3 × its interval)."""
        self.ran["total = sum of listed venues"] += 1
        listed = [cents(e["oi_usd"]) for e in exchanges.values()]
        if cents(total) != sum(listed):
            self.violations.add(
                "total != sum of listed venues",
                f"{where} {symbol}@{timestamp}: total {total:.2f} vs sum {sum(listed) / 100:.2f} "
                f"over {len(listed)} venues",
            )
        if listed != sorted(listed, reverse=True):
            self.violations.add("exchange order", f"{where} {symbol}@{timestamp}: not ordered by oi_usd")
        if not listed:
            self.violations.add("empty symbol", f"{where} {symbol}@{timestamp}: listed with no exchanges")
        for source, figures in exchanges.items():
            age = timestamp - int(figures["updated_at"])
            self.ran["listed venues are fresh"] += 1
            if age > self.stale_after_ms(source):
                self.violations.add(
                    "stale venue listed",
                    f"{where} {symbol}@{timestamp}: {source} is {age} ms old, "
                    f"limit {self.stale_after_ms(source)} ms",
                )

    def symbol_body(
        self, where: str, body: Mapping[str, object]
    ) -> tuple[int, str, dict[str, dict[str, float]], float] | None:
        data = body.get("data")
        timestamp = body.get("timestamp")
        if body.get("status") != "ok" or not isinstance(data, dict) or not isinstance(timestamp, int):
            self.violations.add("per-symbol shape", f"{where}: {str(body)[:200]}")
            return None
        symbol, exchanges, total = data["symbol"], data["exchanges"], data["total_oi_usd"]
        self.one_symbol(where, timestamp, symbol, exchanges, total)
        return timestamp, symbol, exchanges, total

    def pb_symbol(self, where: str, timestamp: int, entry: pb.SymbolOpenInterest) -> None:
        if entry.exchange_count != len(entry.exchanges):
            self.violations.add(
                "exchange_count != listed exchanges",
                f"{where} {entry.symbol}@{timestamp}: count {entry.exchange_count}, "
                f"listed {len(entry.exchanges)}",
            )
        self.one_symbol(
            where,
            timestamp,
            entry.symbol,
            {e.exchange: {"oi_usd": e.oi_usd, "updated_at": e.updated_at} for e in entry.exchanges},
            entry.total_oi_usd,
        )


# --- clients ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class WatchStream:
    name: str
    symbols: tuple[str, ...]
    read_every_s: float = 0.0  # > 0: a slow reader that reads one message per period
    messages: int = 0
    last_timestamp: int = 0  # snapshot time of the newest message read
    last_read_s: float = 0.0  # monotonic time of the newest message read
    max_lag_s: float = 0.0  # the oldest a message was (wall clock - its snapshot time) when read
    restarts: int = 0


class Soak:
    def __init__(self, options: SoakOptions, out: Out) -> None:
        self.options = options
        self.out = out
        self.rng = random.Random(options.seed)
        self.violations = Violations()
        self.app = App(
            Config(
                simulate=True,
                grpc_port=0,
                http_port=0,
                poll_interval_s=options.poll_interval_s,
                sources=options.sources,
                sim_seed=options.seed,
                sim_full_scale=options.full_scale,
                request_timeout_s=options.request_timeout_s,
                max_body_bytes=MAX_BODY_BYTES,
            )
        )
        self.statuses = counted_statuses(self.app)
        self.checker = Checker(self.app, self.violations)
        self.process = psutil.Process()
        self.samples: list[Sample] = []
        self.faulty: dict[str, str] = {}
        self.faults_on: Counter[str] = Counter()
        self.faults_off = 0
        self.streams = [
            WatchStream("all-1", ()),
            WatchStream("all-2", ()),
            WatchStream("BTC+ETH", ("BTC", "ETH")),
            WatchStream("slow SOL+DOGE+XRP", ("SOL", "DOGE", "XRP"), read_every_s=3.0),
        ]
        self.stopping = False
        self.started = 0.0
        # when each task was first seen pending; weak, so finished tasks drop out by themselves
        self.first_seen: weakref.WeakKeyDictionary[asyncio.Task[Any], float] = weakref.WeakKeyDictionary()

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.app.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.app.grpc_port}"

    # --- REST ---

    async def get(self, session: aiohttp.ClientSession, path: str) -> tuple[int, Mapping[str, object]]:
        """GET ``path`` from the REST site; a refused or dropped connection is a violation (status 0)."""
        try:
            async with session.get(self.http + path, timeout=aiohttp.ClientTimeout(total=10)) as response:
                raw = await response.read()
                status, content_type = response.status, response.content_type
        except (aiohttp.ClientError, TimeoutError) as error:
            self.violations.add("REST request failed", f"{path}: {error!r}"[:200])
            return 0, {}
        self.checker.rest_status(path, status, content_type)
        try:
            body = json.loads(raw)
        except ValueError:
            self.violations.add("REST body not JSON", f"{path}: HTTP {status} {raw[:100]!r}")
            return status, {}
        return status, body if isinstance(body, dict) else {}

    async def rest_client(self, session: aiohttp.ClientSession, pause_s: float) -> None:
        """A busy REST user: all symbols, one symbol, the source board and, now and then, the
        errors API.md promises (404 for a symbol nobody lists, 400 for a malformed one)."""
        known: list[str] = ["BTC"]
        while True:
            status, body = await self.get(session, "/v1/open-interest")
            if status == 200:
                self.checker.all_symbols("rest-client all", body)
                data = body.get("data")
                if isinstance(data, dict) and data:
                    known = list(data)
            symbol = self.rng.choice(known)
            status, body = await self.get(session, f"/v1/open-interest?symbol={symbol.lower()}")
            if status == 200:
                self.checker.symbol_body("rest-client one", body)
            status, body = await self.get(session, "/v1/sources")
            if status != 200:
                self.violations.add("sources endpoint", f"HTTP {status}")
            roll = self.rng.random()
            if roll < 0.1:
                status, _ = await self.get(session, "/v1/open-interest?symbol=NOSUCHCOIN42")
                self.checker.ran["error statuses"] += 1
                if status != 404:
                    self.violations.add("wrong error status", f"unknown symbol answered HTTP {status}")
            elif roll < 0.2:
                status, _ = await self.get(session, "/v1/open-interest?symbol=bad-symbol!")
                self.checker.ran["error statuses"] += 1
                if status != 400:
                    self.violations.add("wrong error status", f"malformed symbol answered HTTP {status}")
            await asyncio.sleep(pause_s)

    # --- gRPC ---

    async def grpc_client(self, pause_s: float) -> None:
        """Unary calls: all symbols, then each symbol's detail, checked like the REST bodies."""
        async with grpc.aio.insecure_channel(self.grpc_target) as channel:
            stub = pb_grpc.OpenInterestServiceStub(channel)
            while True:
                try:
                    everything = await stub.GetOpenInterest(pb.GetOpenInterestRequest(), timeout=10)
                    if everything.symbols:
                        symbol = self.rng.choice(everything.symbols).symbol
                        one = await stub.GetOpenInterest(pb.GetOpenInterestRequest(symbol=symbol), timeout=10)
                        for entry in one.symbols:
                            self.checker.pb_symbol("grpc unary", one.timestamp, entry)
                    await stub.ListSources(pb.ListSourcesRequest(), timeout=10)
                except grpc.aio.AioRpcError as error:
                    if error.code() != grpc.StatusCode.NOT_FOUND:  # a symbol may drop out between calls
                        self.violations.add("gRPC unary error", f"{error.code().name}: {error.details()}")
                await asyncio.sleep(pause_s)

    async def watch(self, stream: WatchStream) -> None:
        """Read a watch stream for the whole run; an end or an error is a violation (and a reopen).

        The slow reader's channel keeps HTTP/2's fixed 64 KB receive window (no BDP probing).
        With probing on, gRPC grows the window to megabytes and this client buffers the unread
        messages in our own process for ten minutes before conflation starts: RSS that belongs to
        the client, not to the service we measure."""
        request = pb.WatchOpenInterestRequest(symbols=list(stream.symbols))
        options = [("grpc.http2.bdp_probe", 0)] if stream.read_every_s else []
        while True:
            async with grpc.aio.insecure_channel(self.grpc_target, options=options) as channel:
                call = pb_grpc.OpenInterestServiceStub(channel).WatchOpenInterest(request)
                try:
                    while (message := await call.read()) is not grpc.aio.EOF:
                        assert isinstance(message, pb.WatchOpenInterestResponse)
                        self.on_watch_message(stream, message)
                        if stream.read_every_s:
                            await asyncio.sleep(stream.read_every_s)
                    detail = f"ended with {(await call.code()).name}"
                except grpc.aio.AioRpcError as error:
                    detail = f"failed with {error.code().name}: {error.details()}"
            if self.stopping:
                return
            self.violations.add("watch stream ended", f"{stream.name} {detail}")
            stream.restarts += 1
            await asyncio.sleep(0.5)

    def on_watch_message(self, stream: WatchStream, message: pb.WatchOpenInterestResponse) -> None:
        self.checker.ran["watch messages"] += 1
        if message.timestamp < stream.last_timestamp:
            self.violations.add(
                "watch went back in time", f"{stream.name}: {message.timestamp} after {stream.last_timestamp}"
            )
        stream.messages += 1
        stream.last_timestamp = message.timestamp
        stream.last_read_s = time.monotonic()
        stream.max_lag_s = max(stream.max_lag_s, time.time() - message.timestamp / 1000)
        totals = [cents(s.total_oi_usd) for s in message.symbols]
        if totals != sorted(totals, reverse=True):
            self.violations.add("watch order", f"{stream.name}@{message.timestamp}: not ordered by total")
        if stream.symbols:
            unexpected = {s.symbol for s in message.symbols} - set(stream.symbols)
            if unexpected:
                self.violations.add("watch filter", f"{stream.name}: got {sorted(unexpected)}")
            for entry in message.symbols:
                self.checker.pb_symbol(f"watch {stream.name}", message.timestamp, entry)

    async def channel_churn(self, pause_s: float) -> None:
        """Open a channel, read a watch stream's first message, close it all: the server must
        free the stream, its task and its socket every time."""
        while True:
            async with grpc.aio.insecure_channel(self.grpc_target) as channel:
                call = pb_grpc.OpenInterestServiceStub(channel).WatchOpenInterest(
                    pb.WatchOpenInterestRequest(symbols=["BTC"])
                )
                try:
                    first = await asyncio.wait_for(call.read(), 10)
                    if first is grpc.aio.EOF:
                        self.violations.add(
                            "watch stream ended", "churned stream ended before its first message"
                        )
                except (grpc.aio.AioRpcError, TimeoutError) as error:
                    self.violations.add("watch stream ended", f"churned stream: {error!r}"[:200])
                call.cancel()
            await asyncio.sleep(pause_s)

    # --- faults ---

    def fault_document(self, kind: FaultKind) -> dict[str, object]:
        """A fault with parameters drawn so that each kind sometimes stays inside what the service
        shrugs off (a short latency, a short Retry-After) and sometimes beyond it."""
        document: dict[str, object] = {"fault": kind.value}
        timeout = self.options.request_timeout_s
        if kind is FaultKind.LATENCY:
            document["seconds"] = round(self.rng.uniform(0.02, 2 * timeout), 3)
        elif kind is FaultKind.HTTP_429:
            document["retry_after_s"] = round(self.rng.uniform(0.0, 3.0), 2)
        elif kind is FaultKind.ABSURD_NUMBERS:
            document["factor"] = self.rng.choice((10.0, 1e3, 1e9))
        elif kind is FaultKind.HUGE_BODY:
            document["size_bytes"] = 2 * MAX_BODY_BYTES
        return document

    async def switch_faults(self, session: aiohttp.ClientSession) -> None:
        control = self.app.sim.control_url if self.app.sim else ""
        kinds = list(FaultKind)
        while True:
            await asyncio.sleep(self.rng.expovariate(1 / self.options.fault_every_s))
            healthy = [s for s in self.options.sources if s not in self.faulty]
            if self.faulty and (len(self.faulty) >= self.options.faulty_limit or self.rng.random() < 0.4):
                venue = self.rng.choice(sorted(self.faulty))
                async with session.delete(f"{control}/faults/{venue}") as response:
                    await response.read()
                    if response.status != 200:
                        self.violations.add("control API", f"DELETE {venue}: HTTP {response.status}")
                del self.faulty[venue]
                self.faults_off += 1
            elif healthy:
                venue, kind = self.rng.choice(healthy), self.rng.choice(kinds)
                async with session.post(
                    f"{control}/faults", json={"venue": venue, **self.fault_document(kind)}
                ) as response:
                    await response.read()
                    if response.status != 200:
                        self.violations.add("control API", f"POST {venue} {kind}: HTTP {response.status}")
                self.faulty[venue] = kind.value
                self.faults_on[kind.value] += 1

    # --- sampling ---

    async def consistency(self, session: aiohttp.ClientSession) -> None:
        """All symbols, then a handful of symbols one by one, then all symbols again. When both
        all-symbols bodies are the same snapshot and a per-symbol body carries its timestamp, the
        two views must agree: same total to the cent, ``exchange_count`` = listed exchanges."""
        status, before = await self.get(session, "/v1/open-interest")
        if status != 200:
            return
        self.checker.all_symbols("sample all", before)
        data = before.get("data")
        if not isinstance(data, dict) or not data:
            return
        names = list(data)
        picked = list(dict.fromkeys(names[:3] + self.rng.sample(names, min(2, len(names)))))
        answers = await asyncio.gather(*(self.get(session, f"/v1/open-interest?symbol={s}") for s in picked))
        status, after = await self.get(session, "/v1/open-interest")
        same_snapshot = status == 200 and after == before
        for (code, body), symbol in zip(answers, picked, strict=True):
            if code == 404 and not same_snapshot:
                continue  # the symbol dropped out while we asked
            if code != 200:
                self.violations.add(
                    "listed symbol not found", f"{symbol}: HTTP {code} in an unchanged snapshot"
                )
                continue
            parsed = self.checker.symbol_body("sample one", body)
            if parsed is None or not same_snapshot or parsed[0] != before["timestamp"]:
                continue
            self.checker.ran["all-symbols = per-symbol"] += 1
            timestamp, _, exchanges, total = parsed
            summary = data[symbol]
            if cents(summary["total_oi_usd"]) != cents(total) or summary["exchange_count"] != len(exchanges):
                self.violations.add(
                    "all-symbols != per-symbol",
                    f"{symbol}@{timestamp}: all-symbols {summary}, per-symbol total {total} "
                    f"over {len(exchanges)} exchanges",
                )

    def watch_liveness(self) -> None:
        """A prompt reader must not fall behind the newest snapshot by more than the liveness
        window: the server has had a newer state for that long. A slow reader is only required to
        keep receiving: what it reads is as old as its transport's receive window is long (see
        ``slow_reader_lag``), which is gRPC's flow control, not the service."""
        newest = self.app.hub.latest.timestamp_ms
        now = time.monotonic()
        window = self.options.watch_liveness_s
        for stream in self.streams:
            if stream.messages == 0:
                continue
            self.checker.ran["watch streams deliver"] += 1
            if stream.read_every_s:
                silent_s = now - stream.last_read_s
                if silent_s > window + 2 * stream.read_every_s:
                    self.violations.add(
                        "watch stream stuck", f"{stream.name}: nothing read for {silent_s:.1f} s"
                    )
                continue
            behind_s = (newest - stream.last_timestamp) / 1000
            if behind_s > window:
                self.violations.add(
                    "watch stream stuck",
                    f"{stream.name}: newest message {behind_s:.1f} s older than the newest snapshot",
                )

    def simulator_sockets(self) -> int:
        """The simulator's own sockets (listening and accepted) on its venue ports."""
        if self.app.sim is None:
            return 0
        ports = {urlsplit(url).port for url in self.app.sim.urls.values()}
        return sum(1 for c in self.process.net_connections(kind="tcp") if c.laddr and c.laddr.port in ports)

    def sample(self) -> Sample:
        now = time.monotonic()
        fds = int(self.process.num_fds())
        tasks = asyncio.all_tasks()
        for task in tasks:
            self.first_seen.setdefault(task, now)
        oldest = now - self.options.long_lived_s
        lasting = [t for t in tasks if self.first_seen[t] <= oldest and not is_connection_handler(t)]
        return Sample(
            at_s=now - self.started,
            rss_bytes=int(self.process.memory_info().rss),
            fds=fds,
            loose_fds=fds - self.simulator_sockets() - pooled_connections(self.app),
            tasks=len(tasks),
            long_lived_tasks=len(lasting),
            polls=sum(s.succeeded_polls + s.failed_polls for s in self.statuses.values()),
            faulty=len(self.faulty),
            watch_streams=self.app.service.watch_streams,
        )

    async def sampler(self) -> None:
        """A sample every ``sample_every_s``, on its own: the invariant checks (``checker``) wait on
        REST answers, which a loaded machine slows down, and must not thin out the samples."""
        every = self.options.sample_every_s
        progress_every = max(1, round(30 / every))
        while True:
            await asyncio.sleep(every)
            sample = self.sample()
            self.samples.append(sample)
            if len(self.samples) % progress_every == 1:
                self.out(
                    f"t={sample.at_s:6.0f}s rss={sample.rss_bytes / MIB:6.1f}MiB fds={sample.fds:4d} "
                    f"(loose {sample.loose_fds}) "
                    f"tasks={sample.tasks:4d} ({sample.long_lived_tasks} long-lived) "
                    f"polls={sample.polls:7d} faulty={sample.faulty} "
                    f"watch={sample.watch_streams} violations={self.violations.total}"
                )

    async def checker_loop(self, session: aiohttp.ClientSession) -> None:
        """The invariants through the front doors, as often as samples are taken."""
        while True:
            await asyncio.sleep(self.options.sample_every_s)
            await self.consistency(session)
            self.watch_liveness()

    async def streams_released(self) -> None:
        """Every client has hung up: the server's stream gauge must come back to zero (a stream
        whose handler never ends holds its task, its buffers and its slot of the stream limit)."""
        self.checker.ran["watch streams released"] += 1
        for _ in range(100):  # the gauge has no event to wait on; look every 50 ms for 5 s
            if not self.app.service.watch_streams:
                break
            await asyncio.sleep(0.05)
        if self.app.service.watch_streams:
            self.violations.add(
                "watch streams not released",
                f"{self.app.service.watch_streams} still open 5 s after every client hung up",
            )

    # --- the run ---

    async def run(self) -> SoakReport:
        o = self.options
        fds_before, tasks_before = int(self.process.num_fds()), len(asyncio.all_tasks())
        error_log = ErrorLog(self.violations)
        # the service's own loggers and the libraries it runs on (grpc.aio logs a failed write to a
        # stream at ERROR with a traceback, asyncio an exception nobody retrieved)
        watched_logs = [logging.getLogger(name) for name in WATCHED_LOGGERS]
        for logger in watched_logs:
            logger.addHandler(error_log)
        workers: list[asyncio.Task[None]] = []
        self.out(
            f"soak: {o.duration_s:g} s at poll interval {o.poll_interval_s:g} s = {o.hours_simulated:.1f} h "
            f"simulated; {len(o.sources)} sources, faults every ~{o.fault_every_s:g} s on at most "
            f"{o.faulty_limit}, warm-up {o.warmup:g} s, request timeout {o.request_timeout_s:g} s"
        )
        try:
            await self.app.start()
            self.started = time.monotonic()
            self.violations.started = self.started
            self.samples.append(self.sample())
            keep_alive = aiohttp.ClientSession()
            one_shot = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
            control = aiohttp.ClientSession()
            try:
                workers = [
                    asyncio.create_task(self.rest_client(keep_alive, 0.05), name="soak-rest"),
                    asyncio.create_task(self.rest_client(one_shot, 0.2), name="soak-rest-new-connections"),
                    asyncio.create_task(self.grpc_client(0.05), name="soak-grpc"),
                    asyncio.create_task(self.channel_churn(2.0), name="soak-churn"),
                    asyncio.create_task(self.switch_faults(control), name="soak-faults"),
                    asyncio.create_task(self.sampler(), name="soak-sampler"),
                    asyncio.create_task(self.checker_loop(keep_alive), name="soak-checks"),
                    *(asyncio.create_task(self.watch(s), name=f"soak-watch-{s.name}") for s in self.streams),
                ]
                done, _ = await asyncio.wait(
                    workers, timeout=o.duration_s, return_when=asyncio.FIRST_EXCEPTION
                )
                for task in done:  # a worker only ends by raising: the harness itself broke
                    if not task.cancelled() and task.exception() is not None:
                        raise RuntimeError(f"soak worker {task.get_name()} failed") from task.exception()
                self.samples.append(self.sample())
            finally:
                self.stopping = True
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                await self.streams_released()
                if self.app.sim is not None:  # leave the simulator clean for its own shutdown
                    async with control.delete(f"{self.app.sim.control_url}/faults") as response:
                        await response.read()
                for session in (keep_alive, one_shot, control):
                    await session.close()
        finally:
            await self.app.stop()
            for logger in watched_logs:
                logger.removeHandler(error_log)
        await asyncio.sleep(0.1)  # let closed transports release their sockets
        warm = [s for s in self.samples if s.at_s >= o.warmup]
        return SoakReport(
            options=o,
            samples=self.samples,
            warm=warm,
            growth=growth_of(warm, o),
            violations=self.violations,
            polls_by_source={s: (c.succeeded_polls, c.failed_polls) for s, c in self.statuses.items()},
            faults_on=self.faults_on,
            faults_off=self.faults_off,
            checks=self.checker.ran,
            streams=self.streams,
            wall_s=time.monotonic() - self.started,
            fds_before=fds_before,
            tasks_before=tasks_before,
            fds_after_stop=int(self.process.num_fds()),
            tasks_after_stop=len(asyncio.all_tasks()),
        )


async def run_soak(options: SoakOptions, out: Out = _print) -> SoakReport:
    """Run one soak in the running event loop and return its report (the test calls this)."""
    return await Soak(options, out).run()


# --- command line -----------------------------------------------------------------------------------


def _sources(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    unknown = [n for n in names if n not in REGISTRY]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown source(s) {unknown}; known: {', '.join(REGISTRY)}")
    return names


def parse_options(argv: Sequence[str] | None = None) -> tuple[SoakOptions, Path | None]:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration-s", type=float, required=True, help="wall time of the run")
    parser.add_argument("--poll-interval", type=float, required=True, help="seconds between polls")
    parser.add_argument("--seed", type=int, default=1, help="seed of the simulator and of the fault plan")
    parser.add_argument(
        "--sources", type=_sources, default=tuple(REGISTRY), help="comma-separated source ids"
    )
    parser.add_argument("--full-scale", action="store_true", help="each venue's real market count")
    parser.add_argument("--sample-every-s", type=float, default=2.0)
    parser.add_argument(
        "--warmup-s", type=float, default=None, help="default: 20 %% of the run, at least 6 s"
    )
    parser.add_argument("--fault-every-s", type=float, default=1.0, help="mean time between fault switches")
    parser.add_argument("--max-faulty", type=int, default=None, help="default: a third of the sources")
    parser.add_argument("--json", type=Path, default=None, help="write every sample and the summary here")
    args = parser.parse_args(argv)
    if args.duration_s <= 0 or args.poll_interval <= 0:
        parser.error("--duration-s and --poll-interval must be > 0")
    options = SoakOptions(
        duration_s=args.duration_s,
        poll_interval_s=args.poll_interval,
        seed=args.seed,
        sources=args.sources,
        full_scale=args.full_scale,
        sample_every_s=args.sample_every_s,
        warmup_s=args.warmup_s,
        fault_every_s=args.fault_every_s,
        max_faulty=args.max_faulty,
    )
    return options, args.json


def main(argv: Sequence[str] | None = None) -> int:
    options, json_path = parse_options(argv)
    report = asyncio.run(run_soak(options))
    lines = report.summary()
    for line in lines:
        _print(line)
    if json_path is not None:
        json_path.write_text(
            json.dumps(
                {
                    "options": {k: v for k, v in dataclasses.asdict(options).items()},
                    "samples": [dataclasses.asdict(s) for s in report.samples],
                    "summary": lines,
                    "failures": report.failures,
                },
                indent=1,
            )
        )
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
