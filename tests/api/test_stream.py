"""``GET /v1/stream`` (Server-Sent Events) on a real server, read by a real aiohttp client."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.connector import AddrInfoType

from server.api import stream
from server.api.convert import PreparedSnapshot
from server.api.rest import RestRunner, build_app
from server.core.aggregate import Aggregator
from server.core.hub import SnapshotHub
from server.core.model import MarketOI, Snapshot, VenueReading
from tests.api.conftest import NOW, snapshot

Event = tuple[int, bytes]  # (id, data)


async def next_event(response: aiohttp.ClientResponse, timeout_s: float = 10.0) -> Event:
    """The next ``event: symbols`` of the stream (comments and the ``retry:`` field skipped)."""
    fields: dict[str, bytes] = {}
    async with asyncio.timeout(timeout_s):
        while True:
            line = await response.content.readline()
            assert line, "the stream ended"
            line = line.rstrip(b"\n")
            if line == b"":
                if "data" in fields:
                    assert fields["event"] == b"symbols"
                    return int(fields["id"]), fields["data"]
                fields.clear()
                continue
            if line.startswith(b":"):
                continue
            name, _, value = line.partition(b": ")
            fields[name.decode()] = value


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


async def rest_body(client: aiohttp.ClientSession, url: str) -> bytes:
    async with client.get(url) as response:
        assert response.status == 200
        return await response.read()


async def test_first_event_is_the_current_symbols_body(
    client: aiohttp.ClientSession, rest_url: str, hub: SnapshotHub[PreparedSnapshot]
) -> None:
    async with client.get(f"{rest_url}/v1/stream?symbols=btc") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert response.headers["Cache-Control"] == "no-cache"
        assert await response.content.readline() == b"retry: 3000\n"
        version, data = await next_event(response)
    assert version == hub.version
    assert data == await rest_body(client, f"{rest_url}/v1/symbols?symbol=BTC")  # byte for byte
    assert list(json.loads(data)["data"]) == ["BTC"]


async def test_no_symbols_means_every_symbol(client: aiohttp.ClientSession, rest_url: str) -> None:
    async with client.get(f"{rest_url}/v1/stream") as response:
        _, data = await next_event(response)
    assert data == await rest_body(client, f"{rest_url}/v1/symbols")
    assert list(json.loads(data)["data"]) == ["BTC", "ETH", "PEPE"]


async def test_named_symbols_keep_the_snapshot_order_and_skip_unknown_ones(
    client: aiohttp.ClientSession, rest_url: str
) -> None:
    async with client.get(f"{rest_url}/v1/stream?symbols=ETH,NOPE&symbols=BTC,eth") as response:
        _, data = await next_event(response)
    assert list(json.loads(data)["data"]) == ["BTC", "ETH"]


async def test_an_update_follows_a_snapshot_that_changes_the_symbols_and_only_such_one(
    client: aiohttp.ClientSession, rest_url: str, hub: SnapshotHub[PreparedSnapshot]
) -> None:
    async with client.get(f"{rest_url}/v1/stream?symbols=BTC") as response:
        first, _ = await next_event(response)
        hub.publish(PreparedSnapshot(snapshot(now=NOW + 1)))  # a new time, the same figures: no event
        changed = hub.publish(PreparedSnapshot(snapshot(now=NOW + 2, btc_binance_usd=1.0)))
        version, data = await next_event(response)
    assert (first, version) == (changed - 2, changed)
    body = json.loads(data)
    assert body["timestamp"] == NOW + 2
    assert body["data"]["BTC"]["total_oi_usd"] == 1.0 + 3_100_000_000.0 + 1_000_000.01


class ManySymbols:
    """Snapshots of 1,500 symbols (a large event) where each new one moves BTC alone, so building
    it costs one symbol (``Aggregator`` keeps the unchanged ones), as in the service."""

    def __init__(self, count: int = 1500) -> None:
        markets = tuple(
            MarketOI(venue_symbol=f"S{i}USDT", base=f"S{i}", oi_base=1000.0, oi_usd=1e6 + i, price_usd=1.0)
            for i in range(count)
        )
        self.bulk = VenueReading(source="okx", fetched_at_ms=NOW, markets=markets)
        self.aggregator = Aggregator()

    def snapshot(self, seq: int) -> Snapshot:
        btc = MarketOI(venue_symbol="BTCUSDT", base="BTC", oi_base=1.0 + seq, oi_usd=1e9 + seq, price_usd=1e9)
        moved = VenueReading(source="binance", fetched_at_ms=NOW + seq, markets=(btc,))
        readings = {"okx": self.bulk, "binance": moved}
        stale = dict.fromkeys(readings, 3_600_000)
        return self.aggregator.build(readings, now_ms=NOW + seq, stale_after_ms=stale)


async def ids_until(response: aiohttp.ClientResponse, last: int) -> list[int]:
    """The ids of every event read until the one with id ``last`` (lines too long for readline)."""
    buffer, ids = b"", []
    async with asyncio.timeout(30):
        while last not in ids:
            chunk = await response.content.read(1 << 16)
            assert chunk, "the stream ended"
            buffer += chunk
            *events, buffer = buffer.split(b"\n\n")
            ids += [int(m.group(1)) for e in events if (m := re.search(rb"^id: (\d+)$", e, re.M))]
    return ids


def small_receive_buffer(addr_info: AddrInfoType) -> socket.socket:
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


async def test_a_slow_reader_gets_the_newest_state_not_a_backlog(
    rest_url: str, hub: SnapshotHub[PreparedSnapshot]
) -> None:
    many = ManySymbols()
    first = hub.publish(PreparedSnapshot(many.snapshot(0)))
    connector = aiohttp.TCPConnector(socket_factory=small_receive_buffer)
    async with (
        aiohttp.ClientSession(connector=connector, read_bufsize=4096) as slow,
        slow.get(f"{rest_url}/v1/stream") as response,
    ):
        assert await ids_until(response, first) == [first]
        published = 40
        for seq in range(1, published + 1):
            last = hub.publish(PreparedSnapshot(many.snapshot(seq), hub.latest))
            hub.latest.symbols_json(None)  # built here, so the reader's pace alone decides
            await asyncio.sleep(0.01)  # the stream runs: it writes, or waits on the reader
        size = len(hub.latest.symbols_json(None) or b"")
        received = await ids_until(response, last)
    assert size > 100_000
    assert received == sorted(received)
    assert len(received) < published, f"every version arrived: {received}"


@pytest.mark.parametrize(
    ("query", "status", "code", "fragment"),
    [
        ("?symbols=BTC-USD", 400, "INVALID_ARGUMENT", "malformed symbol"),
        ("?symbols=" + ",".join(["A"] * 1001), 400, "INVALID_ARGUMENT", "too many symbols"),
        ("?symbol=BTC", 400, "INVALID_ARGUMENT", "unknown query parameter"),
    ],
)
async def test_bad_requests_are_envelopes(
    client: aiohttp.ClientSession, rest_url: str, query: str, status: int, code: str, fragment: str
) -> None:
    async with client.get(f"{rest_url}/v1/stream{query}") as response:
        assert (response.status, response.content_type) == (status, "application/json")
        body = await response.json()
    assert body["error"]["code"] == code and fragment in body["error"]["message"]


async def test_past_the_stream_limit_is_429(
    client: aiohttp.ClientSession, hub: SnapshotHub[PreparedSnapshot], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "HEARTBEAT_S", 0.05)  # a reader that left is noticed at the next write
    runner = RestRunner(build_app(hub))
    runner.app[stream.LIMITS].max_streams = 1
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1/stream"
    try:
        async with client.get(url) as first:
            await next_event(first)
            async with client.get(url) as second:
                assert second.status == 429
                assert (await second.json())["error"]["code"] == "RESOURCE_EXHAUSTED"
        limits = runner.app[stream.LIMITS]
        deadline = time.monotonic() + 5
        while limits.open:
            assert time.monotonic() < deadline, "the closed stream kept its slot"
            await asyncio.sleep(0.02)
        async with client.get(url) as again:  # the first one's slot is free again
            await next_event(again)
    finally:
        await runner.cleanup()


async def test_heartbeats_keep_an_idle_stream_open(
    client: aiohttp.ClientSession, rest_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "HEARTBEAT_S", 0.05)
    async with client.get(f"{rest_url}/v1/stream?symbols=BTC") as response:
        await next_event(response)
        async with asyncio.timeout(5):
            assert await response.content.readline() == b": keep-alive\n"


async def test_streams_end_cleanly_when_the_hub_closes(
    client: aiohttp.ClientSession, rest_url: str, hub: SnapshotHub[PreparedSnapshot]
) -> None:
    async with client.get(f"{rest_url}/v1/stream?symbols=BTC") as response:
        await next_event(response)
        hub.close()
        async with asyncio.timeout(5):
            rest = await response.content.read()  # to the end: the chunked body was terminated
    assert rest == b""


async def test_streams_end_cleanly_at_server_shutdown(
    client: aiohttp.ClientSession, hub: SnapshotHub[PreparedSnapshot]
) -> None:
    runner = RestRunner(build_app(hub), shutdown_timeout=30)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1/stream"
    async with client.get(url) as response:
        await next_event(response)
        started = time.monotonic()
        cleanup = asyncio.create_task(runner.cleanup())
        async with asyncio.timeout(5):
            assert await response.content.read() == b""
        await cleanup
    assert time.monotonic() - started < 5  # ended by the shutdown signal, not the 30 s timeout


async def test_cors_origins_reach_the_stream(
    client: aiohttp.ClientSession, hub: SnapshotHub[PreparedSnapshot]
) -> None:
    runner = RestRunner(build_app(hub, cors_origins=["https://app.example"]))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1/stream?symbols=BTC"
    try:
        async with client.get(url, headers={"Origin": "https://app.example"}) as response:
            await next_event(response)
            assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
            assert response.headers.getall("Vary") == ["Origin"]
        async with client.get(url, headers={"Origin": "https://elsewhere.example"}) as response:
            await next_event(response)
            assert "Access-Control-Allow-Origin" not in response.headers
    finally:
        await runner.cleanup()
