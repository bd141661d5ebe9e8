"""HTTP manners of the REST shim (issue 16): compression, HEAD, CORS, symbol lists, /healthz and
/readyz, over real servers on port 0 and a real client that leaves bodies as sent."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import brotli
import pytest
from aiohttp import web

from server.api.compression import EncodedBodies, preferred_encoding
from server.api.convert import PreparedSnapshot
from server.api.cors import InvalidOrigin, parse_origins
from server.api.rest import ENCODED, MAX_LISTED_SYMBOLS, RestRunner, build_app
from server.app import App
from server.config import Config, parse_config
from server.core.aggregate import aggregate
from server.core.hub import SnapshotHub
from server.core.model import Snapshot
from tests.api.conftest import NOW, reading

ROUTES = ("/v1/open-interest", "/v1/sources", "/v1/markets?symbol=BTC", "/v1/symbols", "/healthz", "/readyz")
ORIGIN = "https://screener.example"


def big_snapshot(now: int = NOW, scale: float = 1.0) -> Snapshot:
    """Two sources, 60 symbols: an all-symbols body well over the compression threshold."""
    markets = tuple((f"C{i}", float(i + 1), scale * 1_000_000.0 * (i + 1)) for i in range(60))
    readings = {
        "binance": reading("binance", now - 1_000, ("BTC", 10.0, 1e9), ("ETH", 100.0, 5e8), *markets),
        "okx": reading("okx", now - 2_000, ("BTC", 5.0, 5e8), ("PEPE", 1e9, 4e6)),
    }
    return aggregate(readings, now_ms=now, stale_after_ms=dict.fromkeys(readings, 3_600_000))


@pytest.fixture
def big_hub() -> SnapshotHub[PreparedSnapshot]:
    return SnapshotHub(PreparedSnapshot(big_snapshot()))


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[web.Application], Any]]:
    """Start ``RestRunner(app)`` on port 0 and give its base URL; everything stops at the end."""
    runners: list[RestRunner] = []

    async def start(app: web.Application) -> str:
        runner = RestRunner(app)
        runners.append(runner)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    # auto_decompress=False: the test sees the bytes on the wire, and decompresses them itself
    async with aiohttp.ClientSession(auto_decompress=False, skip_auto_headers=("Accept-Encoding",)) as s:
        yield s


async def fetch(
    client: aiohttp.ClientSession, url: str, method: str = "GET", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    headers = {name.replace("_", "-"): value for name, value in headers.items()}
    async with client.request(method, url, headers=headers) as response:
        return response.status, dict(response.headers), await response.read()


# --- compression -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", "gzip"),
        ("gzip, deflate, br", "br"),
        ("gzip;q=1.0, br;q=0.5", "gzip"),
        ("br;q=0, gzip", "gzip"),
        ("gzip;q=0", None),
        ("GZIP", "gzip"),
        ("x-gzip", "gzip"),
        ("*", "br"),
        ("*;q=0.3, br;q=0", "gzip"),
        ("*;q=0", None),
        ("identity", None),
        ("deflate", None),
        ("gzip;q=abc", None),
        ("gzip;q=2", None),
        (" , ;, gzip ; q=0.8 ", "gzip"),
    ],
)
def test_preferred_encoding_respects_q_values(header: str, expected: str | None) -> None:
    assert preferred_encoding(header) == expected


def test_encoded_bodies_compress_once_per_body_and_forget_old_versions() -> None:
    cache = EncodedBodies(max_entries=3)
    body = b'{"x":"' + b"a" * 5000 + b'"}'
    first = cache.get(body, "gzip", generation=1)
    assert cache.get(body, "gzip", generation=1) is first  # the same object: not compressed again
    assert gzip.decompress(first) == body
    assert brotli.decompress(cache.get(body, "br", generation=1)) == body
    assert len(cache) == 2
    for i in range(5):  # bounded: the oldest entries go first
        cache.get(bytes(2000) + bytes([i]), "gzip", generation=1)
    assert len(cache) == 3
    cache.get(body, "gzip", generation=2)  # a new version: the old version's entries are dropped
    assert len(cache) == 1


async def test_gzip_and_brotli_bodies_are_the_prebuilt_bytes(
    big_hub: SnapshotHub[PreparedSnapshot], serve: Any, client: aiohttp.ClientSession
) -> None:
    app = build_app(big_hub)
    url = await serve(app) + "/v1/open-interest"
    status, headers, plain = await fetch(client, url)
    assert status == 200 and plain == big_hub.latest.all_json and len(plain) > 1024
    assert "Content-Encoding" not in headers and headers["Vary"] == "Accept-Encoding"

    status, headers, zipped = await fetch(client, url, Accept_Encoding="gzip, deflate")
    assert (status, headers["Content-Encoding"], headers["Vary"]) == (200, "gzip", "Accept-Encoding")
    assert gzip.decompress(zipped) == plain and len(zipped) < len(plain) / 2
    assert int(headers["Content-Length"]) == len(zipped)

    status, headers, squeezed = await fetch(client, url, Accept_Encoding="gzip;q=0.5, br")
    assert headers["Content-Encoding"] == "br" and brotli.decompress(squeezed) == plain

    status, headers, refused = await fetch(client, url, Accept_Encoding="gzip;q=0, br;q=0")
    assert refused == plain and "Content-Encoding" not in headers

    entries = len(app[ENCODED])
    for _ in range(3):  # the same body again: served from the cache, nothing new compressed
        assert (await fetch(client, url, Accept_Encoding="gzip"))[2] == zipped
    assert len(app[ENCODED]) == entries

    big_hub.publish(PreparedSnapshot(big_snapshot(NOW + 1_000, scale=2.0)))
    _, headers, newer = await fetch(client, url, Accept_Encoding="gzip")
    assert gzip.decompress(newer) == big_hub.latest.all_json != plain  # never a stale compressed body


@pytest.mark.parametrize(
    "path",
    ["/v1/open-interest?symbol=btc", "/v1/symbols", "/v1/symbols?symbol=C1,C2", "/v1/markets?symbol=BTC"],
)
async def test_every_snapshot_body_compresses_to_its_plain_bytes(
    big_hub: SnapshotHub[PreparedSnapshot], serve: Any, client: aiohttp.ClientSession, path: str
) -> None:
    url = await serve(build_app(big_hub)) + path
    _, _, plain = await fetch(client, url)
    _, headers, zipped = await fetch(client, url, Accept_Encoding="gzip")
    body = gzip.decompress(zipped) if headers.get("Content-Encoding") == "gzip" else zipped
    assert body == plain
    assert ("Content-Encoding" in headers) == (len(plain) >= 1024)  # small bodies go as they are


async def test_small_bodies_are_not_compressed(
    big_hub: SnapshotHub[PreparedSnapshot], serve: Any, client: aiohttp.ClientSession
) -> None:
    base = await serve(build_app(big_hub))
    for path in ("/healthz", "/v1/open-interest?symbol=NOPE", "/v1/markets?symbol=PEPE&source=okx"):
        _, headers, body = await fetch(client, base + path, Accept_Encoding="gzip, br")
        assert "Content-Encoding" not in headers and json.loads(body)["timestamp"] > 0


# --- HEAD ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [*ROUTES, "/openapi.json", "/nope", "/v1/open-interest?symbol=B-TC", "/v1/symbols?symbol=NOPE"]
)
async def test_head_is_get_without_the_body(
    big_hub: SnapshotHub[PreparedSnapshot], serve: Any, client: aiohttp.ClientSession, path: str
) -> None:
    url = await serve(build_app(big_hub)) + path
    for encoding in ("", "gzip"):
        status, headers, body = await fetch(client, url, Accept_Encoding=encoding)
        head_status, head_headers, head_body = await fetch(client, url, "HEAD", Accept_Encoding=encoding)
        assert (head_status, head_body) == (status, b"")
        for name in ("Content-Type", "Content-Encoding", "Vary"):
            assert head_headers.get(name) == headers.get(name), name
        if "/v1/sources" not in path and "healthz" not in path and "readyz" not in path:
            assert int(head_headers["Content-Length"]) == len(body)  # same bytes (no clock inside)


# --- OPTIONS and CORS ---------------------------------------------------------------------------


async def test_options_is_405_json_without_cors(
    big_hub: SnapshotHub[PreparedSnapshot], serve: Any, client: aiohttp.ClientSession
) -> None:
    url = await serve(build_app(big_hub)) + "/v1/open-interest"
    status, headers, body = await fetch(
        client, url, "OPTIONS", Origin=ORIGIN, Access_Control_Request_Method="GET"
    )
    assert status == 405 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert set(headers["Allow"].split(", ")) == {"GET", "HEAD"}
    _, headers, _ = await fetch(client, url, Origin=ORIGIN)
    assert "Access-Control-Allow-Origin" not in headers


async def test_cors_for_listed_origins(
    big_hub: SnapshotHub[PreparedSnapshot], serve: Any, client: aiohttp.ClientSession
) -> None:
    base = await serve(build_app(big_hub, cors_origins=(ORIGIN, "http://localhost:3000")))
    status, headers, body = await fetch(
        client,
        base + "/v1/symbols",
        "OPTIONS",
        Origin=ORIGIN,
        Access_Control_Request_Method="GET",
        Access_Control_Request_Headers="accept, x-trace-id",
    )
    assert (status, body) == (204, b"")
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert headers["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
    assert headers["Access-Control-Allow-Headers"] == "accept, x-trace-id"
    assert int(headers["Access-Control-Max-Age"]) > 0 and "Origin" in headers["Vary"]

    _, headers, _ = await fetch(client, base + "/v1/open-interest", Origin=ORIGIN)
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    status, headers, _ = await fetch(client, base + "/nope", Origin="http://localhost:3000")
    assert status == 404 and headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    _, headers, _ = await fetch(client, base + "/v1/open-interest", Origin="https://evil.example")
    assert "Access-Control-Allow-Origin" not in headers
    status, _, _ = await fetch(client, base + "/v1/open-interest", "PUT", Origin=ORIGIN)
    assert status == 405


async def test_cors_any_origin(
    big_hub: SnapshotHub[PreparedSnapshot], serve: Any, client: aiohttp.ClientSession
) -> None:
    base = await serve(build_app(big_hub, cors_origins=("*",)))
    _, headers, _ = await fetch(client, base + "/v1/open-interest", Origin="https://anyone.example")
    assert headers["Access-Control-Allow-Origin"] == "*" and "Origin" not in headers.get("Vary", "")


def test_cors_origin_flag() -> None:
    config = parse_config(
        ["--cors-origin", "https://a.example, http://b.example:8080/", "--cors-origin", "*"]
    )
    assert config.cors_origins == ("https://a.example", "http://b.example:8080", "*")
    assert parse_config([], environ={}).cors_origins == ()
    from_env = parse_config([], environ={"OI_CORS_ORIGIN": "https://a.example, *"})
    assert from_env.cors_origins == ("https://a.example", "*")
    with pytest.raises(InvalidOrigin, match="not an origin"):
        parse_origins(["https://a.example/path"])
    with pytest.raises(SystemExit):
        parse_config(["--cors-origin", "ftp://x"])


# --- several symbols in one call ----------------------------------------------------------------


async def json_of(client: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any]]:
    status, _, body = await fetch(client, url)
    return status, json.loads(body)


async def test_symbol_lists_on_symbols(
    big_hub: SnapshotHub[PreparedSnapshot], serve: Any, client: aiohttp.ClientSession
) -> None:
    base = await serve(build_app(big_hub))
    _, every = await json_of(client, base + "/v1/symbols")
    status, some = await json_of(client, base + "/v1/symbols?symbol=pepe,NOPE,xbt,eth,BTC")
    assert status == 200 and list(some["data"]) == ["BTC", "ETH", "PEPE"]  # by total; NOPE absent
    assert all(some["data"][s] == every["data"][s] for s in some["data"])
    _, one = await json_of(client, base + "/v1/symbols?symbol=BTC")
    assert list(one["data"]) == ["BTC"]
    status, none = await json_of(client, base + "/v1/symbols?symbol=NOPE,NADA")
    assert status == 404 and none["error"]["code"] == "NOT_FOUND" and "NOPE" in none["error"]["message"]


async def test_symbol_lists_on_markets(
    big_hub: SnapshotHub[PreparedSnapshot], serve: Any, client: aiohttp.ClientSession
) -> None:
    base = await serve(build_app(big_hub))
    status, listed = await json_of(client, base + "/v1/markets?symbol=PEPE,btc,NOPE")
    assert status == 200 and list(listed["data"]) == ["BTC", "PEPE"]
    for symbol, data in listed["data"].items():
        _, single = await json_of(client, f"{base}/v1/markets?symbol={symbol}")
        assert data == single["data"] and data["symbol"] == symbol  # the one-symbol data, keyed
    _, okx = await json_of(client, base + "/v1/markets?symbol=BTC,PEPE&source=okx")
    assert {m["source"] for d in okx["data"].values() for m in d["markets"]} == {"okx"}
    _, single = await json_of(client, base + "/v1/markets?symbol=BTC")
    assert set(single["data"]) == {"symbol", "markets"}  # one symbol: API.md section 4, unchanged
    _, collapsed = await json_of(client, base + "/v1/markets?symbol=BTC,xbt")
    assert list(collapsed["data"]) == ["BTC"]  # a list (a comma) answers as a map, even of one


@pytest.mark.parametrize(
    "query",
    [
        "/v1/symbols?symbol=BTC,",
        "/v1/symbols?symbol=,BTC",
        "/v1/symbols?symbol=BTC,B-TC",
        "/v1/symbols?symbol=BTC&symbol=ETH",
        "/v1/markets?symbol=BTC,,ETH",
        "/v1/markets?symbol=" + ",".join(f"S{i}" for i in range(MAX_LISTED_SYMBOLS + 1)),
        "/v1/open-interest?symbol=BTC,ETH",  # the seed endpoint takes one symbol, as ever
    ],
)
async def test_bad_symbol_lists_are_400(
    big_hub: SnapshotHub[PreparedSnapshot], serve: Any, client: aiohttp.ClientSession, query: str
) -> None:
    status, body = await json_of(client, await serve(build_app(big_hub)) + query)
    assert status == 400 and body["error"]["code"] == "INVALID_ARGUMENT"


async def test_a_hundred_symbols_are_accepted(
    big_hub: SnapshotHub[PreparedSnapshot], serve: Any, client: aiohttp.ClientSession
) -> None:
    query = ",".join(f"C{i}" for i in range(MAX_LISTED_SYMBOLS))
    status, body = await json_of(client, await serve(build_app(big_hub)) + "/v1/symbols?symbol=" + query)
    assert status == 200 and len(body["data"]) == 60


# --- /healthz and /readyz -----------------------------------------------------------------------


async def test_healthz_and_readyz_follow_the_data(serve: Any, client: aiohttp.ClientSession) -> None:
    hub: SnapshotHub[PreparedSnapshot] = SnapshotHub(PreparedSnapshot(Snapshot(built_at_ms=NOW)))
    base = await serve(build_app(hub))
    status, body = await json_of(client, base + "/healthz")
    assert status == 200 and body["data"] == {"serving": True}
    status, body = await json_of(client, base + "/readyz")
    assert (
        status == 503 and body["error"]["code"] == "UNAVAILABLE" and "no snapshot" in body["error"]["message"]
    )
    hub.publish(PreparedSnapshot(big_snapshot()))
    status, body = await json_of(client, base + "/readyz")
    assert status == 200 and body["data"] == {"ready": True}
    assert (await json_of(client, base + "/readyz?x=1"))[0] == 400


async def test_readyz_asks_the_readiness_callable(
    big_hub: SnapshotHub[PreparedSnapshot], serve: Any, client: aiohttp.ClientSession
) -> None:
    ready = [True]
    base = await serve(build_app(big_hub, ready=lambda: ready[0]))
    assert (await json_of(client, base + "/readyz"))[0] == 200
    ready[0] = False  # what App says once shutdown begins
    status, body = await json_of(client, base + "/readyz")
    assert status == 503 and "shutting down" in body["error"]["message"]
    assert (await json_of(client, base + "/healthz"))[0] == 200


async def test_app_is_ready_with_data_and_not_once_stopping(client: aiohttp.ClientSession) -> None:
    app = App(Config(grpc_port=0, http_port=0, simulate=True, sources=("okx",), poll_interval_s=0.5))
    assert not app.ready()
    await app.start()
    try:
        base = f"http://127.0.0.1:{app.http_port}"
        for _ in range(200):
            if (await json_of(client, base + "/readyz"))[0] == 200:
                break
            await asyncio.sleep(0.05)
        assert app.ready() and app.hub.latest.rows
    finally:
        await app.stop()
    assert not app.ready()
