"""Hostile client input against the whole service (issue 6, item 5), over real sockets.

One ``App`` (simulator, two venues) serves the module. Hypothesis throws paths, query strings,
methods, headers and bodies at the REST shim, and symbol strings, symbol lists, raw bytes and
oversized messages at the gRPC service. The contract (API.md §1, §2):

- REST: every answer is 200 with data, or a 4xx ``application/json`` API.md envelope; never a 5xx,
  never HTML, never a traceback. That includes requests aiohttp's own HTTP parser rejects before
  any application code runs (``rest.RestRunner``), whose status then says what was wrong: 400,
  414 (request line), 431 (headers), 413 (declared body), 417 (``Expect:``).
- gRPC: OK, INVALID_ARGUMENT, NOT_FOUND or RESOURCE_EXHAUSTED (the 64 KiB request cap); never
  UNKNOWN or INTERNAL.
- After every example, both front doors still answer a normal request; and no client input ever
  makes the service poll anywhere but the configured venue URLs.

Malformed HTTP goes out through raw asyncio streams, because aiohttp's client refuses to send it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Collection, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, unquote_to_bytes

import aiohttp
import grpc
import pytest
import pytest_asyncio
from aiohttp import web
from google.protobuf.message import DecodeError, Message
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.api.gen.openinterest.v1 import open_interest_pb2_grpc as pb_grpc
from server.api.grpc_service import MAX_REQUEST_BYTES
from server.api.rest import MAX_FIELD_SIZE, MAX_HEADERS, MAX_LINE_SIZE, RestRunner
from server.app import App
from server.config import Config
from server.core.symbols import client_symbol

pytestmark = pytest.mark.asyncio(loop_scope="module")

SOURCES: Final = ("okx", "bybit")
ANSWER_TIMEOUT_S: Final = 5.0
SYMBOL: Final = re.compile(r"[A-Za-z0-9]{1,20}")
MAX_WATCH_SYMBOLS: Final = 1000
SERVICE: Final = "/openinterest.v1.OpenInterestService/"
TRACEBACK: Final = "Traceback (most recent call last)"

# The API.md error codes, per HTTP status, that a hostile request may legitimately get.
ERROR_CODES: Final = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    414: "URI_TOO_LONG",
    417: "EXPECTATION_FAILED",
    431: "HEADERS_TOO_LARGE",
}
GRPC_ACCEPTABLE: Final = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)

# Enough examples to hit every branch of each strategy, few enough for ~30 s on a shared 2-core box.
EXAMPLES: Final = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- the service under test -------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app() -> AsyncIterator[App]:
    service = App(Config(grpc_port=0, http_port=0, simulate=True, sources=SOURCES, poll_interval_s=1))
    await service.start()
    deadline = time.monotonic() + 15
    while not service.hub.latest.rows:
        assert time.monotonic() < deadline, "no data from the simulator within 15 s"
        await asyncio.sleep(0.05)
    yield service
    await service.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def channel(app: App) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as opened:
        yield opened


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stub(channel: grpc.aio.Channel) -> pb_grpc.OpenInterestServiceStub:
    return pb_grpc.OpenInterestServiceStub(channel)


# --- raw HTTP -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names; the last of a repeated header wins
    body: bytes


def http_request(
    method: bytes,
    target: bytes,
    headers: Sequence[tuple[bytes, bytes]] = (),
    body: bytes = b"",
    version: bytes = b"HTTP/1.1",
) -> bytes:
    """The bytes of one request, exactly as given (plus ``Host`` when none is given)."""
    lines = [method + b" " + target + b" " + version]
    if not any(name.lower() == b"host" for name, _ in headers):
        lines.append(b"Host: 127.0.0.1")
    lines.extend(name + b": " + value for name, value in headers)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def exchange(port: int, request: bytes, *, head: bool = False, then_closed: bool = False) -> Answer:
    """Send ``request`` on a fresh connection and read the first final response to it; with
    ``then_closed``, also check that the server then closes the connection, sending nothing more."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        with contextlib.suppress(ConnectionError):  # the server may answer before reading it all
            await writer.drain()
        async with asyncio.timeout(ANSWER_TIMEOUT_S):
            while True:
                head_bytes = await reader.readuntil(b"\r\n\r\n")
                status_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
                status = int(status_line.split(" ", 2)[1])
                if status != 100:  # an interim "100 Continue" precedes the real answer
                    break
            headers = {}
            for line in header_lines:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            length = 0 if head else int(headers["content-length"])
            body = await reader.readexactly(length)
            if then_closed:
                assert await reader.read() == b"", "the server kept talking on a broken connection"
        return Answer(status, headers, body)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def check_answer(answer: Answer, allowed: Collection[int], *, head: bool = False) -> dict[str, object]:
    """The API.md shape of ``answer`` (status allowed, JSON, envelope on errors); its JSON body."""
    assert answer.status in allowed, f"status {answer.status}: {answer.body[:300]!r}"
    assert answer.headers.get("content-type", "").split(";")[0] == "application/json", answer.headers
    if head:
        return {}
    text = answer.body.decode("utf-8")
    assert TRACEBACK not in text
    body = json.loads(text)  # JSON, so not an HTML page (messages may echo client text, "<html" too)
    assert isinstance(body, dict)
    if answer.status == 200:
        assert body["status"] == "ok" and isinstance(body["timestamp"], int)
        return body
    assert set(body) == {"status", "timestamp", "error"}
    assert body["status"] == "error" and isinstance(body["timestamp"], int)
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message"}
    assert error["code"] == ERROR_CODES[answer.status]
    assert isinstance(error["message"], str) and error["message"]
    return body


async def rest_still_serves(app: App) -> None:
    answer = await exchange(app.http_port, http_request(b"GET", b"/v1/open-interest"))
    body = check_answer(answer, {200})
    assert isinstance(body["data"], dict) and body["data"]


# --- gRPC helpers -------------------------------------------------------------------------------


async def grpc_still_serves(stub: pb_grpc.OpenInterestServiceStub) -> None:
    response = await stub.GetOpenInterest(pb.GetOpenInterestRequest(), timeout=ANSWER_TIMEOUT_S)
    assert response.symbols


def expected_symbol_outcome(symbol: str) -> set[grpc.StatusCode]:
    """What GetOpenInterest may answer for ``symbol`` (API.md §2), before the size cap."""
    if symbol == "":
        return {grpc.StatusCode.OK}
    if SYMBOL.fullmatch(symbol):
        return {grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND}
    return {grpc.StatusCode.INVALID_ARGUMENT}


def expected_watch_outcome(symbols: Sequence[str]) -> grpc.StatusCode:
    if len(symbols) > MAX_WATCH_SYMBOLS or not all(SYMBOL.fullmatch(s) for s in symbols):
        return grpc.StatusCode.INVALID_ARGUMENT
    return grpc.StatusCode.OK


def decoded(message_type: type[Message], raw: bytes) -> Message | None:
    try:
        return message_type.FromString(raw)
    except DecodeError:
        return None


async def call_code(call: Awaitable[object]) -> tuple[grpc.StatusCode, object]:
    """The status code of a unary call, with its reply (None on error)."""
    try:
        reply = await call
    except grpc.aio.AioRpcError as error:
        details = error.details() or ""
        assert TRACEBACK not in details and "Unexpected <class" not in details, details
        return error.code(), None
    return grpc.StatusCode.OK, reply


async def first_watch_message(channel: grpc.aio.Channel, raw: bytes) -> tuple[grpc.StatusCode, bytes]:
    """Open WatchOpenInterest with ``raw`` request bytes; its first message or its status code."""
    call = channel.unary_stream(SERVICE + "WatchOpenInterest")(raw, timeout=ANSWER_TIMEOUT_S)
    try:
        async for message in call:
            return grpc.StatusCode.OK, bytes(message)
    except grpc.aio.AioRpcError as error:
        details = error.details() or ""
        assert TRACEBACK not in details and "Unexpected <class" not in details, details
        return error.code(), b""
    finally:
        call.cancel()
    raise AssertionError("watch stream ended without a first message")


# --- strategies ---------------------------------------------------------------------------------

# Bases the simulator lists for okx and bybit, in any letter case: these are answered with data.
listed_symbols: Final = st.from_regex(r"(?i:btc|eth|sol|doge|pepe|xrp|link|avax)", fullmatch=True)
symbol_text: Final = st.one_of(
    listed_symbols,
    st.from_regex(SYMBOL, fullmatch=True),
    st.text(max_size=40),  # any code point but surrogates: control characters, NUL, emoji, RTL
    st.sampled_from(["", " ", "BTC ", "BTC\x00", "BTC-USD", "A" * 21, "..", "%41", "ＢＴＣ", "\u200bBTC"]),
    st.integers(21, 5_000).map(lambda n: "A" * n),
)


def pct(value: str | bytes) -> str:
    return quote(value, safe="")


query_keys: Final = st.one_of(
    st.sampled_from(["symbol", "Symbol", "SYMBOL", "sym", "", "symbol[]", "x", "symbol "]),
    st.text(max_size=20),
)
query_values: Final = st.one_of(
    symbol_text.map(pct),
    st.binary(max_size=30).map(pct),  # percent-encoded bytes that are not UTF-8
    st.integers(1_000, 6_000).map(lambda n: "Q" * n),  # huge values, over the request-line limit
)


def one_line(data: bytes) -> bytes:
    """``data`` without CR and LF, which would end the request line or header early."""
    return data.replace(b"\r", b"").replace(b"\n", b"")


raw_line_bytes: Final = st.binary(max_size=40).map(one_line)

ROUTE_SPELLINGS: Final = (
    "/v1/open-interest",
    "/v1/sources",
    "/v1/open%2Dinterest",
    "/v1/open-interest/",
    "/V1/open-interest",
    "//v1/open-interest",
    "/v1/./open-interest",
    "/v1/x/../open-interest",
    "/v1%2Fopen-interest",
    "/v1/open-interest%00",
    "/v1/open-interest;x=1",
    "/v1/sources%ff",
    "/v1/%zz",
)
path_segments: Final = st.lists(
    st.one_of(
        st.sampled_from(["v1", "open-interest", "sources", "..", ".", "", "%2e%2e", "%2F", "%00", "%ff"]),
        st.text(max_size=20).map(pct),
    ),
    max_size=8,
).map(lambda segments: "/" + "/".join(segments))
targets: Final = st.one_of(
    st.tuples(
        st.sampled_from(ROUTE_SPELLINGS), st.sampled_from(["", "?", "?symbol=BTC", "?x=1", "#f", "?#"])
    ).map("".join),
    path_segments,
).map(str.encode)
# What a well-formed request target may contain (RFC 3986 characters); anything else is raw junk.
CLEAN_TARGET: Final = re.compile(rb"[A-Za-z0-9\-._~%!$&'()*+,;=:@/?#]*")
KNOWN_METHODS: Final = (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"TRACE")
methods: Final = st.one_of(
    st.just(b"GET"),
    st.sampled_from(KNOWN_METHODS),
    st.sampled_from([b"get", b"PROPFIND", b"FOO", b"G\x00T", b"\x16\x03\x01", b""]),
)

token: Final = st.from_regex(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,30}", fullmatch=True).map(str.encode)
header_names: Final = st.one_of(
    st.sampled_from(
        [
            b"Content-Length",
            b"Transfer-Encoding",
            b"Expect",
            b"Accept",
            b"Connection",
            b"Upgrade",
            b"Host",
            b"Content-Encoding",
            b"Content-Type",
            b"X-Forwarded-Host",
        ]
    ),
    token,
    st.binary(max_size=20).map(lambda b: one_line(b).replace(b":", b"")),  # invalid header names
)
header_values: Final = st.one_of(
    st.sampled_from(
        [
            b"chunked",
            b"gzip, chunked",
            b"chunked, gzip",
            b"identity",
            b"-1",
            b"0x10",
            b" 5",
            b"1e3",
            b"99999999999999999999999999",
            b"65537",  # a declared body just over the cap
            b"text/html",
            b"text/html,application/xhtml+xml",
            b"100-continue",
            b"bogus",
            b"close",
            b"keep-alive",
            b"Upgrade",
            b"websocket",
        ]
    ),
    st.binary(max_size=64).map(one_line),
    st.text(max_size=64).map(str.encode),
    st.integers(0, 12_000).map(lambda n: b"v" * n),
)
header_lists: Final = st.one_of(
    st.lists(st.tuples(header_names, header_values), max_size=12),
    st.integers(0, 150).map(lambda n: [(b"X-H%d" % i, b"1") for i in range(n)]),
)


# --- REST: property tests -----------------------------------------------------------------------


def unquoted(value: str) -> str:
    """A percent-encoded query value as the server decodes it (invalid UTF-8 replaced)."""
    return unquote_to_bytes(value).decode("utf-8", "replace")


def expected_query_statuses(pairs: Sequence[tuple[str, str]]) -> set[int]:
    """API.md §1 for ``/v1/open-interest?<pairs>`` (keys and values already decoded)."""
    if any(key != "symbol" for key, _ in pairs) or len(pairs) > 1:
        return {400}
    if not pairs:
        return {200}
    return {200, 404} if SYMBOL.fullmatch(pairs[0][1]) else {400}


@EXAMPLES
@given(
    pairs=st.one_of(
        st.tuples(st.just("symbol"), query_values).map(lambda pair: [pair]),
        st.lists(st.tuples(query_keys, query_values), max_size=4),
    ),
    raw_tail=st.one_of(st.none(), raw_line_bytes),
)
async def test_rest_query_strings(app: App, pairs: list[tuple[str, str]], raw_tail: bytes | None) -> None:
    query = "&".join(f"{pct(key)}={value}" for key, value in pairs).encode()
    target = b"/v1/open-interest?" + query + (b"&" + raw_tail if raw_tail is not None else b"")
    answer = await exchange(app.http_port, http_request(b"GET", target))
    if len(target) > MAX_LINE_SIZE:
        allowed = {400, 414} if raw_tail is not None else {414}
    elif raw_tail is not None:
        allowed = {200, 400, 404}
    else:
        allowed = expected_query_statuses([(key, unquoted(value)) for key, value in pairs])
    event(f"HTTP {answer.status}")  # --hypothesis-show-statistics shows what the examples reached
    body = check_answer(answer, allowed)
    if answer.status == 200 and pairs and raw_tail is None:
        data = body["data"]
        # the canonical name: upper-case, an alias resolved (XBT answers as BTC)
        assert isinstance(data, dict) and data["symbol"] == client_symbol(unquoted(pairs[0][1]))
    await rest_still_serves(app)


@EXAMPLES
@given(
    method=methods,
    target=targets,
    suffix=st.one_of(st.just(b""), raw_line_bytes, st.integers(1, 6_000).map(lambda n: b"p" * n)),
)
async def test_rest_paths_and_methods(app: App, method: bytes, target: bytes, suffix: bytes) -> None:
    target += suffix
    head = method == b"HEAD"
    answer = await exchange(app.http_port, http_request(method, target), head=head)
    allowed = {200, 400, 404, 405, 414} if method in (b"GET", b"HEAD") else {400, 404, 405, 414}
    event(f"HTTP {answer.status}")
    if answer.status == 200 and answer.headers.get("content-type", "").startswith("text/html"):
        # the dashboard's page ("/", or a spelling of it)
        assert head or answer.body.startswith(b"<!doctype html>")
    else:
        check_answer(answer, allowed, head=head)
    if len(target) > MAX_LINE_SIZE:
        assert answer.status in {400, 414}
    elif method in KNOWN_METHODS and CLEAN_TARGET.fullmatch(target):  # the router decides, not the parser
        assert answer.status in ({200, 400, 404, 405} if b"?" in target else {200, 404, 405})
    await rest_still_serves(app)


@EXAMPLES
@given(
    headers=header_lists,
    body=st.one_of(st.just(b""), st.binary(max_size=200)),
    version=st.sampled_from([b"HTTP/1.1", b"HTTP/1.0"]),
)
async def test_rest_headers_and_bodies(
    app: App, headers: list[tuple[bytes, bytes]], body: bytes, version: bytes
) -> None:
    request = http_request(b"GET", b"/v1/open-interest", headers, body, version)
    answer = await exchange(app.http_port, request)
    event(f"HTTP {answer.status}")
    check_answer(answer, {200, 400, 413, 417, 431})
    if len(headers) > MAX_HEADERS:
        assert answer.status in {400, 431}
    if any(len(value) > MAX_FIELD_SIZE for _, value in headers):
        assert answer.status in {400, 431}
    await rest_still_serves(app)


# --- REST: each low-level rejection, pinned -----------------------------------------------------

GET: Final = b"GET /v1/open-interest HTTP/1.1\r\nHost: x\r\n"
HTML: Final = b"Accept: text/html\r\n"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        pytest.param(b"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, id="invalid-method"),
        pytest.param(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", 400, id="tls-on-plain-port"),
        pytest.param(
            b"GET /v1/open-interest HTTP/9.9\r\nHost: x\r\n" + HTML + b"\r\n", 400, id="bad-version"
        ),
        pytest.param(b"GET /v1/\xff HTTP/1.1\r\nHost: x\r\n" + HTML + b"\r\n", 400, id="raw-non-utf8-path"),
        pytest.param(
            b"GET /v1/open-interest?symbol=\xff HTTP/1.1\r\nHost: x\r\n\r\n", 400, id="raw-non-utf8-query"
        ),
        pytest.param(b"GET /v1/open\x00 HTTP/1.1\r\nHost: x\r\n\r\n", 400, id="nul-in-path"),
        pytest.param(b"GET evil HTTP/1.1\r\nHost: x\r\n\r\n", 400, id="not-a-target"),
        pytest.param(b"GET /v1/open-interest HTTP/1.1\r\n\r\n", 400, id="http11-without-host"),
        pytest.param(b"GET /v1/open-interest HTTP/1.1\nHost: x\n\n", 400, id="bare-lf"),
        pytest.param(GET + b"X-A: a\x01b\r\n" + HTML + b"\r\n", 400, id="control-char-in-value"),
        pytest.param(GET + b"X A: b\r\n\r\n", 400, id="space-in-header-name"),
        pytest.param(GET + b"X-A: a\r\n b\r\n\r\n", 400, id="obsolete-line-folding"),
        pytest.param(GET + b"Content-Length: abc\r\n\r\n", 400, id="content-length-not-a-number"),
        pytest.param(GET + b"Content-Length: -1\r\n\r\n", 400, id="content-length-negative"),
        pytest.param(
            GET + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400, id="content-length-twice"
        ),
        pytest.param(GET + b"Content-Length: " + b"9" * 27 + b"\r\n\r\n", 400, id="content-length-overflow"),
        pytest.param(GET + b"Transfer-Encoding: gzip\r\n\r\n", 400, id="transfer-encoding-not-chunked"),
        pytest.param(
            GET + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
            400,
            id="transfer-encoding-and-content-length",
        ),
        pytest.param(
            GET + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400, id="bad-chunk-size"
        ),
        pytest.param(
            b"GET /" + b"a" * MAX_LINE_SIZE + b" HTTP/1.1\r\nHost: x\r\n" + HTML + b"\r\n",
            414,
            id="request-line-too-long",
        ),
        pytest.param(
            GET + b"X-Big: " + b"b" * (MAX_FIELD_SIZE + 1) + b"\r\n" + HTML + b"\r\n",
            431,
            id="header-too-large",
        ),
        pytest.param(
            GET + b"".join(b"X-%d: 1\r\n" % i for i in range(MAX_HEADERS + 1)) + b"\r\n",
            431,
            id="too-many-headers",
        ),
        pytest.param(GET + b"Content-Length: 99999999\r\n\r\nhello", 413, id="declared-body-over-cap"),
        pytest.param(GET + b"Expect: bogus\r\n" + HTML + b"\r\n", 417, id="unknown-expect"),
        pytest.param(
            b"GET /nope HTTP/1.1\r\nHost: x\r\nExpect: bogus\r\n\r\n", 417, id="unknown-expect-unknown-path"
        ),
    ],
)
async def test_low_level_rejections_are_json_envelopes(app: App, request_bytes: bytes, status: int) -> None:
    # The parser's state after an error is unknown: the server must not read another request.
    answer = await exchange(app.http_port, request_bytes, then_closed=status not in {413, 417})
    assert answer.status == status
    check_answer(answer, {status})
    assert b"<html" not in answer.body.lower()
    await rest_still_serves(app)


async def test_rest_runner_envelopes_escaped_exceptions() -> None:
    """A bug outside any middleware (500) or a handler timeout (504): still the envelope, no
    traceback, no HTML, even when the client asks for HTML."""

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals")

    async def slow(request: web.Request) -> web.Response:
        raise TimeoutError

    bare = web.Application()  # no error middleware: only RestRunner stands between
    bare.router.add_get("/boom", boom)
    bare.router.add_get("/slow", slow)
    runner = RestRunner(bare, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = int(runner.addresses[0][1])
        for path, status, code in (
            (b"/boom", 500, "INTERNAL"),
            (b"/slow", 504, "DEADLINE_EXCEEDED"),
            (b"/missing", 404, "NOT_FOUND"),
        ):
            answer = await exchange(port, http_request(b"GET", path, [(b"Accept", b"text/html")]))
            assert (answer.status, answer.headers["content-type"]) == (status, "application/json")
            text = answer.body.decode()
            assert "secret internals" not in text and TRACEBACK not in text and "<html" not in text
            assert json.loads(text)["error"]["code"] == code
    finally:
        await runner.cleanup()


# --- gRPC ---------------------------------------------------------------------------------------


@EXAMPLES
@given(symbol=symbol_text)
async def test_grpc_get_symbol(stub: pb_grpc.OpenInterestServiceStub, symbol: str) -> None:
    request = pb.GetOpenInterestRequest(symbol=symbol)
    code, reply = await call_code(stub.GetOpenInterest(request, timeout=ANSWER_TIMEOUT_S))
    event(code.name)
    if request.ByteSize() > MAX_REQUEST_BYTES:
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    else:
        assert code in expected_symbol_outcome(symbol)
    if code == grpc.StatusCode.OK and symbol:
        assert isinstance(reply, pb.GetOpenInterestResponse)
        assert [row.symbol for row in reply.symbols] == [client_symbol(symbol)]
    await grpc_still_serves(stub)


watch_lists: Final = st.one_of(
    st.lists(symbol_text, max_size=30),
    st.lists(st.sampled_from(["BTC", "btc", "ETH", "", "BTC"]), max_size=30),  # duplicates, empties
    st.integers(900, 12_000).map(lambda n: [f"S{i}" for i in range(n)]),  # thousands of symbols
)


@EXAMPLES
@given(symbols=watch_lists)
async def test_grpc_watch_symbols(
    channel: grpc.aio.Channel, stub: pb_grpc.OpenInterestServiceStub, symbols: list[str]
) -> None:
    raw = pb.WatchOpenInterestRequest(symbols=symbols).SerializeToString()
    code, first = await first_watch_message(channel, raw)
    event(code.name)
    if len(raw) > MAX_REQUEST_BYTES:
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    else:
        assert code == expected_watch_outcome(symbols)
    if code == grpc.StatusCode.OK:
        message = pb.WatchOpenInterestResponse.FromString(first)
        asked = {client_symbol(s) for s in symbols}
        assert {row.symbol for row in message.symbols} <= asked or not symbols
    await grpc_still_serves(stub)


def length_delimited(field: int, payload: bytes) -> bytes:
    """A protobuf length-delimited field (wire type 2) with any payload: strings that need not
    be UTF-8, the way a hostile client can put them on the wire."""
    size, varint = len(payload), bytearray()
    while True:
        byte, size = size & 0x7F, size >> 7
        varint.append(byte | (0x80 if size else 0))
        if not size:
            break
    return bytes([field << 3 | 2]) + bytes(varint) + payload


raw_requests: Final = st.one_of(
    st.binary(max_size=64),  # junk
    st.binary(max_size=40).map(lambda b: length_delimited(1, b)),  # a "symbol" of any bytes
    st.sampled_from([b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"BTC\x00"]).map(
        lambda b: length_delimited(1, b)  # encoded surrogate, beyond U+10FFFF, overlong, NUL
    ),
    st.just(length_delimited(1, b"A" * (MAX_REQUEST_BYTES + 10))),  # over the cap
    st.just(b"\x0a\x80\x80\x80\x80\x10"),  # a length that runs past the end
)


@EXAMPLES
@given(raw=raw_requests, method=st.sampled_from(["GetOpenInterest", "ListSources", "WatchOpenInterest"]))
async def test_grpc_raw_request_bytes(
    channel: grpc.aio.Channel, stub: pb_grpc.OpenInterestServiceStub, raw: bytes, method: str
) -> None:
    if method == "WatchOpenInterest":
        code, _ = await first_watch_message(channel, raw)
        message = decoded(pb.WatchOpenInterestRequest, raw)
        expected = (
            {expected_watch_outcome(list(message.symbols))}  # type: ignore[attr-defined]
            if message is not None
            else {grpc.StatusCode.INVALID_ARGUMENT}
        )
    else:
        unary = channel.unary_unary(SERVICE + method)
        code, _ = await call_code(unary(raw, timeout=ANSWER_TIMEOUT_S))
        message_type = pb.GetOpenInterestRequest if method == "GetOpenInterest" else pb.ListSourcesRequest
        message = decoded(message_type, raw)
        if message is None:
            expected = {grpc.StatusCode.INVALID_ARGUMENT}
        elif isinstance(message, pb.GetOpenInterestRequest):
            expected = expected_symbol_outcome(message.symbol)
        else:
            expected = {grpc.StatusCode.OK}
    if len(raw) > MAX_REQUEST_BYTES:
        expected = {grpc.StatusCode.RESOURCE_EXHAUSTED}
    event(f"{method} {code.name}")
    assert code in expected, (method, raw[:60], code)
    assert code == grpc.StatusCode.OK or code in GRPC_ACCEPTABLE
    await grpc_still_serves(stub)


@pytest.mark.parametrize(
    ("method", "raw"),
    [
        ("GetOpenInterest", b"\xff"),  # a field tag with no field
        ("ListSources", b"\xff"),
        ("WatchOpenInterest", b"\xff"),
        ("GetOpenInterest", b"\x0a\x05ab"),  # a string cut short
        ("WatchOpenInterest", b"\x0a\x05ab"),
        ("GetOpenInterest", length_delimited(1, b"\xed\xa0\x80")),  # an encoded lone surrogate
        ("WatchOpenInterest", length_delimited(1, b"\xed\xa0\x80")),
    ],
    ids=["get-junk", "list-junk", "watch-junk", "get-cut", "watch-cut", "get-surrogate", "watch-surrogate"],
)
async def test_grpc_undecodable_request_is_invalid_argument(
    channel: grpc.aio.Channel, method: str, raw: bytes
) -> None:
    """The failing examples behind the xfail above, spelled out."""
    if method == "WatchOpenInterest":
        code, _ = await first_watch_message(channel, raw)
    else:
        code, _ = await call_code(channel.unary_unary(SERVICE + method)(raw, timeout=ANSWER_TIMEOUT_S))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


# --- venue URLs come only from configuration ----------------------------------------------------


async def test_client_input_never_chooses_where_the_service_polls(
    app: App, channel: grpc.aio.Channel
) -> None:
    """Name a canary listener in every place a client controls (absolute-form target, Host,
    forwarding headers, query values, gRPC metadata and symbols), then wait until every source
    has polled again: the canary sees no connection."""
    connections: list[str] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(str(writer.get_extra_info("peername")))
        writer.close()

    canary = await asyncio.start_server(record, "127.0.0.1", 0)
    async with canary:
        where = f"127.0.0.1:{canary.sockets[0].getsockname()[1]}".encode()
        url = b"http://" + where
        for request in (
            http_request(b"GET", url + b"/v1/open-interest"),
            http_request(b"GET", b"/v1/open-interest", [(b"Host", where)]),
            http_request(
                b"GET",
                b"/v1/open-interest?symbol=" + pct(url).encode(),
                [(b"X-Forwarded-Host", where), (b"Forwarded", b"host=" + where), (b"Referer", url)],
            ),
            http_request(b"GET", b"/v1/sources?venue_url=" + pct(url).encode()),
        ):
            check_answer(await exchange(app.http_port, request), {200, 400})
        unary = channel.unary_unary(SERVICE + "GetOpenInterest")
        code, _ = await call_code(
            unary(
                pb.GetOpenInterestRequest(symbol=url.decode()).SerializeToString(),
                metadata=(("x-venue-url", url.decode()), ("okx", url.decode())),
                timeout=ANSWER_TIMEOUT_S,
            )
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT

        started = int(time.time() * 1000)
        deadline = time.monotonic() + 10
        while not all((v.last_success_ms or 0) > started for v in app.source_views()):
            assert time.monotonic() < deadline, "sources did not poll again within 10 s"
            await asyncio.sleep(0.05)
    assert connections == []


async def test_still_serving_after_everything(app: App, stub: pb_grpc.OpenInterestServiceStub) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{app.http_port}/v1/open-interest?symbol=BTC") as response,
    ):
        assert response.status == 200 and response.content_type == "application/json"
        assert (await response.json())["data"]["symbol"] == "BTC"
    await grpc_still_serves(stub)
    deadline = time.monotonic() + 5  # cancellations reach the server asynchronously
    while app.service.watch_streams:
        assert time.monotonic() < deadline, f"{app.service.watch_streams} hostile watches never released"
        await asyncio.sleep(0.05)
