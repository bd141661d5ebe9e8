"""Unary gRPC and REST: our front doors against the bare frameworks serving the same bytes.

Both servers (ours and bare) run at once, each in its own process; the load comes from a third
process (``bench/load.py``, or ``wrk`` for REST when installed), 64 calls in flight, and the
rounds alternate bare/ours so a noisy neighbour hits both alike. Per round: requests/s, p50/p99
latency, and the server's CPU per request (user+system time of its process over the round). The
client shares this 2-core machine, so requests/s can be capped by the client; CPU per request
is the server's own cost whatever the client does, and is the second ratio shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Final, NamedTuple

import psutil

from bench.common import (
    LOAD_CPU,
    SERVER_CPU,
    Child,
    Figure,
    Section,
    child,
    fmt_int,
    fmt_ms,
    fmt_ratio,
    judged,
    pin,
    ratio_of,
    run_json,
)

IN_FLIGHT: Final = 64
SYMBOLS: Final = 500
TARGET_RATIO: Final = 0.9


@dataclass(slots=True)
class Series:
    """One server under one load case, over the rounds."""

    rps: Figure = field(default_factory=Figure)
    p50: Figure = field(default_factory=Figure)
    p99: Figure = field(default_factory=Figure)
    cpu_per_request_s: Figure = field(default_factory=Figure)


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


@contextlib.asynccontextmanager
async def servers(proto: str) -> AsyncIterator[dict[str, Child]]:
    async with (
        child("bench.servers", proto, "--impl", "bare", "--symbols", str(SYMBOLS), cpu=SERVER_CPU) as bare,
        child("bench.servers", proto, "--impl", "ours", "--symbols", str(SYMBOLS), cpu=SERVER_CPU) as ours,
    ):
        yield {"bare": bare, "ours": ours}


# --- load: our Python loader, or wrk ------------------------------------------------------------------

_WRK_UNITS: Final = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _wrk_seconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _WRK_UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, object]:
    """Requests/s and the 50 %/99 % latencies of ``wrk --latency`` output."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    if rps is None or p50 is None or p99 is None:
        raise ValueError(f"unexpected wrk output: {output[-400:]!r}")
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return {
        "rps": float(rps.group(1)),
        "p50_s": _wrk_seconds(p50.group(1)),
        "p99_s": _wrk_seconds(p99.group(1)),
        "errors": int(errors.group(1)) if errors else 0,
    }


async def wrk(url: str, duration_s: float) -> dict[str, object]:
    process = await asyncio.create_subprocess_exec(
        "wrk",
        "-t1",
        f"-c{IN_FLIGHT}",
        f"-d{max(1, round(duration_s))}s",
        "--latency",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    pin(process.pid, LOAD_CPU)
    out, _ = await process.communicate()
    return parse_wrk(out.decode())


async def load(proto: str, port: int, query: str, duration_s: float, use_wrk: bool) -> dict[str, object]:
    if proto == "grpc":
        result = await run_json(
            "bench.load",
            "grpc",
            "--target",
            f"127.0.0.1:{port}",
            "--symbol",
            query,
            "--in-flight",
            str(IN_FLIGHT),
            "--duration-s",
            str(duration_s),
        )
    else:
        url = f"http://127.0.0.1:{port}/v1/open-interest" + (f"?symbol={query}" if query else "")
        if use_wrk:
            return await wrk(url, duration_s)
        result = await run_json(
            "bench.load", "http", "--url", url, "--in-flight", str(IN_FLIGHT), "--duration-s", str(duration_s)
        )
    requests = float(result["requests"])  # type: ignore[arg-type]
    seconds = float(result["seconds"])  # type: ignore[arg-type]
    return {**result, "rps": requests / seconds}


class Target(NamedTuple):
    """A server under load: the port it listens on, and its process (whose CPU is counted)."""

    port: int
    pid: int


def targets_of(running: Mapping[str, Child]) -> dict[str, Target]:
    return {impl: Target(int(c.ready["port"]), c.pid) for impl, c in running.items()}  # type: ignore[call-overload]


async def measure(
    proto: str, query: str, targets: Mapping[str, Target], *, rounds: int, duration_s: float, use_wrk: bool
) -> dict[str, Series]:
    """``rounds`` rounds; in each, the load on every target in turn (in the mapping's order)."""
    found = {impl: Series() for impl in targets}
    processes = {impl: psutil.Process(target.pid) for impl, target in targets.items()}
    for _ in range(rounds):
        for impl, target in targets.items():
            cpu_before = _cpu_s(processes[impl])
            result = await load(proto, target.port, query, duration_s, use_wrk)
            cpu = _cpu_s(processes[impl]) - cpu_before
            if int(result.get("errors", 0)):  # type: ignore[call-overload]
                raise RuntimeError(f"{proto} {impl} {query or 'all'}: {result['errors']} failed requests")
            rps = float(result["rps"])  # type: ignore[arg-type]
            series = found[impl]
            series.rps.add(rps)
            series.p50.add(float(result["p50_s"]))  # type: ignore[arg-type]
            series.p99.add(float(result["p99_s"]))  # type: ignore[arg-type]
            series.cpu_per_request_s.add(cpu / (rps * duration_s) if rps else float("nan"))
    return found


async def run_front_door(proto: str, quick: bool) -> Section:
    rounds, duration_s = (1, 0.5) if quick else (5, 3.0)  # 3 rounds left the median ±4 % run to run
    use_wrk = proto == "rest" and shutil.which("wrk") is not None and not quick
    if proto == "grpc":
        title = f"1. Unary GetOpenInterest, {IN_FLIGHT} calls in flight (500-symbol snapshot)"
        cases = (("", "all symbols"), ("BTC", "one symbol (BTC, 18 exchanges)"))
    else:
        title = f"2. REST GET /v1/open-interest, {IN_FLIGHT} connections (500-symbol snapshot)"
        cases = (("", "all symbols"), ("BTC", "?symbol=BTC"))
    section = Section(
        title,
        (
            "request",
            "server",
            "bytes",
            "requests/s",
            "p50",
            "p99",
            "server CPU per request",
            "requests/s ours/bare",
            "CPU per request ours/bare",
        ),
    )
    met = True
    async with servers(proto) as running:
        for query, label in cases:
            found = await measure(
                proto, query, targets_of(running), rounds=rounds, duration_s=duration_s, use_wrk=use_wrk
            )
            rps_ratio = ratio_of(found["ours"].rps.values, found["bare"].rps.values)
            cpu_ratio = ratio_of(
                found["ours"].cpu_per_request_s.values, found["bare"].cpu_per_request_s.values
            )
            size = running["ours"].ready["one_bytes" if query else "all_bytes"]
            for impl in ("bare", "ours"):
                series = found[impl]
                section.row(
                    label,
                    impl,
                    f"{size:,}",
                    series.rps.show(fmt_int),
                    series.p50.show(fmt_ms),
                    series.p99.show(fmt_ms),
                    series.cpu_per_request_s.show(lambda s: f"{s * 1e6:.0f} µs"),
                    rps_ratio.show(fmt_ratio) if impl == "ours" else "1 (baseline)",
                    cpu_ratio.show(fmt_ratio) if impl == "ours" else "1 (baseline)",
                )
            met &= rps_ratio.median >= TARGET_RATIO
    what = "bare grpc.aio server" if proto == "grpc" else "bare aiohttp handler"
    section.target(
        f"≥ {TARGET_RATIO} of the {what}'s requests/s (median of paired rounds)", judged(met, quick)
    )
    loader = (
        "wrk -t1 -c64"
        if use_wrk
        else f"python -m bench.load ({'grpc.aio' if proto == 'grpc' else 'aiohttp'} client)"
    )
    section.notes.append(
        f"{rounds} rounds of {duration_s:g} s per server and request, alternating bare/ours; load from a "
        f"separate process: {loader}; figures are median (min–max) over rounds"
    )
    if proto == "rest" and not use_wrk and not quick:
        section.notes.append("wrk not installed (apt-get install wrk): the aiohttp client loader was used")
    return section
