"""fetch_json against a real local HTTP server: every failure becomes our own error, once."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from server.core.errors import (
    MalformedResponse,
    VenueRateLimited,
    VenueRejected,
    VenueTimeout,
    VenueUnavailable,
)
from server.poll.http import decode_json, fetch_json, retry_after_seconds
from server.poll.pacing import over_budget_pause_s
from server.venues import binance
from server.venues.base import Request


async def ok(_: web.Request) -> web.Response:
    return web.json_response({"ok": [1, 2, 3]}, headers={"X-MBX-USED-WEIGHT-1M": "12"})


async def echo_post(request: web.Request) -> web.Response:
    return web.json_response({"got": await request.json(), "ct": request.headers.get("Content-Type")})


async def echo_query(request: web.Request) -> web.Response:
    return web.json_response(dict(request.query))


async def limited(_: web.Request) -> web.Response:
    return web.Response(status=429, text="slow down", headers={"Retry-After": "7"})


async def banned(_: web.Request) -> web.Response:
    return web.Response(status=418, text="banned")


async def broken(_: web.Request) -> web.Response:
    return web.Response(status=503, text="<html>down</html>")


async def bad_request(_: web.Request) -> web.Response:
    return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)


async def not_json(_: web.Request) -> web.Response:
    return web.Response(text='{"truncated": [1, 2', content_type="application/json")


async def slow(_: web.Request) -> web.Response:
    await asyncio.sleep(1)
    return web.json_response({})


async def big(_: web.Request) -> web.Response:
    return web.Response(body=b"[" + b"1," * 600_000 + b"1]", content_type="application/json")


async def gzip_bomb(_: web.Request) -> web.Response:
    # 20 MB of zeros compress to ~20 KB: the cap must count decompressed bytes
    body = gzip.compress(b'{"x": "' + b"0" * 20_000_000 + b'"}')
    return web.Response(body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    app = web.Application()
    for path, handler in {
        "/ok": ok,
        "/limited": limited,
        "/banned": banned,
        "/broken": broken,
        "/bad": bad_request,
        "/notjson": not_json,
        "/slow": slow,
        "/big": big,
        "/bomb": gzip_bomb,
        "/query": echo_query,
    }.items():
        app.router.add_get(path, handler)
    app.router.add_post("/post", echo_post)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def fetch(session: aiohttp.ClientSession, base_url: str, path: str, **kwargs: object) -> object:
    reply = await fetch_json(session, base_url, Request(key="k", path=path), timeout_s=1.0, **kwargs)  # type: ignore[arg-type]
    return reply.body


async def test_ok_with_headers(session: aiohttp.ClientSession, base_url: str) -> None:
    reply = await fetch_json(session, base_url, Request(key="k", path="/ok"), timeout_s=1)
    assert reply.body == {"ok": [1, 2, 3]}
    assert reply.headers["X-MBX-USED-WEIGHT-1M"] == "12"


async def lower_case_weight(request: web.Request) -> web.Response:
    """Binance's servers send ``x-mbx-used-weight-1m``, lower case (HTTP names are case-blind)."""
    return web.json_response({}, headers={"x-mbx-used-weight-1m": "2300"})


async def test_reply_headers_are_looked_up_whatever_their_case(session: aiohttp.ClientSession) -> None:
    app = web.Application()
    app.router.add_get("/weight", lower_case_weight)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        reply = await fetch_json(session, url, Request(key="k", path="/weight"), timeout_s=1)
    finally:
        await runner.cleanup()
    assert reply.headers.get("X-MBX-USED-WEIGHT-1M") == "2300"
    # so Binance's over-budget pause reads it: 2,300 used is past our 70 % share of 2,400
    pacing = binance.SPEC.pacing
    assert pacing is not None
    assert over_budget_pause_s(reply.headers, pacing, None, now_s=30.0) == 30.0


async def test_query_and_post(session: aiohttp.ClientSession, base_url: str) -> None:
    got = await fetch_json(
        session, base_url, Request(key="k", path="/query", params=(("a", "1"), ("b", "x y"))), timeout_s=1
    )
    assert got.body == {"a": "1", "b": "x y"}
    posted = await fetch_json(
        session, base_url, Request(key="k", path="/post", body='{"type":"meta"}'), timeout_s=1
    )
    assert posted.body == {"got": {"type": "meta"}, "ct": "application/json"}


async def test_429_carries_retry_after(session: aiohttp.ClientSession, base_url: str) -> None:
    with pytest.raises(VenueRateLimited, match="429") as caught:
        await fetch(session, base_url, "/limited")
    assert caught.value.retry_after_s == 7.0


async def test_418_is_a_rate_limit(session: aiohttp.ClientSession, base_url: str) -> None:
    with pytest.raises(VenueRateLimited, match="418"):
        await fetch(session, base_url, "/banned")


async def test_5xx_is_unavailable(session: aiohttp.ClientSession, base_url: str) -> None:
    with pytest.raises(VenueUnavailable, match="HTTP 503"):
        await fetch(session, base_url, "/broken")


async def test_4xx_is_rejected_with_a_snippet(session: aiohttp.ClientSession, base_url: str) -> None:
    with pytest.raises(VenueRejected, match="-1121"):
        await fetch(session, base_url, "/bad")


async def test_not_json(session: aiohttp.ClientSession, base_url: str) -> None:
    with pytest.raises(MalformedResponse, match="not JSON"):
        await fetch(session, base_url, "/notjson")


async def test_timeout(session: aiohttp.ClientSession, base_url: str) -> None:
    with pytest.raises(VenueTimeout, match=r"no answer within 0\.2s"):
        await fetch_json(session, base_url, Request(key="k", path="/slow"), timeout_s=0.2)


async def test_size_cap(session: aiohttp.ClientSession, base_url: str) -> None:
    with pytest.raises(MalformedResponse, match="cap"):
        await fetch(session, base_url, "/big", max_bytes=100_000)


async def test_size_cap_counts_decompressed_bytes(session: aiohttp.ClientSession, base_url: str) -> None:
    with pytest.raises(MalformedResponse, match="cap"):
        await fetch(session, base_url, "/bomb", max_bytes=1_000_000)


async def test_connection_refused(session: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(VenueUnavailable) as refused:
        await fetch(session, f"http://127.0.0.1:{port}", "/ok")
    # the source status names the host it could not reach, and why, in one line
    assert str(refused.value) == f"cannot connect to 127.0.0.1:{port}: Connection refused"


async def test_unresolvable_host_is_named(session: aiohttp.ClientSession) -> None:
    """The resolver fails at once for a name with no address (RFC 6761 ``.invalid``), or the
    request times out where no resolver answers: either way the message names the host."""
    try:
        await fetch(session, "http://fapi.venue.invalid", "/ok")
    except VenueUnavailable as error:
        assert str(error).startswith("cannot connect to fapi.venue.invalid:80: "), error
    except VenueTimeout:
        pytest.skip("no resolver answers here")
    else:
        pytest.fail("a .invalid name resolved")


def test_retry_after_forms() -> None:
    assert retry_after_seconds("5", now_s=0) == 5.0
    assert retry_after_seconds(None, now_s=0) == 10.0
    assert retry_after_seconds("garbage", now_s=0) == 10.0
    assert retry_after_seconds("-3", now_s=0) == 0.0
    # HTTP date 60 s after now
    assert retry_after_seconds("Thu, 01 Jan 1970 00:01:40 GMT", now_s=40) == pytest.approx(60.0)


DECODED_AS_JSON_LOADS = [
    b'{"symbol":"BTCUSDT","openInterest":"10659.509","time":1589437530011}',
    b"[1.0000000000000002, 0.1, -0.0, -0, 1e-7, 123.456e-7, 5e-324, 1.7976931348623157e308]",
    b"[123456789012345678901234567890, -9223372036854775809, 18446744073709551616]",
    b'{"a": 1, "a": 2}',  # the last of duplicate keys
    '{"名前": "é\\u00e9\\ud83d\\ude00\\/"}'.encode(),
    b" [true, false, null] \n",
    # refused by msgspec, read by json.loads as before
    b"[NaN, Infinity, -Infinity]",
    b"[1e400, -1e400]",
    b'"\\ud800"',  # a lone surrogate
    b"\xef\xbb\xbf[1]",  # a UTF-8 byte order mark
    "[1]".encode("utf-16"),
]


@pytest.mark.parametrize("raw", DECODED_AS_JSON_LOADS)
def test_bodies_decode_as_json_loads_reads_them(raw: bytes) -> None:
    decoded = decode_json(raw)
    assert repr(decoded) == repr(json.loads(raw))  # types and float digits too


@pytest.mark.parametrize("raw", [b'{"truncated": [1, 2', b"", b"[1,]", b"01", b'"\xff"', b'"a\nb"'])
def test_malformed_bodies_fail_as_json_loads_fails(raw: bytes) -> None:
    with pytest.raises(ValueError) as ours:
        decode_json(raw)
    with pytest.raises(ValueError) as theirs:
        json.loads(raw)
    assert (type(ours.value), str(ours.value)) == (type(theirs.value), str(theirs.value))
