"""Shared by every benchmark: statistics, the result table, synthetic snapshots, child processes.

Every figure that matters is a ratio against a baseline measured in the same run (the machines
are shared and noisy), and every measurement is repeated: a ``Figure`` keeps all repeats and
prints the median with the min–max range.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import os
import random
import re
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from server.core.aggregate import aggregate
from server.core.model import MarketOI, Snapshot, VenueReading
from server.venues import REGISTRY

ROOT: Final = Path(__file__).resolve().parents[1]
RESULTS: Final = Path(__file__).resolve().parent / "results"
CHILD_READY_S: Final = 30.0  # a child server process must say "ready" within this


# --- statistics --------------------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1) of ``values``; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))
    return ordered[rank]


@dataclass(slots=True)
class Figure:
    """One measured quantity over repeats, printed as ``median (min–max)`` in ``unit``."""

    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def median(self) -> float:
        finite = [v for v in self.values if not math.isnan(v)]
        return statistics.median(finite) if finite else math.nan

    def show(self, fmt: Callable[[float], str]) -> str:
        finite = [v for v in self.values if not math.isnan(v)]
        if not finite:
            return "n/a"
        if len(finite) == 1:
            return fmt(finite[0])
        return f"{fmt(statistics.median(finite))} ({fmt(min(finite))}–{fmt(max(finite))})"


def ratio_of(ours: Sequence[float], base: Sequence[float]) -> Figure:
    """Pairwise ratios of repeats measured side by side (ours[i] / base[i])."""
    figure = Figure()
    for a, b in zip(ours, base, strict=False):
        figure.add(a / b if b else math.nan)
    return figure


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def fmt_int(value: float) -> str:
    return f"{value:,.0f}"


def fmt_ratio(value: float) -> str:
    return f"{value:.2f}×"


def fmt_pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def fmt_kb(value: float) -> str:
    return f"{value / 1024:.1f} KB"


# --- the printed table -------------------------------------------------------------------------------


@dataclass(slots=True)
class Section:
    """One benchmark's output: a markdown table, notes, and its targets (met or not)."""

    title: str
    header: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    targets: list[tuple[str, bool | None]] = field(default_factory=list)  # None: not judged (quick mode)

    def row(self, *cells: str) -> None:
        self.rows.append(cells)

    def target(self, text: str, met: bool | None) -> None:
        self.targets.append((text, met))

    def markdown(self) -> str:
        lines = [f"## {self.title}", ""]
        lines.append("| " + " | ".join(self.header) + " |")
        lines.append("|" + "|".join("---" for _ in self.header) + "|")
        lines.extend("| " + " | ".join(cells) + " |" for cells in self.rows)
        lines.append("")
        for text, met in self.targets:
            verdict = "not judged (quick mode)" if met is None else ("MET" if met else "NOT MET")
            lines.append(f"- target: {text}: **{verdict}**")
        lines.extend(f"- {note}" for note in self.notes)
        lines.append("")
        return "\n".join(lines)

    def records(self) -> list[dict[str, object]]:
        """The section as JSON-lines records: one per row (each cell's text, and its number and
        unit where the cell starts with one), one per target, one per note."""
        records: list[dict[str, object]] = [
            {
                "section": self.title,
                "row": {name: cell_record(cell) for name, cell in zip(self.header, cells, strict=False)},
            }
            for cells in self.rows
        ]
        records.extend({"section": self.title, "target": text, "met": met} for text, met in self.targets)
        records.extend({"section": self.title, "note": note} for note in self.notes)
        return records


_LEADING_NUMBER: Final = re.compile(r"^\s*([-+]?[\d,]*\.?\d+(?:[eE][-+]?\d+)?)\s*([^\s(]*)")


def cell_record(cell: str) -> dict[str, object]:
    """``{"text": cell}``, plus ``value`` and ``unit`` when the cell starts with a number
    (``"1,287,168"``, ``"5.89×"``, ``"642 ms (600–700 ms)"`` → 642.0 and "ms": the median)."""
    found = _LEADING_NUMBER.match(cell)
    if found is None:
        return {"text": cell}
    return {"text": cell, "value": float(found.group(1).replace(",", "")), "unit": found.group(2)}


def judged(met: bool, quick: bool) -> bool | None:
    """Quick mode checks that a benchmark runs, not its targets."""
    return None if quick else met


# --- a realistic snapshot ----------------------------------------------------------------------------


def synthetic_snapshot(symbols: int = 500, *, built_at_ms: int, seed: int = 1, drift: int = 0) -> Snapshot:
    """``symbols`` coins over the 18 sources, shaped like the live service: BTC on every venue,
    the tail on one to three; OI falls off by a power law. ``drift`` moves every figure a little,
    so consecutive snapshots differ (a watcher of all symbols gets a message per change).

    Built through ``aggregate`` from per-venue readings, as the service builds its snapshots.
    """
    rng = random.Random(seed)
    sources = list(REGISTRY)
    markets: dict[str, list[MarketOI]] = {source: [] for source in sources}
    move = 1 + 0.001 * drift
    for index in range(symbols):
        base = "BTC" if index == 0 else f"C{index:03d}X"
        count = max(1, min(len(sources), round(18 * 0.93**index)))
        price = 10 ** rng.uniform(-5, 4)
        for source in rng.sample(sources, count):
            oi_usd = 4e9 / (1 + index) ** 1.3 * rng.uniform(0.2, 1.0) * move
            oi_base = None if source in ("avantis", "htx") and index % 3 == 0 else oi_usd / price
            markets[source].append(
                MarketOI(
                    venue_symbol=f"{base}-PERP", base=base, oi_base=oi_base, oi_usd=oi_usd, price_usd=price
                )
            )
    readings = {
        source: VenueReading(source=source, fetched_at_ms=built_at_ms - 1000, markets=tuple(found))
        for source, found in markets.items()
        if found
    }
    return aggregate(readings, now_ms=built_at_ms, stale_after_ms=dict.fromkeys(readings, 90_000))


# --- child processes ---------------------------------------------------------------------------------

SERVER_CPU: Final = "server"
LOAD_CPU: Final = "load"


def pin(pid: int, role: str | None) -> None:
    """Keep a server and its load generator off each other's core (first and last CPU) when the
    machine has two or more; on a 2-core machine an unpinned client steals the server's core at
    random, which is most of the run-to-run noise."""
    if role is None:
        return
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return
    with contextlib.suppress(OSError):
        os.sched_setaffinity(pid, {cpus[0] if role == SERVER_CPU else cpus[-1]})


@dataclass(slots=True)
class Child:
    """A child Python process that prints one JSON object per line on stdout."""

    process: asyncio.subprocess.Process
    ready: dict[str, object]

    @property
    def pid(self) -> int:
        return self.process.pid

    async def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        await self.process.stdin.drain()

    async def read(self, timeout_s: float) -> dict[str, object]:
        """The next JSON line; raises TimeoutError, or RuntimeError when the child ended."""
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout_s)
        if not line:
            code = await self.process.wait()
            raise RuntimeError(f"child process {self.pid} ended (exit {code}) without an answer")
        document = json.loads(line)
        assert isinstance(document, dict)
        return document


@functools.cache
def scratch() -> tempfile.TemporaryDirectory[str]:
    """One folder for everything this run's children write, removed when the run exits."""
    return tempfile.TemporaryDirectory(prefix="oi-bench-")


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("GRPC_VERBOSITY", "ERROR")
    # a served process records history into --data-dir: a folder of its own, never the checkout
    env.setdefault("OI_DATA_DIR", tempfile.mkdtemp(prefix="data-", dir=scratch().name))
    return env


async def spawn_module(
    module: str,
    *args: str,
    stdin: int,
    stdout: int,
    stderr: int | None = None,
    limit: int = 2**16,
    env: Mapping[str, str] | None = None,
) -> asyncio.subprocess.Process:
    """``python -m module args`` from the project root, with the project importable (``env``:
    variables set or overridden)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        env={**child_env(), **(env or {})},
        cwd=str(ROOT),
        limit=limit,
    )


async def stop(process: asyncio.subprocess.Process, *, grace_s: float) -> None:
    """Terminate, wait up to ``grace_s``, then kill: no child outlives its benchmark."""
    if process.returncode is None:
        process.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), grace_s)
    if process.returncode is None:
        process.kill()
        await process.wait()


@contextlib.asynccontextmanager
async def child(
    module: str,
    *args: str,
    ready_timeout_s: float = CHILD_READY_S,
    cpu: str | None = None,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[Child]:
    """Run ``python -m module args``; yields once it printed its first JSON line ("ready").

    At exit its stdin is closed (every child ends on EOF), then it is terminated, then killed.
    """
    process = await spawn_module(
        module,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=64 * 1024 * 1024,
        env=env,
    )
    pin(process.pid, cpu)
    handle = Child(process, {})
    try:
        handle.ready = await handle.read(ready_timeout_s)
        yield handle
    finally:
        if process.returncode is None and process.stdin is not None:
            with contextlib.suppress(Exception):
                process.stdin.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 5.0)
        await stop(process, grace_s=3.0)


@dataclass(slots=True)
class Server:
    """An ``oi-server`` process and the fields of its "oi-server ready" log line (ports, role,
    ``sim_control``...)."""

    process: asyncio.subprocess.Process
    ready: dict[str, object]

    @property
    def pid(self) -> int:
        return self.process.pid

    def port(self, kind: str) -> int:
        """``grpc`` or ``http``: the port it listens on."""
        port = self.ready[f"{kind}_port"]
        assert isinstance(port, int), self.ready
        return port


def is_ready_line(line: bytes) -> dict[str, object] | None:
    """The fields of an "oi-server ready" log line; None for any other line."""
    with contextlib.suppress(ValueError):
        record = json.loads(line)
        if isinstance(record, dict) and "oi-server ready" in (record.get("msg"), record.get("message")):
            return record
    return None


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


@contextlib.asynccontextmanager
async def oi_server(
    *args: str,
    cpu: str | None = None,
    ready_timeout_s: float = CHILD_READY_S,
    grace_s: float = 8.0,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[Server]:
    """``oi-server ARGS`` (``python -m server``) in its own process, as a user runs it; yields once
    its "oi-server ready" line is logged (on stderr; the later lines are read and dropped). At
    exit: SIGTERM (the service's own shutdown), then a kill after ``grace_s``."""
    process = await spawn_module(
        "server",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    pin(process.pid, cpu)
    assert process.stderr is not None
    drain: asyncio.Task[None] | None = None
    try:
        ready = None
        last = b""
        while ready is None:
            line = await asyncio.wait_for(process.stderr.readline(), ready_timeout_s)
            if not line:
                raise RuntimeError(f"oi-server {' '.join(args)} ended before it was ready: {last.decode()}")
            ready, last = is_ready_line(line), line
        drain = asyncio.create_task(_drain(process.stderr))
        yield Server(process, ready)
    finally:
        await stop(process, grace_s=grace_s)
        if drain is not None:
            drain.cancel()


async def stdin_lines() -> AsyncIterator[str]:
    """Lines from this process's stdin (a child's commands); ends at EOF."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            return
        yield line.decode().strip()


def emit(document: dict[str, object]) -> None:
    """One JSON line to the parent."""
    sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def run_json(
    module: str, *args: str, timeout_s: float = 120.0, cpu: str | None = LOAD_CPU
) -> dict[str, object]:
    """Run ``python -m module args`` to completion; its last stdout line is a JSON object."""
    process = await spawn_module(
        module, *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE
    )
    pin(process.pid, cpu)
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    lines = out.decode().strip().splitlines()
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"{module} {' '.join(args)} failed (exit {process.returncode})")
    document = json.loads(lines[-1])
    assert isinstance(document, dict)
    return document
