"""The servers under test, each in its own process: ours, and the bare framework doing the least.

    python -m bench.servers grpc --impl ours|bare [--symbols 500]
    python -m bench.servers rest --impl ours|bare [--symbols 500]

Both implementations serve the same bytes: the bare ones get ``PreparedSnapshot``'s pre-serialized
responses and hand them out with no validation, no hub, no filters, so a ratio ours/bare is the
cost of our code over the framework's own floor.

- ``grpc --impl ours``: the real ``OpenInterestService`` over a ``SnapshotHub``, registered with
  ``add_open_interest_service`` on a server built with our ``server_options()`` (as ``App`` does).
- ``grpc --impl bare``: ``grpc.aio.server()`` with default options and one generic handler per
  method: unary returns fixed bytes (all symbols for an empty request, else the BTC bytes); the
  watch handler is the textbook one coroutine per stream waiting on a shared ``asyncio.Event``.
- ``rest --impl ours``: ``RestRunner(build_app(hub))``, as ``App`` serves it.
- ``rest --impl bare``: a plain aiohttp app whose handler returns the same body bytes.

The process prints ``{"port": N}`` when listening, then obeys commands on stdin, one per line:
``publish COUNT INTERVAL_S`` publishes COUNT new snapshots (every figure moved) at fixed wall-clock
instants, printing ``{"published_ms": T, "late_s": x}`` for each (the message's timestamp field is
T, the instant of publication, so a client computes publication→receipt delays from the message
alone), then ``{"done": true}``; ``streams`` prints the open watch streams. It exits at stdin EOF.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Final

import grpc
from aiohttp import web

from bench.common import emit, stdin_lines, synthetic_snapshot
from server.api.convert import PreparedSnapshot
from server.api.grpc_service import (
    SERVICE_NAME,
    OpenInterestService,
    add_health_and_reflection,
    add_open_interest_service,
    server_options,
)
from server.api.rest import RestRunner, build_app
from server.cli import settle_heap
from server.core.hub import SnapshotHub
from server.core.metrics import Metrics

HOST: Final = "127.0.0.1"
ONE_SYMBOL: Final = "BTC"
PUBLISH_LEAD_S: Final = 0.3  # the first publication of a burst, after its snapshots are built


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def prepared(symbols: int, *, at_ms: int, drift: int = 0) -> PreparedSnapshot:
    return PreparedSnapshot(synthetic_snapshot(symbols, built_at_ms=at_ms, drift=drift))


class BareBroadcast:
    """What a bare server does: the latest bytes, a version, and one Event to wake the streams."""

    def __init__(self, message: bytes) -> None:
        self.message = message
        self.version = 0
        self.event = asyncio.Event()
        self.streams = 0

    def publish(self, message: bytes) -> None:
        self.message = message
        self.version += 1
        event, self.event = self.event, asyncio.Event()
        event.set()

    async def watch(self, _raw: bytes, _context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        self.streams += 1
        try:
            version = self.version
            yield self.message
            while True:
                while self.version <= version:
                    await self.event.wait()
                version = self.version
                yield self.message
        finally:
            self.streams -= 1


class Served:
    """The state one server process publishes from, whichever the implementation."""

    def __init__(self, symbols: int) -> None:
        self.symbols = symbols
        self.current = prepared(symbols, at_ms=now_ms())
        self.hub: SnapshotHub[PreparedSnapshot] = SnapshotHub(self.current)
        self.bare = BareBroadcast(self.current.all_pb)
        self.service = OpenInterestService(self.hub)
        self.one_pb = self.current.one_symbol_pb(ONE_SYMBOL) or b""
        self.one_json = self.current.symbol_json(ONE_SYMBOL) or b""

    def publish(self, snapshot: PreparedSnapshot) -> None:
        self.current = snapshot
        self.hub.publish(snapshot)
        self.bare.publish(snapshot.all_pb)

    @property
    def streams(self) -> int:
        return self.service.watch_streams + self.bare.streams

    async def publish_burst(self, count: int, interval_s: float) -> None:
        """``count`` snapshots at fixed instants; each is built before its instant, so the delay a
        client sees is the fan-out's, not the snapshot build's."""
        start_ms = now_ms() + int(PUBLISH_LEAD_S * 1000)
        planned = [start_ms + int(i * interval_s * 1000) for i in range(count)]
        snapshots = [prepared(self.symbols, at_ms=at, drift=i + 1) for i, at in enumerate(planned)]
        for at_ms, snapshot in zip(planned, snapshots, strict=True):
            await asyncio.sleep(max(0.0, at_ms / 1000 - time.time()))
            late_s = time.time() - at_ms / 1000
            self.publish(snapshot)
            emit({"published_ms": at_ms, "late_s": round(late_s, 6)})
        emit({"done": True})


async def commands(served: Served) -> None:
    async for line in stdin_lines():
        words = line.split()
        if not words:
            continue
        if words[0] == "publish":
            await served.publish_burst(int(words[1]), float(words[2]))
        elif words[0] == "streams":
            emit({"streams": served.streams})


def bare_grpc_server(served: Served) -> grpc.aio.Server:
    async def get(raw: bytes, _context: grpc.aio.ServicerContext) -> bytes:
        return served.one_pb if raw else served.current.all_pb

    handlers = {
        "GetOpenInterest": grpc.unary_unary_rpc_method_handler(get),
        "WatchOpenInterest": grpc.unary_stream_rpc_method_handler(served.bare.watch),
    }
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    return server


def our_grpc_server(served: Served) -> grpc.aio.Server:
    server = grpc.aio.server(options=server_options())
    add_open_interest_service(server, served.service, Metrics())  # counted, as App serves it
    add_health_and_reflection(server)
    return server


async def run_grpc(impl: str, symbols: int) -> None:
    served = Served(symbols)
    server = our_grpc_server(served) if impl == "ours" else bare_grpc_server(served)
    port = server.add_insecure_port(f"{HOST}:0")
    await server.start()
    if impl == "ours":
        settle_heap()  # as oi-server does once started
    emit({"port": port, "all_bytes": len(served.current.all_pb), "one_bytes": len(served.one_pb)})
    try:
        await commands(served)
    finally:
        served.hub.close()
        await server.stop(0.5)


def bare_rest_app(served: Served) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        body = served.one_json if request.query_string else served.current.all_json
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/v1/open-interest", handle)
    return app


async def run_rest(impl: str, symbols: int) -> None:
    served = Served(symbols)
    runner = (
        RestRunner(build_app(served.hub), access_log=None)
        if impl == "ours"
        else web.AppRunner(bare_rest_app(served), access_log=None)
    )
    await runner.setup()
    await web.TCPSite(runner, HOST, 0).start()
    if impl == "ours":
        settle_heap()  # as oi-server does once started
    port = int(runner.addresses[0][1])
    emit({"port": port, "all_bytes": len(served.current.all_json), "one_bytes": len(served.one_json)})
    try:
        await commands(served)
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.servers")
    parser.add_argument("proto", choices=("grpc", "rest"))
    parser.add_argument("--impl", choices=("ours", "bare"), required=True)
    parser.add_argument("--symbols", type=int, default=500)
    args = parser.parse_args(argv)
    runner = run_grpc if args.proto == "grpc" else run_rest
    asyncio.run(runner(args.impl, args.symbols))


if __name__ == "__main__":
    main()
