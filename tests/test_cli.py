"""Flags and their OI_* environment mirrors, --help, and the README's table of them."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from server.config import ENV_PREFIX, build_parser, parse_config
from server.sim import cli as sim_cli
from server.sim.render import SIM_VENUES
from server.venues import REGISTRY

README = Path(__file__).resolve().parents[1] / "README.md"


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


@pytest.mark.parametrize(
    ("argv", "env", "line"),
    [
        (["--poll-interval", "abc"], {}, "--poll-interval: 'abc' is not a number"),
        (["--poll-interval", "inf"], {}, "--poll-interval: 'inf' is not a finite number"),
        (["--poll-interval", "nan"], {}, "--poll-interval: 'nan' is not a finite number"),
        (["--request-timeout=-inf"], {}, "--request-timeout: '-inf' is not a finite number"),
        (["--request-timeout", "0"], {}, "--request-timeout: '0' must be greater than 0"),
        (["--max-watch-streams", "0"], {}, "--max-watch-streams: '0' must be at least 1"),
        (["--max-watch-streams", "many"], {}, "--max-watch-streams: 'many' is not a whole number"),
        (["--grpc-port", "http"], {}, "--grpc-port: 'http' is not a port number"),
        (["--host", ""], {}, "--host: '' is not a host name or IP address"),
        (["--log-level", "loud"], {}, "--log-level: 'loud' is not one of debug, info, warning, error"),
        (["--sources", "okx,nope"], {}, "--sources: unknown source(s) 'nope'"),
        (["--grpc-port", "9000", "--http-port", "9000"], {}, "--grpc-port and --http-port are both 9000"),
        ([], {"OI_GRPC_PORT": "8080"}, "--grpc-port and --http-port are both 8080"),
        (["--sim-seed", "7"], {}, "--sim-seed needs --simulate"),
        (["--sim-control-port", "7000"], {}, "--sim-control-port needs --simulate"),
        (["--sim-full-scale"], {}, "--sim-full-scale needs --simulate"),
        ([], {"OI_SIM_SEED": "7"}, "OI_SIM_SEED needs --simulate"),
        ([], {"OI_POLL_INTERVAL": "abc"}, "OI_POLL_INTERVAL: 'abc' is not a number"),
        ([], {"OI_SIMULATE": "maybe"}, "OI_SIMULATE: 'maybe' is not on or off"),
        ([], {"OI_VENUE_URL": "okx=ftp://x"}, "OI_VENUE_URL: 'ftp://x' is not an http(s) URL"),
    ],
)
def test_a_bad_value_is_one_line_naming_flag_and_value(
    argv: list[str], env: dict[str, str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_config(argv, environ=env)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"oi-server: error: {line}") and err.count("\n") == 1, err


def test_simulator_flags_with_simulate() -> None:
    config = parse_config(["--simulate", "--sim-seed", "7", "--sim-full-scale", "--sim-control-port", "7000"])
    assert (config.sim_seed, config.sim_full_scale, config.sim_control_port) == (7, True, 7000)
    config = parse_config([], environ={"OI_SIMULATE": "yes", "OI_SIM_SEED": "3", "OI_SIM_FULL_SCALE": "0"})
    assert config.simulate and config.sim_seed == 3 and not config.sim_full_scale
    assert not parse_config([], environ={"OI_SIMULATE": "0", "OI_SIM_FULL_SCALE": "false"}).simulate


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]


@pytest.mark.parametrize("parser", [build_parser(), sim_cli.build_parser()], ids=["oi-server", "oi-sim"])
def test_every_flag_has_help_showing_its_default(parser: argparse.ArgumentParser) -> None:
    for action in options(parser):
        assert action.help and "(default: " in action.help, action.option_strings


def test_every_server_flag_names_its_variable() -> None:
    text = " ".join(build_parser().format_help().split())
    for action in options(build_parser()):
        variable = ENV_PREFIX + action.option_strings[0].removeprefix("--").upper().replace("-", "_")
        assert f"env {variable})" in text


def test_help_keeps_source_ids_and_flags_whole(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "50")  # narrow: every long help text wraps
    for parser, ids in ((sim_cli.build_parser(), SIM_VENUES), (build_parser(), REGISTRY)):
        with pytest.raises(SystemExit):
            parser.parse_args(["--help"])
        words = set(re.findall(r"[\w-]+", capsys.readouterr().out))
        assert set(ids) <= words
        assert not [word for word in words if word.endswith("-")]  # no flag name cut at a hyphen


def readme_flags_table() -> tuple[set[str], set[str]]:
    """The flags and variables named in the first column of the README's oi-server table."""
    section = README.read_text().split("## Running it: `oi-server`", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `--")]
    first_column = " ".join(row.split("|")[1] for row in rows)
    flags = set(re.findall(r"--[a-z][a-z0-9-]*", first_column))
    return flags, set(re.findall(r"OI_[A-Z0-9_]+", first_column))


def test_readme_lists_the_same_flags_and_variables_as_help() -> None:
    parser = build_parser()
    flags = {a.option_strings[0] for a in options(parser)}
    variables = set(re.findall(r"env (OI_[A-Z0-9_]+)", " ".join(parser.format_help().split())))
    assert readme_flags_table() == (flags, variables)
