"""Flags and their OI_* environment mirrors."""

from __future__ import annotations

import pytest

from server.config import parse_config
from server.venues import REGISTRY


def test_defaults() -> None:
    config = parse_config([])
    assert (config.host, config.grpc_port, config.http_port) == ("127.0.0.1", 50051, 8080)
    assert config.poll_interval_s == 30.0 and not config.simulate
    assert config.sources == tuple(REGISTRY) and config.venue_urls == {}


def test_flags() -> None:
    config = parse_config(
        [
            "--simulate",
            "--sources",
            "okx,bybit",
            "--poll-interval",
            "1.5",
            "--grpc-port",
            "0",
            "--venue-url",
            "bybit=https://api.bytick.com/",
            "--venue-url",
            "okx=http://127.0.0.1:9000",
            "--sim-control-port",
            "7000",
            "--host",
            "0.0.0.0",
        ]
    )
    assert config.simulate and config.sources == ("okx", "bybit") and config.poll_interval_s == 1.5
    assert config.venue_urls == {"bybit": "https://api.bytick.com", "okx": "http://127.0.0.1:9000"}
    assert (config.grpc_port, config.sim_control_port, config.host) == (0, 7000, "0.0.0.0")


def test_environment_mirrors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OI_POLL_INTERVAL", "5")
    monkeypatch.setenv("OI_SIMULATE", "1")
    monkeypatch.setenv("OI_SOURCES", "binance")
    monkeypatch.setenv("OI_HTTP_PORT", "9090")
    monkeypatch.setenv("OI_VENUE_URL", "binance=http://localhost:1")
    config = parse_config([])
    assert config.poll_interval_s == 5.0 and config.simulate and config.sources == ("binance",)
    assert config.http_port == 9090 and config.venue_urls == {"binance": "http://localhost:1"}
    assert parse_config(["--poll-interval", "2"]).poll_interval_s == 2.0  # a flag beats the environment


@pytest.mark.parametrize(
    "argv",
    [
        ["--sources", "nope"],
        ["--sources", ""],
        ["--poll-interval", "0"],
        ["--poll-interval", "-1"],
        ["--grpc-port", "70000"],
        ["--venue-url", "okx"],
        ["--venue-url", "nope=http://x"],
        ["--venue-url", "okx=ftp://x"],
    ],
)
def test_bad_flags_exit_with_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_config(argv)
    assert caught.value.code == 2
    assert "error" in capsys.readouterr().err
