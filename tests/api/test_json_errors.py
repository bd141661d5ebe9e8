"""The aiohttp internals ``server/api/json_errors.py`` relies on, checked against the installed
aiohttp, and the behaviour they give, through a raw socket.

When an aiohttp upgrade fails one of the first tests, read json_errors.py's docstring: the message
names what changed; adapt the module (or drop it, if aiohttp grew a public hook) before upgrading.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.http_exceptions import LineTooLong

from server.api.convert import PreparedSnapshot
from server.api.json_errors import JsonErrorProtocol, JsonErrorServer
from server.api.rest import MAX_FIELD_SIZE, MAX_LINE_SIZE, RestRunner, build_app
from server.core.hub import SnapshotHub
from server.core.model import Snapshot

CHANGED = f"aiohttp {aiohttp.__version__} changed what server/api/json_errors.py relies on: "


def test_handle_error_is_still_the_error_answer_of_a_connection() -> None:
    params = list(inspect.signature(web.RequestHandler.handle_error).parameters)
    assert params == ["self", "request", "status", "exc", "message"], CHANGED + f"handle_error{params}"
    # the connection answers its parser's errors through handle_error (via _make_error_handler)
    source = inspect.getsource(web.RequestHandler)
    assert source.count("self.handle_error(") >= 2, CHANGED + "RequestHandler no longer calls handle_error"
    slots = web.RequestHandler.__slots__
    assert "max_line_size" in slots and "max_field_size" in slots, CHANGED + "RequestHandler limits"


def test_app_runner_still_builds_its_server_in_make_server() -> None:
    assert "_make_server" in web.BaseRunner.__abstractmethods__, CHANGED + "BaseRunner._make_server"
    assert inspect.iscoroutinefunction(web.AppRunner._make_server), CHANGED + "AppRunner._make_server"
    source = inspect.getsource(web.AppRunner._make_server)
    assert "self._kwargs" in source, CHANGED + "AppRunner no longer passes self._kwargs to its server"
    params = inspect.signature(web.Server).parameters
    assert {"handler", "request_factory", "handler_cancellation", "loop", "kwargs"} <= set(params), (
        CHANGED + f"web.Server{list(params)}"
    )


def test_line_too_long_still_carries_its_limit_second() -> None:
    assert LineTooLong("line", 4096, "5000").args[1] == 4096, CHANGED + "LineTooLong.args"


async def test_a_runner_serves_json_error_connections() -> None:
    runner = RestRunner(build_app(SnapshotHub(PreparedSnapshot(Snapshot(built_at_ms=1)))))
    await runner.setup()
    try:
        assert isinstance(runner.server, JsonErrorServer), CHANGED + "the runner's server"
        protocol = runner.server()
        assert isinstance(protocol, JsonErrorProtocol)
        assert (protocol.max_line_size, protocol.max_field_size) == (MAX_LINE_SIZE, MAX_FIELD_SIZE)
    finally:
        await runner.cleanup()


@pytest.fixture
async def port() -> AsyncIterator[int]:
    runner = RestRunner(build_app(SnapshotHub(PreparedSnapshot(Snapshot(built_at_ms=1)))))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield int(runner.addresses[0][1])
    await runner.cleanup()


async def raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], dict[str, object]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 5)  # the connection is closed after the answer
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


@pytest.mark.parametrize(
    ("request_bytes", "status", "fragment"),
    [
        (b"NOT HTTP AT ALL\r\n\r\n", 400, "malformed HTTP request"),
        (b"GET /v1/open-interest HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400, "malformed HTTP request"),
        (b"GET /" + b"a" * (MAX_LINE_SIZE + 10) + b" HTTP/1.1\r\n\r\n", 414, "request line over"),
        (b"GET / HTTP/1.1\r\nX: " + b"v" * (MAX_FIELD_SIZE + 10) + b"\r\n\r\n", 431, "headers too large"),
    ],
)
async def test_parser_errors_are_answered_with_the_envelope(
    port: int, request_bytes: bytes, status: int, fragment: str
) -> None:
    got, headers, body = await raw_exchange(port, request_bytes)
    assert got == status and headers["content-type"].startswith("application/json")
    assert body["status"] == "error"  # and the server closed the connection: raw_exchange read to EOF
    error = body["error"]
    assert isinstance(error, dict) and fragment in error["message"]
