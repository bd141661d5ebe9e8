"""Answering what aiohttp's HTTP parser rejects with our JSON envelope: the one place that leans
on aiohttp internals.

aiohttp answers a request its parser cannot read (bad request line, invalid header characters, a
bogus ``Content-Length`` or ``Transfer-Encoding``, a line or header over the limits), and an
exception that escaped the application, itself: in ``text/plain``, or an HTML page for ``Accept:
text/html``, before any application code runs. aiohttp 3.14 has no public hook for those answers
(checked: ``web.AppRunner``, ``web.Server`` and ``web.RequestHandler`` take no error handler, and
middlewares never see parser errors). So this module relies on, and only on:

1. ``web.RequestHandler.handle_error(request, status, exc, message)``: the method the connection
   calls for each such answer (public name, undocumented as an extension point);
2. ``web.AppRunner._make_server()`` (overridden) and the runner's ``_kwargs`` (read): where the
   runner builds the ``web.Server`` its sites listen with, from the handler keyword arguments;
3. ``LineTooLong.args == (line, limit, actual_size)``: the only way to tell 414 from 431.

``tests/api/test_json_errors.py`` checks each of these against the installed aiohttp and fails
with a message naming this module when an upgrade changes one: read it before upgrading aiohttp.
Everything else here is public API (``web.Server``'s constructor and public attributes,
``web.RequestHandler``'s constructor and ``max_line_size`` / ``max_field_size``). Nothing is
patched globally: other aiohttp servers in the process are unaffected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong

log = logging.getLogger("oi.rest")

LowLevelHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
Respond = Callable[[int, str], web.StreamResponse]  # (status, one-line message) -> the envelope


def parse_error_status(exc: BaseException | None, *, max_line_size: int, max_field_size: int) -> int:
    """The status for a request aiohttp's parser rejected: 414, 431, or 400 for anything else."""
    if isinstance(exc, LineTooLong):
        limit = exc.args[1] if len(exc.args) > 1 else None
        # Both limits are checked by the same exception; only the limit tells them apart.
        if limit == max_line_size and max_line_size != max_field_size:
            return 414
        return 431
    if isinstance(exc, HttpProcessingError) and exc.message.startswith("Too many headers"):
        return 431
    return 400


def parse_error_message(status: int, exc: BaseException | None, *, max_line_size: int) -> str:
    """A short, fixed-shape description: the parser's first line, never client bytes past 100."""
    if status == 414:
        return f"request line over {max_line_size} bytes"
    if status == 431:
        return "request headers too large or too many"
    detail = exc.message if isinstance(exc, HttpProcessingError) else ""
    detail = detail.strip().split("\n", 1)[0].rstrip(":").strip()
    return f"malformed HTTP request: {detail[:100] or 'unparseable'}"


class JsonErrorProtocol(web.RequestHandler):
    """aiohttp's HTTP/1 connection, answering what its parser rejects through ``respond``.

    ``handle_error`` is what aiohttp calls for a request its parser could not read (status 400)
    and for an exception that escaped the application (500, or 504 for a timeout): the base class
    answers in text/plain, or HTML for ``Accept: text/html``, and logs every one with a traceback.
    Here a client's malformed request is logged at debug level (anyone can send them, and each
    is answered), an escape from the application at error level, with the traceback, in the log
    only.
    """

    __slots__ = ("respond",)

    respond: Respond

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as the base class: a response is already on the wire
            raise ConnectionError("response already started; cannot send the error envelope")
        if status >= 500:
            log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
            text = "internal error" if status == 500 else "request timed out"
        else:
            status = parse_error_status(
                exc, max_line_size=self.max_line_size, max_field_size=self.max_field_size
            )
            text = parse_error_message(status, exc, max_line_size=self.max_line_size)
            log.debug("rejected malformed request from %s: %s", request.remote, exc)
        response = self.respond(status, text)
        response.force_close()  # the parser's state is unknown: never read another request from it
        return response


class JsonErrorServer(web.Server):
    """aiohttp's low-level server (the protocol factory a site listens with), making
    ``JsonErrorProtocol`` connections instead of plain ``RequestHandler`` ones.

    The loop and the connections' keyword arguments are kept here, as given, rather than read
    back from the base class."""

    def __init__(
        self,
        handler: LowLevelHandler,
        *,
        respond: Respond,
        loop: asyncio.AbstractEventLoop | None = None,
        request_factory: Any = None,
        handler_cancellation: bool = False,
        **protocol_kwargs: Any,
    ) -> None:
        super().__init__(
            handler,
            request_factory=request_factory,
            handler_cancellation=handler_cancellation,
            loop=loop,
            **protocol_kwargs,
        )
        self.respond = respond
        self.protocol_loop = loop or asyncio.get_running_loop()
        self.protocol_kwargs = protocol_kwargs

    def __call__(self) -> web.RequestHandler:
        protocol = JsonErrorProtocol(self, loop=self.protocol_loop, **self.protocol_kwargs)
        protocol.respond = self.respond
        return protocol


def unchanged(handler: LowLevelHandler) -> LowLevelHandler:
    return handler


class JsonErrorRunner(web.AppRunner):
    """An ``AppRunner`` whose connections answer aiohttp's own errors through ``respond``, and
    whose application handler is ``wrap``ped (to answer the application's errors the same way).

    Use it exactly as ``web.AppRunner`` (same arguments, sites, setup and cleanup)."""

    def __init__(
        self,
        app: web.Application,
        *,
        respond: Respond,
        wrap: Callable[[LowLevelHandler], LowLevelHandler] = unchanged,
        **kwargs: Any,
    ) -> None:
        super().__init__(app, **kwargs)
        self._respond = respond
        self._wrap = wrap

    async def _make_server(self) -> web.Server:
        # AppRunner's own server runs the app's startup hooks and freezes it; we keep its request
        # handler and factory (public attributes) and serve them with our protocol, under the
        # runner's keyword arguments (``_kwargs``: what AppRunner itself passes to its server).
        app_server = await super()._make_server()
        return JsonErrorServer(
            self._wrap(app_server.request_handler),
            respond=self._respond,
            request_factory=app_server.request_factory,
            handler_cancellation=app_server.handler_cancellation,
            **self._kwargs,
        )
