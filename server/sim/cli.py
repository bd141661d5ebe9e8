"""``oi-sim``: the exchange simulator alone; prints each venue's base URL and the control URL.

A start-up failure (busy control port, unknown host) is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from server import flags
from server.logs import configure
from server.preflight import StartupError, check_bindable
from server.sim.render import SIM_VENUES
from server.sim.server import SimCluster


def _venues(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [n for n in names if n not in SIM_VENUES]
    if unknown or not names:
        named = ", ".join(map(repr, unknown)) or "(none given)"
        raise argparse.ArgumentTypeError(f"no simulator for {named}; known: {', '.join(SIM_VENUES)}")
    return names


async def run(args: argparse.Namespace) -> None:
    check_bindable(args.host, args.control_port, what="control", port_flag="--control-port")
    cluster = SimCluster(
        venues=args.venues,
        host=args.host,
        control_port=args.control_port,
        seed=args.seed,
        full_scale=args.full_scale,
    )
    try:
        await cluster.start()
    except BaseException as error:
        await cluster.stop()
        if isinstance(error, OSError):  # the control port, taken since it was checked
            raise StartupError(str(error.strerror or error)) from None
        raise
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


def build_parser() -> argparse.ArgumentParser:
    parser = flags.Parser(
        prog="oi-sim",
        formatter_class=flags.HelpFormatter,
        description="Local HTTP servers speaking each venue's API, with a fault-control API.",
    )
    parser.add_argument(
        "--venues",
        type=_venues,
        metavar="A,B",
        help=f"comma-separated venues to simulate, from: {', '.join(SIM_VENUES)} (default: all)",
    )
    parser.add_argument(
        "--host",
        type=flags.host,
        default="127.0.0.1",
        help="listen address of every venue and of the control API (default: 127.0.0.1)",
    )
    parser.add_argument(
        "--control-port",
        type=flags.port,
        default=0,
        metavar="PORT",
        help="port of the control API; 0 = any free port, printed at start (default: 0)",
    )
    parser.add_argument(
        "--seed",
        type=flags.integer,
        metavar="N",
        help="seed of the random walk, for reproducible runs (default: random)",
    )
    parser.add_argument(
        "--full-scale",
        action="store_true",
        help="each venue's real market count (about 5,000 markets) instead of 20 coins (default: off)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure("warning")
    try:
        asyncio.run(run(args))
    except StartupError as error:
        print(f"oi-sim: cannot start: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
