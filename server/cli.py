"""``oi-server``: parse flags, configure logging, run the app until SIGTERM/SIGINT, exit 0."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from server.app import App
from server.config import Config, parse_config
from server.logs import configure

log = logging.getLogger("oi.cli")


async def serve(config: Config) -> None:
    app = App(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await app.start()
        await stop.wait()
        log.info("signal received; shutting down")
    finally:
        await app.stop()


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(argv)
    configure(config.log_level)
    try:
        asyncio.run(serve(config))
    except OSError as error:
        log.error("cannot start: %s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
