"""Run-time configuration of ``oi-server``: flags (API.md §3), each mirrored by an ``OI_*`` variable."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from server.venues import REGISTRY

ENV_PREFIX: Final = "OI_"


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    host: str = "127.0.0.1"
    grpc_port: int = 50051
    http_port: int = 8080
    simulate: bool = False
    sources: tuple[str, ...] = tuple(REGISTRY)
    poll_interval_s: float = 30.0
    venue_urls: Mapping[str, str] = field(default_factory=dict)
    sim_control_port: int = 0
    sim_seed: int | None = None
    sim_full_scale: bool = False
    request_timeout_s: float = 10.0
    shutdown_grace_s: float = 2.0
    max_watch_streams: int = 20_000
    max_body_bytes: int = 32 * 1024 * 1024  # per venue response, after decompression
    snapshot_coalesce_s: float = 0.2  # readings this close together share one snapshot
    tls_cert: Path | None = None
    tls_key: Path | None = None
    log_level: str = "info"


def _env(name: str) -> str | None:
    return os.environ.get(ENV_PREFIX + name.upper().replace("-", "_"))


def _sources(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [n for n in names if n not in REGISTRY]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown source(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(REGISTRY)}"
        )
    return names


def _venue_url(text: str) -> tuple[str, str]:
    source, sep, url = text.partition("=")
    if not sep or source not in REGISTRY:
        raise argparse.ArgumentTypeError(f"expected SOURCE=URL with SOURCE one of {', '.join(REGISTRY)}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"{url!r} is not an http(s) URL")
    return source, url.rstrip("/")


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be a port number 0-65535 (0 = any free port)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oi-server",
        description="Open-interest aggregation for crypto perpetuals: gRPC + REST. "
        "Every flag can also be set as OI_<FLAG> (e.g. OI_POLL_INTERVAL=5, OI_SIMULATE=1).",
    )
    defaults = Config()
    parser.add_argument(
        "--host", default=_env("host") or defaults.host, help="listen address (default 127.0.0.1)"
    )
    parser.add_argument("--grpc-port", type=_port, default=_env("grpc_port") or defaults.grpc_port)
    parser.add_argument("--http-port", type=_port, default=_env("http_port") or defaults.http_port)
    parser.add_argument(
        "--simulate",
        action="store_true",
        default=(_env("simulate") or "").lower() in ("1", "true", "yes"),
        help="start the built-in exchange simulator on loopback and poll it instead of the venues",
    )
    parser.add_argument(
        "--sources",
        type=_sources,
        default=_env("sources") or ",".join(defaults.sources),
        help="comma-separated source ids to poll (default: all)",
    )
    parser.add_argument(
        "--poll-interval",
        type=_positive,
        default=_env("poll_interval") or defaults.poll_interval_s,
        help="seconds between polls of each source (default 30)",
    )
    parser.add_argument(
        "--venue-url",
        type=_venue_url,
        action="append",
        default=[],
        metavar="SOURCE=URL",
        help="poll SOURCE at another base URL (repeatable; OI_VENUE_URL: comma-separated)",
    )
    parser.add_argument(
        "--sim-control-port",
        type=_port,
        default=_env("sim_control_port") or defaults.sim_control_port,
        help="port of the simulator's fault-control API (with --simulate; 0 = any free port)",
    )
    parser.add_argument(
        "--sim-seed", type=int, default=_env("sim_seed"), help="seed of the simulator's random walk"
    )
    parser.add_argument(
        "--sim-full-scale",
        action="store_true",
        default=(_env("sim_full_scale") or "") in ("1", "true"),
        help="simulate each venue's real market count (hundreds of markets) instead of the 20 core coins",
    )
    parser.add_argument(
        "--request-timeout",
        type=_positive,
        default=_env("request_timeout") or defaults.request_timeout_s,
        help="seconds before one venue request is abandoned (default 10)",
    )
    parser.add_argument(
        "--tls-cert",
        type=Path,
        default=_env("tls_cert"),
        help="PEM certificate (chain): serve gRPC and REST over TLS (with --tls-key)",
    )
    parser.add_argument(
        "--tls-key", type=Path, default=_env("tls_key"), help="PEM private key for --tls-cert"
    )
    parser.add_argument(
        "--max-watch-streams",
        type=int,
        default=_env("max_watch_streams") or defaults.max_watch_streams,
        help="concurrent WatchOpenInterest streams before new ones get RESOURCE_EXHAUSTED (default 20000)",
    )
    parser.add_argument(
        "--log-level",
        default=_env("log_level") or defaults.log_level,
        choices=("debug", "info", "warning", "error"),
    )
    return parser


def parse_config(argv: Sequence[str] | None = None) -> Config:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    for path in (args.tls_cert, args.tls_key):
        if path is not None and not Path(path).is_file():
            parser.error(f"{path} is not a readable file")
    sources = args.sources if isinstance(args.sources, tuple) else _sources(args.sources)
    env_urls = [_venue_url(u) for u in (_env("venue_url") or "").split(",") if u.strip()]
    return Config(
        host=args.host,
        grpc_port=int(args.grpc_port),
        http_port=int(args.http_port),
        simulate=args.simulate,
        sources=sources,
        poll_interval_s=float(args.poll_interval),
        venue_urls=dict(env_urls + args.venue_url),
        sim_control_port=int(args.sim_control_port),
        sim_seed=None if args.sim_seed is None else int(args.sim_seed),
        sim_full_scale=bool(args.sim_full_scale),
        request_timeout_s=float(args.request_timeout),
        log_level=args.log_level,
        max_watch_streams=int(args.max_watch_streams),
        tls_cert=None if args.tls_cert is None else Path(args.tls_cert),
        tls_key=None if args.tls_key is None else Path(args.tls_key),
    )
