"""The gRPC front door: a thin servicer over the snapshot hub, plus health and reflection.

Responses are pre-serialized bytes from ``PreparedSnapshot`` (built once per snapshot version), so
the methods are registered with a pass-through serializer instead of subclassing the generated
``OpenInterestServiceServicer``; the generated descriptors still drive reflection and clients.

``WatchOpenInterest`` follows grpc health's ``Watch``: each stream remembers the last version it
saw and the last bytes it sent, never a queue. While a slow reader's write is blocked by flow
control, newer versions simply replace each other; when it wakes it sends the newest only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, NoReturn, TypeVar

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from server.api.convert import PreparedSnapshot
from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.api.history import HistoryAccess, HistoryNotFound, fetch, history_pb, history_query
from server.api.signal_query import signals_query
from server.api.signals import CROWDING_OF_PB, SIGNAL_OF_PB
from server.api.sources import sources_pb
from server.api.validation import (
    InvalidArgument,
    decode_request,
    normalize_source,
    normalize_symbol,
    normalize_watch_symbols,
    unknown_symbol_message,
)
from server.core.hub import HubClosed, SnapshotHub
from server.core.metrics import GRPC, Metrics
from server.core.sources import SourceStatusView
from server.history.model import HistoryUnavailable

log = logging.getLogger("oi.grpc")

SERVICE_NAME: Final = pb.DESCRIPTOR.services_by_name["OpenInterestService"].full_name
HEALTH_SERVICE_NAMES: Final = ("", SERVICE_NAME)
# Each open stream costs a coroutine and one HTTP/2 window of buffered bytes (~25 KB); 20,000
# streams is ~0.5 GB, the most one process should hold before refusing more.
DEFAULT_MAX_WATCH_STREAMS: Final = 20_000
# how long a failed stream write waits for gRPC core to report the call's end (see
# ``write_or_await_cancel``); core reports it on the same turn of the event loop or the next few
CALL_END_GRACE_S: Final = 5.0
MAX_REQUEST_BYTES: Final = 64 * 1024  # 1,000 symbols of 20 characters is ~22 KB; more is abuse


def server_options(max_watch_streams: int = DEFAULT_MAX_WATCH_STREAMS) -> list[tuple[str, int]]:
    """Channel arguments of our gRPC server (message caps, socket and HTTP/2 settings).

    ``grpc.server.max_pending_requests{,_hard_limit}``: grpc.aio takes new calls from gRPC core
    one at a time, between the event loop's other work (sending messages to open streams). Core
    queues the calls that arrive meanwhile and, past 1,000 queued calls, refuses new ones at
    random (random early detection), every one past 3,000. When 5,000 watchers reconnect at the
    same instant (a load balancer restart) a third of them were refused that way
    (``bench/fanout.py``, reconnect storm). A queued call costs a few hundred bytes, and the
    servicer refuses watch streams past ``max_watch_streams`` anyway, so core may queue that many.
    """
    pending = max(max_watch_streams, 3_000)
    return [
        ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
        ("grpc.so_reuseport", 0),
        ("grpc.server.max_pending_requests", pending),
        ("grpc.server.max_pending_requests_hard_limit", pending),
    ]


async def abort(context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    """End the call with ``code``; ``context.abort`` raises, this says so to the type checker."""
    await context.abort(code, message)
    raise AssertionError("context.abort returned")


M = TypeVar("M", bound=Message)


async def decoded(message_type: type[M], raw: bytes, context: grpc.aio.ServicerContext) -> M:
    """The request as a ``message_type``; undecodable bytes end the call with INVALID_ARGUMENT.

    Decoding here rather than in grpc's request deserializer, where a DecodeError becomes
    UNKNOWN ("Unexpected <class DecodeError>") and a logged traceback.
    """
    try:
        return decode_request(message_type, raw)
    except InvalidArgument as error:
        await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(error))


def decode_or_none(message_type: type[M], raw: bytes) -> M | None:
    """The hot path's decode: no coroutine; None sends the caller to ``decoded`` for the error."""
    try:
        return decode_request(message_type, raw)
    except InvalidArgument:
        return None


SourceBoard = Callable[[], Sequence[SourceStatusView]]


def no_sources() -> Sequence[SourceStatusView]:
    return ()


class OpenInterestService:
    def __init__(
        self,
        hub: SnapshotHub[PreparedSnapshot],
        sources: SourceBoard = no_sources,
        *,
        max_watch_streams: int = DEFAULT_MAX_WATCH_STREAMS,
        history: HistoryAccess | None = None,
    ) -> None:
        self._hub = hub
        self._sources = sources
        self._history = history if history is not None else HistoryAccess()
        self._max_watch_streams = max_watch_streams
        self.watch_streams = 0
        self._unfinished_watches = 0  # watch calls whose final status gRPC has not yet sent
        self._watches_finished = asyncio.Event()
        self._watches_finished.set()

    @property
    def unfinished_watches(self) -> int:
        return self._unfinished_watches

    async def watches_finished(self, timeout_s: float) -> int:
        """Wait (at most ``timeout_s``) until every watch call has sent its final status; returns
        how many had not.

        Shutdown ends the watch streams (the hub closes) and waits here before gRPC's own shutdown
        starts, because of how gRPC core closes a connection: once it has sent GOAWAY, it closes
        the connection as soon as the connection's last stream is over, and a stream's status
        written at that moment could be cut off (a reset, data not yet sent discarded): the client
        then sees UNAVAILABLE instead of the clean end. Statuses sent before GOAWAY come ahead of
        its PING in the byte stream, so by the time the client acknowledges the PING and the
        connection closes, it has read them."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._watches_finished.wait(), timeout_s)
        return self._unfinished_watches

    def _watch_started(self, context: grpc.aio.ServicerContext) -> None:
        self._unfinished_watches += 1
        self._watches_finished.clear()
        context.add_done_callback(self._watch_done)

    def _watch_done(self, _context: grpc.aio.ServicerContext) -> None:
        """gRPC calls this once the call is over: its status sent, or the client gone."""
        self._unfinished_watches -= 1
        if self._unfinished_watches == 0:
            self._watches_finished.set()

    async def list_sources(self, raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
        await decoded(pb.ListSourcesRequest, raw, context)
        return sources_pb(self._sources(), time.time_ns() // 1_000_000).SerializeToString()

    async def get_open_interest(self, raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
        request = decode_or_none(pb.GetOpenInterestRequest, raw) or await decoded(
            pb.GetOpenInterestRequest, raw, context
        )
        prepared = self._hub.latest
        if request.symbol == "":
            return prepared.all_pb
        cached = prepared.one_symbol_pb(request.symbol)  # a well-formed, upper-case, known symbol
        if cached is not None:
            return cached
        try:
            symbol = normalize_symbol(request.symbol)
        except InvalidArgument as error:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(error))
        payload = prepared.one_symbol_pb(symbol)
        if payload is None:
            await abort(context, grpc.StatusCode.NOT_FOUND, self._unknown(prepared, symbol))
        return payload

    def _unknown(self, prepared: PreparedSnapshot, symbol: str) -> str:
        """The NOT_FOUND detail for ``symbol``: unknown, or (before any source delivered) no data yet."""
        served = bool(prepared.rows)
        delivered = served or any(v.last_success_ms is not None for v in self._sources())
        return unknown_symbol_message(symbol, served=served, delivered=delivered)

    async def list_markets(self, raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
        request = await decoded(pb.ListMarketsRequest, raw, context)
        try:
            if not request.symbol:
                raise InvalidArgument("symbol is required")
            symbol = normalize_symbol(request.symbol)
            source = normalize_source(request.source) if request.source else None
        except InvalidArgument as error:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(error))
        prepared = self._hub.latest
        payload = prepared.markets_pb(symbol, source)
        if payload is None:
            await abort(context, grpc.StatusCode.NOT_FOUND, self._unknown(prepared, symbol))
        return payload

    async def get_symbol_stats(self, raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
        request = await decoded(pb.GetSymbolStatsRequest, raw, context)
        prepared = self._hub.latest
        if not request.symbol:
            return prepared.stats_message(None)
        try:
            symbol = normalize_symbol(request.symbol)
        except InvalidArgument as error:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(error))
        if symbol not in prepared.by_symbol:
            await abort(context, grpc.StatusCode.NOT_FOUND, self._unknown(prepared, symbol))
        return prepared.stats_message((symbol,))

    async def get_history(self, raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
        """API.md section 6 over gRPC: the same validation and answers as ``GET /v1/history``."""
        request = await decoded(pb.GetHistoryRequest, raw, context)
        try:
            query = history_query(
                symbol=request.symbol,
                interval=request.interval,
                source=request.source,
                start_ms=request.start if request.HasField("start") else None,
                end_ms=request.end if request.HasField("end") else None,
                limit=request.limit if request.HasField("limit") else None,
            )
        except InvalidArgument as error:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(error))
        try:
            candles = await fetch(self._history, query)
        except HistoryNotFound as error:
            await abort(context, grpc.StatusCode.NOT_FOUND, str(error))
        except HistoryUnavailable as error:
            await abort(context, grpc.StatusCode.UNAVAILABLE, (str(error) or "history unavailable")[:300])
        return history_pb(query, candles, time.time_ns() // 1_000_000).SerializeToString()

    async def watch_symbol_stats(self, raw: bytes, context: grpc.aio.ServicerContext) -> None:
        request = await decoded(pb.WatchSymbolStatsRequest, raw, context)
        try:
            symbols = normalize_watch_symbols(list(request.symbols))
        except InvalidArgument as error:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(error))
        await self._conflated(
            context, lambda prepared: prepared.stats_symbols_pb(symbols), lambda p: p.stats_message(symbols)
        )

    async def get_signals(self, raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
        request = await decoded(pb.GetSignalsRequest, raw, context)
        try:
            signal = SIGNAL_OF_PB.get(request.signal) if request.signal else None
            crowding = CROWDING_OF_PB.get(request.crowding) if request.crowding else None
            if request.signal and signal is None:
                raise InvalidArgument(f"unknown signal {request.signal}")
            if request.crowding and crowding is None:
                raise InvalidArgument(f"unknown crowding {request.crowding}")
            query = signals_query(
                request.window,
                None if signal is None else signal.value,
                None if crowding is None else crowding.value,
                request.limit or None,
            )
        except InvalidArgument as error:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(error))
        return self._hub.latest.signals_pb(query.window, query.signal, query.crowding, query.limit)

    async def watch_signals(self, raw: bytes, context: grpc.aio.ServicerContext) -> None:
        request = await decoded(pb.WatchSignalsRequest, raw, context)
        try:
            window = signals_query(request.window, None, None, None).window
            symbols = normalize_watch_symbols(list(request.symbols))
        except InvalidArgument as error:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(error))
        await self._conflated(
            context,
            lambda prepared: prepared.signal_labels(window, symbols),
            lambda prepared: prepared.signals_watch_message(window, symbols),
        )

    async def _conflated(
        self,
        context: grpc.aio.ServicerContext,
        part_of: Callable[[PreparedSnapshot], bytes],
        message_of: Callable[[PreparedSnapshot], bytes],
    ) -> None:
        """Write the newest message whenever a snapshot changes this stream's part (``part_of``),
        never a backlog: the stream keeps one version number and the last part it sent."""
        if self.watch_streams >= self._max_watch_streams:
            await abort(
                context,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"too many watch streams ({self._max_watch_streams} open); retry later",
            )
        self.watch_streams += 1
        self._watch_started(context)
        try:
            version, prepared = self._hub.version, self._hub.latest
            last_sent: bytes | None = None
            while True:
                part = part_of(prepared)
                if part != last_sent:
                    last_sent = part
                    await write_or_await_cancel(context, message_of(prepared))
                try:
                    version, prepared = await self._hub.wait_newer(version)
                except HubClosed:
                    return
        finally:
            self.watch_streams -= 1

    async def watch_open_interest(self, raw: bytes, context: grpc.aio.ServicerContext) -> None:
        request = await decoded(pb.WatchOpenInterestRequest, raw, context)
        try:
            symbols = normalize_watch_symbols(list(request.symbols))
        except InvalidArgument as error:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(error))
        await self._conflated(
            context, lambda prepared: prepared.watch_symbols_pb(symbols), lambda p: p.watch_message(symbols)
        )


async def write_or_await_cancel(context: grpc.aio.ServicerContext, message: bytes) -> None:
    """Write one message of a server stream; if the client has gone, end quietly.

    A write fails (grpc's ``ExecuteBatchError``) when the call is over: the client cancelled, its
    deadline passed or its connection dropped. gRPC core reports the end of the call separately and
    grpc.aio then cancels the handler's task, logging that at DEBUG. The two reports race: when the
    failed write reaches grpc.aio first, it logs "ExecuteBatchError raised in core by servicer
    method" at ERROR with a traceback. So a failed write waits here for that cancellation (it
    follows within milliseconds) and re-raises, for grpc to log, only if none comes.

    The watch methods are coroutines that write through ``context.write`` rather than async
    generators: for a generator, grpc.aio writes itself and the handler never sees the failure.
    """
    try:
        await context.write(message)
    except Exception:
        await asyncio.sleep(CALL_END_GRACE_S)  # core's cancellation interrupts this: the usual end
        raise


R = TypeVar("R")
Method = Callable[[bytes, grpc.aio.ServicerContext], Awaitable[R]]


def final_code(context: grpc.aio.ServicerContext, error: BaseException | None) -> str:
    """The status a call ended with, by name (``OK``, ``NOT_FOUND``, ...): what ``abort`` set,
    ``CANCELLED`` when the client went away, ``UNKNOWN`` for an exception grpc reports as such."""
    if error is None:
        return "OK"
    if isinstance(error, grpc.aio.AbortError):
        code = context.code()
        return code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    if isinstance(error, asyncio.CancelledError):
        return "CANCELLED"
    return "UNKNOWN"


def counted(name: str, method: Method[R], metrics: Metrics) -> Method[R]:
    """``method`` counted in ``metrics`` by its final status, with its duration: one coroutine
    frame and a dict update per call (~1 µs of the ~160 µs a unary call costs). A watch stream
    (a coroutine writing its messages) counts once, when it ends, with how long it was open."""
    answered = metrics.route(GRPC, name).answered
    clock = time.perf_counter

    async def call(raw: bytes, context: grpc.aio.ServicerContext) -> R:
        started = clock()
        try:
            reply = await method(raw, context)
        except BaseException as error:
            answered(final_code(context, error), clock() - started)
            raise
        answered("OK", clock() - started)
        return reply

    return call


def add_open_interest_service(
    server: grpc.aio.Server, service: OpenInterestService, metrics: Metrics | None = None
) -> None:
    """Register the service with bytes pass-through responses (see the module docstring); with
    ``metrics``, every call is counted there by method and final status."""
    unary: dict[str, Method[bytes]] = {
        "GetOpenInterest": service.get_open_interest,
        "ListSources": service.list_sources,
        "ListMarkets": service.list_markets,
        "GetSymbolStats": service.get_symbol_stats,
        "GetHistory": service.get_history,
        "GetSignals": service.get_signals,
    }
    streaming: dict[str, Method[None]] = {
        "WatchOpenInterest": service.watch_open_interest,
        "WatchSymbolStats": service.watch_symbol_stats,
        "WatchSignals": service.watch_signals,
    }
    if metrics is not None:
        metrics.count_watch_streams(lambda: service.watch_streams)
        unary = {name: counted(name, method, metrics) for name, method in unary.items()}
        streaming = {name: counted(name, method, metrics) for name, method in streaming.items()}
    handlers = {
        **{name: grpc.unary_unary_rpc_method_handler(method) for name, method in unary.items()},
        **{name: grpc.unary_stream_rpc_method_handler(method) for name, method in streaming.items()},
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)


def add_health_and_reflection(server: grpc.aio.Server) -> health.aio.HealthServicer:
    """Standard health (starts NOT_SERVING) and server reflection for grpcurl-style clients."""
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )
    return health_servicer


async def set_serving(health_servicer: health.aio.HealthServicer, serving: bool) -> None:
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in HEALTH_SERVICE_NAMES:
        await health_servicer.set(name, status)
