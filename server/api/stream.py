"""``GET /v1/stream[?symbols=BTC,ETH]``: live symbol statistics as Server-Sent Events.

A browser's ``EventSource`` (the dashboard) and ``curl -N`` read it; gRPC's watch is not reachable
from a page. Every event is ``event: symbols``, ``id:`` the snapshot version, and one ``data:`` line
holding exactly the ``GET /v1/symbols`` body (API.md section 5) for the requested symbols (none =
every symbol), so the page needs one parser for the stream and the REST answer.

It conflates like ``WatchOpenInterest``: each stream keeps one version number and the data part it
last sent, never a queue. While a slow reader's write waits on the socket, newer snapshots replace
each other; when the write returns the stream sends the newest only. A snapshot that leaves the
requested symbols' data unchanged sends nothing; a comment line every ``HEARTBEAT_S`` keeps idle
proxies from closing the connection. Bodies are built once per (version, filter) and shared by every
stream (``PreparedSnapshot.symbols_json`` for all symbols; ``FilterBodies`` for a named set).

Limits: the gRPC watch's 1,000 symbols per stream (``symbols`` may repeat or list them
comma-separated; a request line over 4 KB is refused with 414 first), and at most
``--max-watch-streams`` event streams open at once, counted apart from the gRPC watch streams
(each front door has its own budget); past it, 429. A reader that went away is noticed at its
stream's next write, so its slot is free again within ``HEARTBEAT_S``. At shutdown every stream
ends cleanly (the hub closes, or the REST server's shutdown signal fires first).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from typing import Final

from aiohttp import web

from server.api.convert import PreparedSnapshot, ok_prefix
from server.api.validation import InvalidArgument, normalize_watch_symbols
from server.core.hub import HubClosed, SnapshotHub

HEARTBEAT_S: Final = 15.0
RETRY_MS: Final = 3000  # how long a browser waits before reconnecting after the stream ended
STREAM_PATH: Final = "/v1/stream"
DEFAULT_MAX_STREAMS: Final = 20_000  # the gRPC watch's default (--max-watch-streams)
MAX_CACHED_FILTERS: Final = 4096  # distinct named filters whose bodies are kept for the current version
STREAM_PARAMS: Final = frozenset({"symbols"})


class StreamLimits:
    """The open-stream budget and the count of open streams (one per REST application)."""

    def __init__(self, max_streams: int = DEFAULT_MAX_STREAMS) -> None:
        self.max_streams = max_streams
        self.open = 0
        self.closing = asyncio.Event()


class FilterBodies:
    """The ``/v1/symbols``-shaped body of one version for each named filter, built once: the first
    stream that wakes for a version builds it, every other stream with the same filter reuses it."""

    def __init__(self) -> None:
        self._bodies: dict[tuple[str, ...], tuple[int, bytes]] = {}

    def body(self, version: int, prepared: PreparedSnapshot, symbols: tuple[str, ...] | None) -> bytes:
        if symbols is None:
            every = prepared.symbols_json(None)  # cached by the snapshot itself; never None for all
            return every if every is not None else ok_prefix(prepared.timestamp_ms) + b"{}}"
        cached = self._bodies.get(symbols)
        if cached is not None and cached[0] == version:
            return cached[1]
        chosen = sorted(
            (prepared.pieces[s] for s in symbols if s in prepared.pieces),
            key=lambda p: (-p.row.total_cents, p.row.symbol),
        )
        data = b"{" + b",".join(p.stats_json for p in chosen) + b"}"
        body = ok_prefix(prepared.timestamp_ms) + data + b"}"
        if len(self._bodies) >= MAX_CACHED_FILTERS:
            self._bodies.clear()  # bounded; streams simply rebuild what they need
        self._bodies[symbols] = (version, body)
        return body


HUB: Final = web.AppKey("stream_hub", SnapshotHub[PreparedSnapshot])
LIMITS: Final = web.AppKey("stream_limits", StreamLimits)
BODIES: Final = web.AppKey("stream_bodies", FilterBodies)


def requested_symbols(request: web.Request) -> tuple[str, ...] | None:
    """The stream's filter (None = every symbol); InvalidArgument for anything malformed."""
    unknown = sorted(set(request.query) - STREAM_PARAMS)
    if unknown:
        raise InvalidArgument(f"unknown query parameter {unknown[0][:40]!r}; accepted: 'symbols'")
    raw = [s for value in request.query.getall("symbols", []) for s in value.split(",") if s != ""]
    return normalize_watch_symbols(raw)


def event(version: int, body: bytes) -> bytes:
    """One SSE event; our JSON never contains a newline, so one ``data:`` line carries it."""
    return b"event: symbols\nid: %d\ndata: %s\n\n" % (version, body)


async def stream(request: web.Request) -> web.StreamResponse:
    """The event stream of one reader (errors become the API.md envelope in ``rest.answered``)."""
    try:
        symbols = requested_symbols(request)
    except InvalidArgument as error:
        raise web.HTTPBadRequest(text=str(error)) from None
    limits = request.app[LIMITS]
    if limits.open >= limits.max_streams:
        raise web.HTTPTooManyRequests(text=f"too many event streams ({limits.max_streams} open); retry later")
    hub = request.app[HUB]
    bodies = request.app[BODIES]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # nginx: pass events through as they come
        }
    )
    cors_headers(request, response)
    limits.open += 1
    try:
        await response.prepare(request)
        await response.write(b"retry: %d\n\n" % RETRY_MS)
        version, prepared = hub.version, hub.latest
        last_sent: bytes | None = None
        while True:
            body = bodies.body(version, prepared, symbols)
            part = body[len(ok_prefix(prepared.timestamp_ms)) :]
            if part != last_sent:
                last_sent = part
                await response.write(event(version, body))
            newer = await next_version(hub, version, limits.closing)
            if newer is Wake.END:
                return response
            if newer is Wake.HEARTBEAT:
                await response.write(b": keep-alive\n\n")
                continue
            version, prepared = newer
    except ConnectionError:
        return response  # the reader went away
    finally:
        limits.open -= 1


def cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """The CORS headers of ``--cors-origin``, set before the headers are sent: the REST runner adds
    them to an answer after its handler returns, too late for a stream."""
    from server.api.rest import CORS  # noqa: PLC0415 (rest imports this module to route it)

    policy = request.app.get(CORS)
    if policy is None:
        return
    allowed = policy.allow_origin(request.headers.get("Origin"))
    if allowed is not None:
        response.headers["Access-Control-Allow-Origin"] = allowed
    if not policy.any_origin:
        response.headers.add("Vary", "Origin")


class Wake(enum.Enum):
    HEARTBEAT = "heartbeat"  # nothing new for HEARTBEAT_S
    END = "end"  # the hub closed or the server is shutting down


async def next_version(
    hub: SnapshotHub[PreparedSnapshot], seen: int, closing: asyncio.Event
) -> tuple[int, PreparedSnapshot] | Wake:
    """The newest (version, snapshot) after ``seen``, or why the stream woke without one."""
    if closing.is_set():
        return Wake.END
    waiter = asyncio.ensure_future(hub.wait_newer(seen))
    stop = asyncio.ensure_future(closing.wait())
    try:
        done, _ = await asyncio.wait({waiter, stop}, timeout=HEARTBEAT_S, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiter, stop):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    if waiter in done:
        try:
            return waiter.result()
        except HubClosed:
            return Wake.END
    if stop in done:
        return Wake.END
    return Wake.HEARTBEAT


async def end_streams(app: web.Application) -> None:
    """The REST server's shutdown signal: every open stream ends now, not at the shutdown timeout."""
    app[LIMITS].closing.set()


def add_stream_route(
    app: web.Application, hub: SnapshotHub[PreparedSnapshot], max_streams: int = DEFAULT_MAX_STREAMS
) -> None:
    """Serve ``GET /v1/stream`` on ``app`` from ``hub``."""
    app[HUB] = hub
    app[LIMITS] = StreamLimits(max_streams)
    app[BODIES] = FilterBodies()
    app.router.add_get(STREAM_PATH, stream, allow_head=False)
    app.on_shutdown.append(end_streams)
