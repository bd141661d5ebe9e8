"""``oi-sim``: the exchange simulator alone; prints each venue's base URL and the control URL."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from server.logs import configure
from server.sim.render import SIM_VENUES
from server.sim.server import SimCluster


async def run(args: argparse.Namespace) -> None:
    cluster = SimCluster(
        venues=args.venues.split(",") if args.venues else None,
        host=args.host,
        control_port=args.control_port,
        seed=args.seed,
        full_scale=args.full_scale,
    )
    await cluster.start()
    print(f"control {cluster.control_url}", flush=True)
    for venue, url in cluster.urls.items():
        print(f"venue {venue} {url}", flush=True)
    print(
        "pass to oi-server: " + " ".join(f"--venue-url {v}={u}" for v, u in cluster.urls.items()), flush=True
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await cluster.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="oi-sim", description="Local HTTP servers speaking each venue's API."
    )
    parser.add_argument("--venues", help=f"comma-separated (default all: {','.join(SIM_VENUES)})")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--control-port", type=int, default=0)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--full-scale", action="store_true", help="each venue's real market count")
    args = parser.parse_args(argv)
    configure("warning")
    try:
        asyncio.run(run(args))
    except ValueError as error:
        print(f"oi-sim: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
