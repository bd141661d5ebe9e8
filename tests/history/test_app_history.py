"""History through the whole service (simulator, SQLite in a temporary folder): the recorder
follows what is served, shutdown flushes the open minute, a restart serves it at once; a store
that cannot be reached leaves the live endpoints serving and history answering 503."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from server.app import App, history_name
from server.config import Config
from server.preflight import StartupError
from tests.api.test_openapi import validator

SOURCES = ("okx", "bybit")


def config(data_dir: Path, history: str = "") -> Config:
    return Config(
        grpc_port=0,
        http_port=0,
        simulate=True,
        sources=SOURCES,
        poll_interval_s=0.5,
        sim_seed=5,
        request_timeout_s=1.0,
        history=history,
        data_dir=data_dir,
        history_sample_s=0.1,
    )


async def until(condition: Callable[[], object], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def get(app: App, path: str) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{app.http_port}{path}") as response,
    ):
        return response.status, await response.json()


async def test_shutdown_flushes_and_a_restart_serves_it_at_once(tmp_path: Path) -> None:
    app = App(config(tmp_path))
    await app.start()
    try:
        await until(lambda: app.recorder is not None and app.recorder.status().open_series >= 3)
        status, body = await get(app, "/v1/history/status")
        assert status == 200
        assert validator("/v1/history/status").is_valid(body)
        data = body["data"]
        assert isinstance(data, dict)
        assert data["state"] == "ok"
        assert data["store"] == f"sqlite:///{tmp_path / 'history.sqlite3'}"
        assert data["open_series"] >= 3
    finally:
        started = time.monotonic()
        await app.stop()
        assert time.monotonic() - started < 5.0
    assert (tmp_path / "history.sqlite3").is_file()

    again = App(config(tmp_path))
    await again.start()
    try:
        for interval in ("1m", "1h", "1d"):
            status, body = await get(again, f"/v1/history?symbol=BTC&interval={interval}")
            assert status == 200, body
            candles = body["data"]["candles"]  # type: ignore[index]
            assert len(candles) >= 1
            assert candles[-1]["exchange_count"] == 2
            assert candles[-1]["oi_usd"]["c"] > 0
        status, body = await get(again, "/v1/history?symbol=BTC&interval=1m&source=okx")
        assert status == 200 and body["data"]["candles"][-1]["exchange_count"] == 1  # type: ignore[index]
        status, _ = await get(again, "/v1/history?symbol=NOPE&interval=1m")
        assert status == 404
    finally:
        await again.stop()


async def test_a_second_recorder_on_the_same_file_is_a_startup_error(tmp_path: Path) -> None:
    app = App(config(tmp_path))
    await app.start()
    try:
        with pytest.raises(StartupError, match=r"history\.sqlite3"):
            await App(config(tmp_path)).start()
        status, _ = await get(app, "/v1/history/status")
        assert status == 200
    finally:
        await app.stop()


async def test_an_unreachable_store_leaves_the_live_endpoints_serving(tmp_path: Path) -> None:
    app = App(config(tmp_path, history="postgresql://oi:secret@127.0.0.1:9/history"))
    await app.start()
    try:
        await until(lambda: app.hub.latest.rows)
        status, _ = await get(app, "/v1/open-interest?symbol=BTC")
        assert status == 200
        status, body = await get(app, "/v1/history?symbol=BTC&interval=1m")
        assert status == 503
        assert body["error"]["code"] == "UNAVAILABLE"  # type: ignore[index]
        status, body = await get(app, "/v1/history/status")
        data = body["data"]
        assert isinstance(data, dict)
        assert data["state"] == "unavailable"
        assert data["failures"] >= 1
        assert data["store"] == "postgresql://oi:***@127.0.0.1:9/history"
        assert "secret" not in str(data)
    finally:
        await app.stop()


async def test_history_off(tmp_path: Path) -> None:
    app = App(config(tmp_path, history="none"))
    await app.start()
    try:
        assert app.recorder is None
        status, body = await get(app, "/v1/history?symbol=BTC&interval=1h")
        assert status == 503 and "--history none" in str(body["error"])
    finally:
        await app.stop()
    assert not (tmp_path / "history.sqlite3").exists()


def test_history_name_hides_a_password() -> None:
    assert history_name("postgresql://u:p@db:5432/oi", Path("d")) == "postgresql://u:***@db:5432/oi"
    assert history_name("", Path("d")) == "sqlite:///d/history.sqlite3"
    assert history_name("sqlite:///x.db", Path("d")) == "sqlite:///x.db"
