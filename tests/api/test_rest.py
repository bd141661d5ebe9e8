"""The REST shim, exactly as API.md says, through a real HTTP client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from server.api.convert import PreparedSnapshot
from server.core.hub import SnapshotHub
from server.core.model import Snapshot
from tests.api.conftest import NOW, snapshot


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(
    client: aiohttp.ClientSession, url: str, method: str = "GET"
) -> tuple[int, str, dict[str, object]]:
    async with client.request(method, url) as response:
        text = await response.text()
        return response.status, response.content_type, json.loads(text)


async def test_all_symbols(client: aiohttp.ClientSession, rest_url: str) -> None:
    status, ctype, body = await get(client, f"{rest_url}/v1/open-interest")
    assert (status, ctype) == (200, "application/json")
    assert body["timestamp"] == NOW
    assert list(body["data"]) == ["BTC", "ETH", "PEPE"]  # type: ignore[call-overload]


@pytest.mark.parametrize("query", ["btc", "BTC", "Btc"])
async def test_one_symbol_case_insensitive(client: aiohttp.ClientSession, rest_url: str, query: str) -> None:
    status, _, body = await get(client, f"{rest_url}/v1/open-interest?symbol={query}")
    assert status == 200
    data = body["data"]
    assert isinstance(data, dict) and data["symbol"] == "BTC" and data["total_oi_usd"] == 8_301_000_000.01


async def test_before_first_poll(
    client: aiohttp.ClientSession, rest_url: str, hub: SnapshotHub[PreparedSnapshot]
) -> None:
    hub.publish(PreparedSnapshot(Snapshot(built_at_ms=NOW + 1)))
    assert await get(client, f"{rest_url}/v1/open-interest") == (
        200,
        "application/json",
        {"status": "ok", "timestamp": NOW + 1, "data": {}},
    )


async def test_new_snapshot_is_served(
    client: aiohttp.ClientSession, rest_url: str, hub: SnapshotHub[PreparedSnapshot]
) -> None:
    hub.publish(PreparedSnapshot(snapshot(now=NOW + 5, btc_binance_usd=1.0)))
    _, _, body = await get(client, f"{rest_url}/v1/open-interest?symbol=BTC")
    assert body["timestamp"] == NOW + 5
    assert body["data"]["exchanges"]["binance"]["oi_usd"] == 1.0  # type: ignore[index]


@pytest.mark.parametrize(
    ("path", "status", "code", "fragment"),
    [
        ("/v1/open-interest?symbol=DOGE", 404, "NOT_FOUND", "DOGE"),
        ("/v1/open-interest?symbol=", 400, "INVALID_ARGUMENT", "malformed"),
        ("/v1/open-interest?symbol=BTC-USD", 400, "INVALID_ARGUMENT", "malformed"),
        ("/v1/open-interest?symbol=ABCDEFGHIJKLMNOPQRSTU", 400, "INVALID_ARGUMENT", "1-20"),
        ("/v1/open-interest?symbol=%C3%A9", 400, "INVALID_ARGUMENT", "malformed"),
        ("/v1/open-interest?symbol=BTC&symbol=ETH", 400, "INVALID_ARGUMENT", "more than once"),
        ("/v1/open-interest?sym=BTC", 400, "INVALID_ARGUMENT", "unknown query parameter"),
        ("/v1/open-interest?symbol=BTC&x=1", 400, "INVALID_ARGUMENT", "unknown query parameter"),
        ("/v1/nope", 404, "NOT_FOUND", "no such path"),
        ("/assets/nope.js", 404, "NOT_FOUND", "no such path"),  # "/" is the dashboard
    ],
)
async def test_errors(
    client: aiohttp.ClientSession, rest_url: str, path: str, status: int, code: str, fragment: str
) -> None:
    got_status, ctype, body = await get(client, rest_url + path)
    assert (got_status, ctype) == (status, "application/json")
    assert body["status"] == "error" and isinstance(body["timestamp"], int)
    error = body["error"]
    assert isinstance(error, dict) and error["code"] == code and fragment in error["message"]
    assert "Traceback" not in json.dumps(body)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_wrong_method(client: aiohttp.ClientSession, rest_url: str, method: str) -> None:
    status, ctype, body = await get(client, f"{rest_url}/v1/open-interest", method)
    assert (status, ctype) == (405, "application/json")
    assert body["error"]["code"] == "METHOD_NOT_ALLOWED"  # type: ignore[index]


async def test_html_accept_still_gets_json(client: aiohttp.ClientSession, rest_url: str) -> None:
    async with client.get(f"{rest_url}/nope", headers={"Accept": "text/html"}) as response:
        assert response.content_type == "application/json"
        assert "<html" not in await response.text()


@pytest.mark.parametrize("expect", [b"\x80", b"foo", b"\xff\xfe"])
async def test_an_unknown_expect_header_is_417_json_even_when_not_utf8(rest_url: str, expect: bytes) -> None:
    host, port = rest_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /v1/open-interest HTTP/1.1\r\nHost: x\r\nExpect: " + expect + b"\r\n\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    assert head.startswith(b"HTTP/1.1 417 ") and b"application/json" in head
