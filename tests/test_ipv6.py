"""``--host ::1`` and ``--host ::``: both front doors on IPv6 (and ``::`` on IPv4 as well)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest

from clients.oi_client import OpenInterestClient
from server.app import App
from server.config import Config, parse_config


def _ipv6_loopback_problem() -> str | None:
    if not socket.has_ipv6:
        return "Python was built without IPv6"
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError as error:
        return f"the IPv6 loopback ::1 is not usable here: {error}"
    return None


pytestmark = pytest.mark.skipif(_ipv6_loopback_problem() is not None, reason=str(_ipv6_loopback_problem()))


@pytest.fixture(params=["::1", "::"])
async def app(request: pytest.FixtureRequest) -> AsyncIterator[App]:
    service = App(
        Config(
            host=request.param, grpc_port=0, http_port=0, simulate=True, sources=("okx",), poll_interval_s=1
        )
    )
    await service.start()
    yield service
    await service.stop()


async def assert_both_doors(app: App, host: str) -> None:
    url = f"http://{host}:{app.http_port}/v1/open-interest"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200 and (await response.json())["status"] == "ok"
    async with OpenInterestClient(f"{host}:{app.grpc_port}") as client:
        assert (await client.get()).timestamp > 0


async def test_ipv6_loopback(app: App) -> None:
    await assert_both_doors(app, "[::1]")


async def test_every_address_includes_ipv4(app: App) -> None:
    if app.config.host == "::":
        await assert_both_doors(app, "127.0.0.1")
    else:  # ::1 is the IPv6 loopback only
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{app.http_port}/"):
                pass


def test_bracketed_host_is_the_address() -> None:
    assert parse_config(["--host", "[::1]"]).host == "::1"
    assert parse_config(["--host", "::"]).host == "::"
