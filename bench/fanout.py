"""Watch fan-out and the reconnect storm: our gRPC server against a bare grpc.aio streaming server.

Fan-out: one server process, N all-symbols watch streams (500 symbols, ~11 KB a message) opened
from a separate client process (``bench/watchers.py``, 100 streams per connection) in waves of
500, so the bare server, which refuses calls in a burst (below), gets all N too. Then the server
publishes one changed snapshot per second; each message carries its publication instant, so the
client computes publication→receipt delays with no clock of the server's. Per publication:
delivered fraction (streams that received it; a stream that falls behind skips to the newest,
as conflation must), p50/p99 delay. Publications are the repeats: median (min–max) over them.
Server CPU is the process's user+system time over the publishing window; RSS per stream is the
growth from before the first stream to after the last one, divided by N.

Reconnect storm: 5,000 streams started at the same instant, as after a load balancer restart;
how many get their first message within 10 s, and when. Run with two client layouts (50
connections of 100 streams, and one connection of 5,000) to tell a client channel limit from a
server one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import psutil

from bench.common import (
    LOAD_CPU,
    SERVER_CPU,
    Figure,
    Section,
    child,
    fmt_kb,
    fmt_ms,
    fmt_pct,
    fmt_ratio,
    judged,
    percentile,
)

SYMBOLS: Final = 500
WAVE: Final = 500
PER_CHANNEL: Final = 100
STORM_TIMEOUT_S: Final = 10.0
P99_NOISE: Final = 1.10  # "no worse" allows the run-to-run noise of this shared machine


@dataclass(slots=True)
class FanoutRun:
    impl: str
    streams: int
    opened: int = 0
    delivered: Figure = field(default_factory=Figure)
    p50: Figure = field(default_factory=Figure)
    p99: Figure = field(default_factory=Figure)
    # from the serving process's own publish instant, where it says when (``watch_figures``)
    fanout_p50: Figure = field(default_factory=Figure)
    fanout_p99: Figure = field(default_factory=Figure)
    untimed: int = 0  # publications received whose publish instant the server did not say
    publications: int = 0
    cpu_s: float = 0.0  # the server process's CPU over the publishing window and stragglers
    cpu_per_publication_s: float = 0.0
    rss_per_stream: float = 0.0
    held_per_stream: Figure = field(default_factory=Figure)  # allocators' bytes in use, where told
    errors: dict[str, int] = field(default_factory=dict)


def _process_cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


@dataclass(frozen=True, slots=True)
class Published:
    """What a run published: ``count`` publications, or None when the server publishes by itself
    (then every publication some stream received counts); the figures count only the ones
    stamped from ``from_ms`` to ``to_ms`` (received in full: none began before the window)."""

    count: int | None
    from_ms: int = 0
    to_ms: int = 2**62


async def watch_figures(
    result: FanoutRun,
    pid: int,
    target: str,
    publish: Callable[[], Awaitable[Published]],
    *,
    stragglers_s: float,
    published_at: Callable[[], Awaitable[Mapping[int, float]]] | None = None,
    held: Callable[[], Awaitable[int | None]] | None = None,
) -> None:
    """Open ``result.streams`` all-symbols streams on ``target`` (host:port) from a watchers
    process, let ``publish`` run, and fill ``result``: delivered fraction and delays per
    publication, the server process's CPU per publication and its RSS growth per stream.

    ``published_at``, when given, says when the server published each snapshot (its message
    timestamp → unix ms, same clock): the fan-out delays then run from that instant, not from the
    timestamp (which is when the snapshot was built, wherever that was). ``held``, when given,
    says how many bytes the server's allocators hand out (None: it cannot tell): read beside the
    RSS, before the first stream and after the last, it gives the memory the streams hold."""
    process = psutil.Process(pid)
    held_before = await held() if held is not None else None
    rss_before = process.memory_info().rss
    args = ("--target", target, "--streams", str(result.streams), "--per-channel", str(PER_CHANNEL))
    async with child("bench.watchers", *args, cpu=LOAD_CPU) as watchers:
        await watchers.send(f"open 60 {WAVE}")
        opened = await watchers.read(120)
        first_s = opened["first_s"]
        assert isinstance(first_s, list)
        result.opened = len(first_s)
        await asyncio.sleep(1.0)
        await watchers.send("collect")  # forget the first messages
        await watchers.read(60)
        result.rss_per_stream = (process.memory_info().rss - rss_before) / result.streams
        if held is not None and held_before is not None:
            held_after = await held()
            if held_after is not None:
                result.held_per_stream.add((held_after - held_before) / result.streams)
        cpu_before = _process_cpu_s(process)
        published = await publish()
        await asyncio.sleep(stragglers_s)  # the last publication's stragglers
        cpu = _process_cpu_s(process) - cpu_before
        await watchers.send("collect")
        collected = await watchers.read(120)
        instants = await published_at() if published_at is not None else {}
        delays = collected["delays"]
        assert isinstance(delays, dict)
        stamps = sorted((int(stamp), values) for stamp, values in delays.items())
        received = [(stamp, values) for stamp, values in stamps if stamp >= published.from_ms]
        count = published.count if published.count is not None else len(received)
        result.publications = count
        result.cpu_s = cpu
        result.cpu_per_publication_s = cpu / count if count else float("nan")
        kept = [(stamp, values) for stamp, values in received if stamp <= published.to_ms]
        for stamp, values in kept:
            result.delivered.add(len(values) / result.streams)
            result.p50.add(percentile(values, 0.5))
            result.p99.add(percentile(values, 0.99))
            if published_at is None:
                continue
            if stamp not in instants:
                result.untimed += 1
                continue
            inside_s = (instants[stamp] - stamp) / 1000  # built → published, inside the server
            result.fanout_p50.add(percentile(values, 0.5) - inside_s)
            result.fanout_p99.add(percentile(values, 0.99) - inside_s)
        if published.count is not None:
            for _ in range(published.count - len(kept)):  # a publication nobody received
                result.delivered.add(0.0)
        errors = collected["errors"]
        assert isinstance(errors, dict)
        result.errors = {str(k): int(v) for k, v in errors.items()}
        await watchers.send("close")
        with contextlib.suppress(TimeoutError, RuntimeError):
            await watchers.read(30)


def pooled(runs: Sequence[FanoutRun]) -> FanoutRun:
    """One server's rounds as one run: every round's publications and memory held per stream, the
    fewest streams any round opened, CPU per publication over all rounds, and the first round's
    RSS per stream (later rounds' streams reuse memory the earlier ones gave back to the
    allocator, not to the system)."""
    first = runs[0]
    found = FanoutRun(first.impl, first.streams, opened=min(run.opened for run in runs))
    for run in runs:
        for figure in ("delivered", "p50", "p99", "fanout_p50", "fanout_p99", "held_per_stream"):
            getattr(found, figure).values.extend(getattr(run, figure).values)
        found.untimed += run.untimed
        found.publications += run.publications
        found.cpu_s += run.cpu_s
        for code, count in run.errors.items():
            found.errors[code] = found.errors.get(code, 0) + count
    found.cpu_per_publication_s = found.cpu_s / found.publications if found.publications else float("nan")
    found.rss_per_stream = first.rss_per_stream
    return found


async def fanout_run(impl: str, streams: int, *, publications: int, interval_s: float) -> FanoutRun:
    result = FanoutRun(impl, streams)
    async with child(
        "bench.servers", "grpc", "--impl", impl, "--symbols", str(SYMBOLS), cpu=SERVER_CPU
    ) as server:

        async def publish() -> Published:
            await server.send(f"publish {publications} {interval_s}")
            while not (await server.read(60 + publications * interval_s)).get("done"):
                pass
            return Published(publications)

        await asyncio.sleep(0.3)
        await watch_figures(
            result,
            server.pid,
            f"127.0.0.1:{server.ready['port']}",
            publish,
            stragglers_s=min(2.0, 2 * interval_s),
        )
    return result


@dataclass(slots=True)
class StormRun:
    impl: str
    streams: int
    per_channel: int
    first_s: list[float]
    errors: dict[str, int]

    @property
    def in_time(self) -> float:
        return sum(1 for f in self.first_s if f <= STORM_TIMEOUT_S) / self.streams


async def storm_run(impl: str, streams: int, per_channel: int) -> StormRun:
    async with child(
        "bench.servers", "grpc", "--impl", impl, "--symbols", str(SYMBOLS), cpu=SERVER_CPU
    ) as server:
        target = f"127.0.0.1:{server.ready['port']}"
        args = ("--target", target, "--streams", str(streams), "--per-channel", str(per_channel))
        async with child("bench.watchers", *args, cpu=LOAD_CPU) as watchers:
            await watchers.send(f"open {STORM_TIMEOUT_S}")
            opened = await watchers.read(STORM_TIMEOUT_S + 60)
            await watchers.send("close")
            with contextlib.suppress(TimeoutError, RuntimeError):
                await watchers.read(30)
    first_s = opened["first_s"]
    errors = opened["errors"]
    assert isinstance(first_s, list) and isinstance(errors, dict)
    return StormRun(
        impl, streams, per_channel, [float(f) for f in first_s], {str(k): int(v) for k, v in errors.items()}
    )


def _errors(found: dict[str, int]) -> str:
    return ", ".join(f"{count} {code}" for code, count in sorted(found.items())) or "none"


async def run_fanout(quick: bool) -> Section:
    counts = (100,) if quick else (1000, 5000, 10000)
    publications, interval_s = (2, 1.0) if quick else (6, 1.0)
    section = Section(
        "3a. Watch fan-out: all-symbols streams (500 symbols), one snapshot change per second",
        (
            "streams",
            "server",
            "delivered",
            "delay p50",
            "delay p99",
            "p99 ours/bare",
            "server CPU per publication",
            "RSS per stream",
            "RSS ours/bare",
        ),
    )
    all_delivered = True
    p99_ok = True
    rss_ok = True
    for count in counts:
        bare = await fanout_run("bare", count, publications=publications, interval_s=interval_s)
        ours = await fanout_run("ours", count, publications=publications, interval_s=interval_s)
        p99_ratio = ours.p99.median / bare.p99.median
        rss_ratio = ours.rss_per_stream / bare.rss_per_stream
        for run in (bare, ours):
            section.row(
                f"{count:,}",
                run.impl,
                run.delivered.show(fmt_pct),
                run.p50.show(fmt_ms),
                run.p99.show(fmt_ms),
                fmt_ratio(p99_ratio) if run is ours else "1 (baseline)",
                f"{run.cpu_per_publication_s * 1000:.0f} ms "
                f"({run.cpu_per_publication_s / count * 1e6:.0f} µs a stream)",
                fmt_kb(run.rss_per_stream),
                fmt_ratio(rss_ratio) if run is ours else "1 (baseline)",
            )
            if run.errors:
                section.notes.append(f"{run.impl} at {count:,} streams: stream errors {_errors(run.errors)}")
        all_delivered &= min(ours.delivered.values, default=0.0) >= 1.0 and ours.opened == count
        p99_ok &= p99_ratio <= P99_NOISE
        rss_ok &= rss_ratio <= 1.1
    section.target("100 % delivered at every count (every publication)", judged(all_delivered, quick))
    section.target(
        f"p99 no worse than the bare server's at the same count (ours/bare ≤ {P99_NOISE:.2f}, the noise)",
        judged(p99_ok, quick),
    )
    section.target("RSS per stream ≤ 1.1× the bare server's", judged(rss_ok, quick))
    section.notes.append(
        f"{publications} publications {interval_s:g} s apart per run; figures are median (min–max) over "
        "publications; delay = publication instant (in the message) → receipt in the client process"
    )
    return section


async def run_storm(quick: bool) -> Section:
    streams = 2000 if quick else 5000
    layouts = ((PER_CHANNEL, "connections of 100 streams"), (streams, "one connection"))
    section = Section(
        f"3b. Reconnect storm: {streams:,} watch streams started at the same instant",
        (
            "server",
            "client layout",
            f"first message within {STORM_TIMEOUT_S:g} s",
            "p50",
            "p99",
            "stream errors",
        ),
    )
    ours_ok = True
    for per_channel, layout in layouts:
        for impl in ("bare", "ours"):
            run = await storm_run(impl, streams, per_channel)
            section.row(
                impl,
                f"{max(1, streams // per_channel)} {layout}" if per_channel < streams else layout,
                fmt_pct(run.in_time),
                fmt_ms(percentile(run.first_s, 0.5)),
                fmt_ms(percentile(run.first_s, 0.99))
                if len(run.first_s) == streams
                else "never (some streams)",
                _errors(run.errors),
            )
            if impl == "ours":
                ours_ok &= run.in_time >= 1.0
    section.target(
        f"every stream gets its first message within {STORM_TIMEOUT_S:g} s (ours)", judged(ours_ok, quick)
    )
    section.notes.append(
        "where the bare server stalls: grpc.aio takes new calls from gRPC core one at a time between "
        "its other work (here: sending first messages); core queues the rest and refuses them by random "
        "early detection past 1,000 queued calls, all of them past 3,000 "
        "(grpc.server.max_pending_requests / _hard_limit). The refused streams end at once with an "
        "error instead of a first message, whatever the client layout; the HTTP/2 settings are not the "
        "limit (one connection fares the same as many). Ours raises both limits to the "
        "watch-stream cap (server_options in server/api/grpc_service.py)."
    )
    return section
