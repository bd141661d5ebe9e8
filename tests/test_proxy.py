"""Venue requests go through ``HTTP_PROXY`` / ``HTTPS_PROXY`` unless ``NO_PROXY`` names the host.

A small forward proxy on loopback (absolute-URI GETs, as curl and pip send them to a proxy)
stands between the service and the simulator; the figures served must still be the simulator's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from server.app import App, proxies_configured
from server.config import Config

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@dataclass
class ForwardProxy:
    url: str = ""
    seen: list[tuple[str, str]] = field(default_factory=list)  # (method, target) of every request


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    state = ForwardProxy()
    async with aiohttp.ClientSession(auto_decompress=True) as upstream:

        async def forward(request: web.BaseRequest) -> web.StreamResponse:
            state.seen.append((request.method, request.raw_path))
            if request.method == "CONNECT":  # a tunnel for an https target: seen is all we need
                return web.Response(status=502)
            body = await request.read()
            async with upstream.request(request.method, URL(request.raw_path), data=body or None) as answer:
                return web.Response(
                    body=await answer.read(), status=answer.status, content_type=answer.content_type
                )

        runner = web.ServerRunner(web.Server(forward))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        yield state
        await runner.cleanup()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy settings from the machine running the tests."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


async def okx_btc_usd(app: App) -> float | None:
    """okx's BTC figure as served over REST (this session ignores proxy settings)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{app.http_port}/v1/open-interest?symbol=BTC") as response,
    ):
        if response.status != 200:
            return None
        exchanges = (await response.json())["data"]["exchanges"]
        return float(exchanges["okx"]["oi_usd"]) if "okx" in exchanges else None


async def served_truth(app: App) -> tuple[float, float]:
    """(served, simulated) okx BTC open interest once a poll after the freeze has been served."""
    assert app.sim is not None
    app.sim.frozen = True
    truth = sum(m.oi_usd for m in app.sim.world.venues["okx"] if m.listing.asset == "BTC")
    deadline = time.monotonic() + 15
    while True:
        served = await okx_btc_usd(app)
        if served is not None and served == pytest.approx(truth, rel=0.005):
            return served, truth
        assert time.monotonic() < deadline, f"served {served}, simulator {truth}"
        await asyncio.sleep(0.1)


def simulated_okx(poll_interval_s: float = 0.5) -> App:
    return App(
        Config(
            grpc_port=0,
            http_port=0,
            simulate=True,
            sources=("okx",),
            poll_interval_s=poll_interval_s,
            sim_seed=5,
            request_timeout_s=2,
        )
    )


async def test_venue_requests_go_through_http_proxy(
    proxy: ForwardProxy, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("HTTP_PROXY", proxy.url)
    clean_env.setenv("NO_PROXY", "example.com,.internal")  # other hosts: the simulator is not excluded
    app = simulated_okx()
    await app.start()
    try:
        served, truth = await served_truth(app)
        assert served == pytest.approx(truth, rel=0.005)
        assert app.sim is not None
        okx = URL(app.sim.urls["okx"])
        targets = [URL(target) for method, target in proxy.seen if method == "GET"]
        assert targets, proxy.seen
        assert all(t.is_absolute() and (t.host, t.port) == (okx.host, okx.port) for t in targets), proxy.seen
    finally:
        await app.stop()


async def test_no_proxy_excludes_a_host(proxy: ForwardProxy, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HTTP_PROXY", proxy.url)
    clean_env.setenv("NO_PROXY", "example.com,127.0.0.1")
    app = simulated_okx()
    await app.start()
    try:
        await served_truth(app)
        assert proxy.seen == []
    finally:
        await app.stop()


async def test_https_venues_go_through_https_proxy(
    proxy: ForwardProxy, clean_env: pytest.MonkeyPatch
) -> None:
    """An https venue is reached through a CONNECT tunnel opened by the ``HTTPS_PROXY``."""
    clean_env.setenv("HTTPS_PROXY", proxy.url)
    app = App(
        Config(
            grpc_port=0,
            http_port=0,
            sources=("okx",),
            venue_urls={"okx": "https://okx.example.invalid"},
            poll_interval_s=0.5,
            request_timeout_s=2,
        )
    )
    await app.start()
    try:
        deadline = time.monotonic() + 10
        while not proxy.seen:
            assert time.monotonic() < deadline, "no request reached the proxy"
            await asyncio.sleep(0.1)
        assert proxy.seen[0] == ("CONNECT", "okx.example.invalid:443")
    finally:
        await app.stop()


@pytest.mark.parametrize(
    ("environ", "configured"),
    [
        ({}, False),
        ({"NO_PROXY": "example.com"}, False),
        ({"HTTP_PROXY": ""}, False),
        ({"HTTP_PROXY": "http://proxy:3128"}, True),
        ({"https_proxy": "http://proxy:3128"}, True),
    ],
)
def test_environment_is_trusted_only_when_a_proxy_is_set(environ: dict[str, str], configured: bool) -> None:
    assert proxies_configured(environ) is configured
