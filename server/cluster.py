"""``make cluster``: the scale-out split on one machine, in one command.

Starts NATS with JetStream if nothing answers at ``--bus`` (the ``nats-server`` binary, its store
under ``--data-dir``), then one collector polling the built-in simulator and two API replicas,
each an ``oi-server`` process of its own, and prints where each listens. Ctrl-C (or SIGTERM)
stops them all, replicas first. It is a demo and a smoke test, not a supervisor: a process that
exits takes the others down with it, with its last log lines shown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import signal
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from server import flags

NATS_BINARIES: Final = ("nats-server", "/usr/sbin/nats-server", "/usr/local/bin/nats-server")
READY_TIMEOUT_S: Final = 30.0


@dataclass
class Member:
    name: str
    process: asyncio.subprocess.Process
    ready: dict[str, object]
    log_tail: list[str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reachable(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


async def start_nats(bus: str, data_dir: Path) -> asyncio.subprocess.Process | None:
    """None when NATS already answers at ``bus``; else a nats-server of our own there."""
    parts = urlsplit(bus)
    host, port = parts.hostname or "127.0.0.1", parts.port or 4222
    if reachable(host, port):
        return None
    binary = next((b for b in NATS_BINARIES if shutil.which(b)), None)
    if binary is None:
        raise SystemExit(f"oi-cluster: no NATS at {bus} and no nats-server binary to start one")
    store = data_dir / "nats"
    store.mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        binary, "-a", host, "-p", str(port), "-js", "-sd", str(store),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        if reachable(host, port):
            print(f"started NATS with JetStream at {bus} (store {store})", flush=True)
            return process
        await asyncio.sleep(0.05)
    process.kill()
    raise SystemExit(f"oi-cluster: nats-server did not answer at {bus}")


async def start_member(name: str, args: Sequence[str]) -> Member:
    """An ``oi-server`` process; returns once it logged its ready line."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    tail: list[str] = []
    async with asyncio.timeout(READY_TIMEOUT_S):
        while line := await process.stderr.readline():
            text = line.decode(errors="replace").rstrip()
            tail = [*tail[-19:], text]
            with contextlib.suppress(ValueError):
                entry = json.loads(text)
                if entry.get("msg") == "oi-server ready":
                    member = Member(name, process, entry, tail)
                    asyncio.get_running_loop().create_task(_keep_tail(member))
                    return member
    raise SystemExit(f"oi-cluster: {name} exited before it was ready:\n" + "\n".join(tail))


async def _keep_tail(member: Member) -> None:
    assert member.process.stderr is not None
    async for line in member.process.stderr:
        member.log_tail = [*member.log_tail[-19:], line.decode(errors="replace").rstrip()]


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = flags.Parser(prog="oi-cluster", description=__doc__, formatter_class=flags.HelpFormatter)
    parser.add_argument(
        "--bus", default="nats://127.0.0.1:4222", help="NATS URL (started if nothing answers)"
    )
    parser.add_argument("--bus-bucket", default="oi_cluster_demo", help="the bucket the three share")
    parser.add_argument(
        "--base-port", type=flags.port, default=8090,
        help="collector HTTP on it; replica N: HTTP base+N, gRPC base+10+N (0 = any free ports)",
    )  # fmt: skip
    parser.add_argument("--replicas", type=flags.at_least_one, default=2)
    parser.add_argument("--poll-interval", type=flags.positive, default=2.0)
    parser.add_argument(
        "--history", default="none", help="postgresql://… shared by the collector and replicas"
    )
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--sim-full-scale", action="store_true")
    return parser.parse_args(argv)


async def run(options: argparse.Namespace) -> int:
    base = options.base_port

    def port(offset: int) -> int:
        return base + offset if base else free_port()

    nats_process = await start_nats(options.bus, options.data_dir)
    common = ["--bus", options.bus, "--bus-bucket", options.bus_bucket, "--history", options.history]
    members: list[Member] = []
    try:
        collector_args = [
            "--role", "collector", *common, "--simulate", "--poll-interval", str(options.poll_interval),
            "--http-port", str(port(0)),
            *(["--sim-full-scale"] if options.sim_full_scale else []),
        ]  # fmt: skip
        members.append(await start_member("collector", collector_args))
        for n in range(1, options.replicas + 1):
            replica_args = [
                "--role", "api", *common, "--http-port", str(port(n)), "--grpc-port", str(port(10 + n)),
            ]  # fmt: skip
            members.append(await start_member(f"replica {n}", replica_args))
        print(summary(members), flush=True)
        await until_stopped(members)
    finally:
        for member in reversed(members):  # replicas first, then the collector
            if member.process.returncode is None:
                member.process.send_signal(signal.SIGTERM)
        for member in reversed(members):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(member.process.wait(), 10)
            if member.process.returncode is None:
                member.process.kill()
        if nats_process is not None:
            nats_process.terminate()
            await nats_process.wait()
    return 0


def summary(members: Sequence[Member]) -> str:
    lines = ["oi-cluster ready:"]
    for member in members:
        ready = member.ready
        grpc = f", gRPC 127.0.0.1:{ready['grpc_port']}" if ready.get("grpc_port") else ""
        lines.append(f"  {member.name:10} http://127.0.0.1:{ready['http_port']}{grpc}")
    replica = members[1].ready if len(members) > 1 else members[0].ready
    lines.append(f"try: curl -s 'http://127.0.0.1:{replica['http_port']}/v1/open-interest?symbol=BTC'")
    lines.append(f"     curl -s http://127.0.0.1:{members[0].ready['http_port']}/metrics | grep oi_bus")
    lines.append("Ctrl-C stops all of them")
    return "\n".join(lines)


async def until_stopped(members: Sequence[Member]) -> None:
    """Until SIGINT/SIGTERM, or until a member exits (then say which, with its last lines)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    exits = {asyncio.create_task(m.process.wait()): m for m in members}
    stopping = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopping, *exits], return_when=asyncio.FIRST_COMPLETED)
    for task in done:
        if task in exits:
            member = exits[task]
            print(
                f"{member.name} exited ({member.process.returncode}):\n" + "\n".join(member.log_tail),
                flush=True,
            )
    stopping.cancel()
    for task in exits:
        task.cancel()


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(parse(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
