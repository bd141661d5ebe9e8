"""Run-time configuration of ``oi-server``: flags (API.md §3), each mirrored by an ``OI_*`` variable.

``OPTIONS`` is the one list of flags: the parser, ``--help`` and the README table (checked by a
test) all follow it.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, cast
from urllib.parse import urlsplit

from server import flags
from server.api.cors import InvalidOrigin, parse_origins
from server.bus.connection import DEFAULT_BUCKET, check_bus_url
from server.core.signals import DEFAULT_CROWDING_THRESHOLD, DEFAULT_OI_BANDS, DEFAULT_PRICE_BANDS, WINDOWS
from server.history.model import Interval
from server.history.retention import DEFAULT_RETENTION_MS, age_text, parse_age
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
    cors_origins: tuple[str, ...] = ()  # REST CORS: allowed origins, "*" for any; () = off
    # "" = sqlite:///<data_dir>/history.sqlite3 (the flag's default); "none" = off, the default of
    # a Config built in code (tests, embedders): only the command line records unless told
    history: str = "none"
    history_sample_s: float = 5.0  # one sample per series this often (history.recorder)
    data_dir: Path = Path("data")
    history_retention_ms: Mapping[Interval, int | None] = field(
        default_factory=lambda: dict(DEFAULT_RETENTION_MS)
    )
    # signals (API.md section 7): dead bands in percent per window, crowding threshold per 8 h
    oi_dead_bands: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_OI_BANDS))
    price_dead_bands: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_PRICE_BANDS))
    crowding_threshold: float = DEFAULT_CROWDING_THRESHOLD
    # scale-out (API.md section 9): "all" polls and serves in one process; "collector" polls and
    # publishes to the bus; "api" serves what the bus holds
    role: str = "all"
    bus: str | None = None
    bus_bucket: str = DEFAULT_BUCKET


@dataclass(frozen=True, slots=True)
class Option:
    """One flag: how its value (on the command line or in its ``OI_*`` variable) is read."""

    flag: str
    convert: Callable[[str], object]  # also argparse's ``type``; raises ArgumentTypeError
    default: str  # as shown in --help and the README
    help: str
    switch: bool = False  # a flag without a value; its variable is on/off
    repeatable: bool = False  # every use adds one value; the variable holds them comma-separated
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.dest.upper()


def _sources(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [n for n in names if n not in REGISTRY]
    if unknown or not names:
        named = ", ".join(map(repr, unknown)) or "(none given)"
        raise argparse.ArgumentTypeError(f"unknown source(s) {named}; known: {', '.join(REGISTRY)}")
    return names


def _venue_url(text: str) -> tuple[str, str]:
    source, sep, url = text.partition("=")
    source = source.strip()
    if not sep or source not in REGISTRY:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not SOURCE=URL with SOURCE one of {', '.join(REGISTRY)}"
        )
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"{url!r} is not an http(s) URL")
    return source, url.strip().rstrip("/")


def _cors_origins(text: str) -> tuple[str, ...]:
    try:
        origins = parse_origins([text])
    except InvalidOrigin as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if not origins:
        raise argparse.ArgumentTypeError("expected an origin (scheme://host[:port]) or *")
    return origins


def _log_level(text: str) -> str:
    if text not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(LOG_LEVELS)}")
    return text


def _history(text: str) -> str:
    """A ``--history`` spelling (``history.stores`` opens it; this only refuses the unknown early)."""
    value = text.strip()
    if value.lower() == "none" or value.startswith(("sqlite:///", "postgresql://", "postgres://")):
        return value
    raise argparse.ArgumentTypeError(
        f"{text!r} is not sqlite:///PATH, postgresql://USER@HOST:PORT/DB or none"
    )


def _retention(text: str) -> int:
    """An age in ms, 0 for forever (None would read as "flag not given")."""
    try:
        return parse_age(text) or 0
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _retention_dest(interval: Interval) -> str:
    return f"history_retention_{interval.value}"


def _bands(defaults: Mapping[str, float]) -> Callable[[str], dict[str, float]]:
    """``1h=1.5,4h=3``: the windows named get these bands (percent); the others keep their default."""

    def convert(text: str) -> dict[str, float]:
        bands = dict(defaults)
        for part in (p.strip() for p in text.split(",") if p.strip()):
            window, sep, value = part.partition("=")
            if not sep or window.strip() not in WINDOWS:
                raise argparse.ArgumentTypeError(
                    f"{part!r} is not WINDOW=PERCENT with WINDOW one of {', '.join(WINDOWS)}"
                )
            band = flags.number(value.strip())
            if band < 0:
                raise argparse.ArgumentTypeError(f"{part!r}: a dead band cannot be negative")
            bands[window.strip()] = band
        return bands

    return convert


def _defaults_text(bands: Mapping[str, float]) -> str:
    return ",".join(f"{w}={b:g}" for w, b in bands.items())


def _role(text: str) -> str:
    if text not in ROLES:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(ROLES)}")
    return text


def _bus(text: str) -> str:
    try:
        return check_bus_url(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _bucket(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a bucket name (letters, digits, - and _)")
    return text


ROLES: Final = ("all", "collector", "api")
LOG_LEVELS: Final = ("debug", "info", "warning", "error")
SIM_ONLY: Final = ("sim_control_port", "sim_full_scale", "sim_seed")

OPTIONS: Final = (
    Option(
        "--host",
        flags.host,
        "127.0.0.1",
        "listen address of gRPC and REST: an IPv4 or IPv6 address or a host name; "
        "0.0.0.0 or :: listens on every address",
    ),
    Option(
        "--grpc-port",
        flags.port,
        "50051",
        "gRPC port; 0 = any free port (printed in the ready line)",
        metavar="PORT",
    ),
    Option(
        "--http-port",
        flags.port,
        "8080",
        "REST port; 0 = any free port (printed in the ready line)",
        metavar="PORT",
    ),
    Option(
        "--sources",
        _sources,
        "all",
        f"comma-separated source ids to poll, from: {', '.join(REGISTRY)}",
        metavar="A,B",
    ),
    Option(
        "--poll-interval",
        flags.positive,
        "30",
        "seconds between polls of each source (with ±10 % jitter)",
        metavar="S",
    ),
    Option(
        "--venue-url",
        _venue_url,
        "none",
        "poll SOURCE at another base URL (a mirror, a testnet, a standalone oi-sim); "
        "repeatable; the variable takes them comma-separated",
        repeatable=True,
        metavar="SOURCE=URL",
    ),
    Option(
        "--simulate",
        flags.switch,
        "off",
        "start the built-in exchange simulator on loopback and poll it instead of the venues",
        switch=True,
    ),
    Option(
        "--sim-control-port",
        flags.port,
        "0",
        "port of the simulator's control API, with --simulate; 0 = any free port (printed at start)",
        metavar="PORT",
    ),
    Option(
        "--sim-full-scale",
        flags.switch,
        "off",
        "with --simulate: each venue's real market count (about 5,000 markets) instead of 20 coins",
        switch=True,
    ),
    Option(
        "--sim-seed",
        flags.integer,
        "random",
        "with --simulate: seed of the simulator's random walk, for reproducible runs",
        metavar="N",
    ),
    Option(
        "--request-timeout",
        flags.positive,
        "10",
        "seconds before one venue request is abandoned",
        metavar="S",
    ),
    Option(
        "--tls-cert",
        Path,
        "off",
        "PEM certificate chain: serve gRPC and REST over TLS (with --tls-key)",
        metavar="PEM",
    ),
    Option("--tls-key", Path, "off", "PEM private key (unencrypted) of --tls-cert", metavar="PEM"),
    Option(
        "--max-watch-streams",
        flags.at_least_one,
        "20000",
        "concurrent WatchOpenInterest streams; past it new ones get RESOURCE_EXHAUSTED",
        metavar="N",
    ),
    Option(
        "--cors-origin",
        _cors_origins,
        "off",
        "let browser pages from ORIGIN (scheme://host[:port], or * for any) call the REST API: "
        "CORS headers on every answer and OPTIONS preflights; repeatable or comma-separated",
        repeatable=True,
        metavar="ORIGIN",
    ),
    Option(
        "--oi-dead-bands",
        _bands(DEFAULT_OI_BANDS),
        _defaults_text(DEFAULT_OI_BANDS),
        "signals: OI moves (percent) taken as flat, per window; the windows named override theirs",
        metavar="W=PCT,…",
    ),
    Option(
        "--price-dead-bands",
        _bands(DEFAULT_PRICE_BANDS),
        _defaults_text(DEFAULT_PRICE_BANDS),
        "signals: price moves (percent) taken as flat, per window; the windows named override theirs",
        metavar="W=PCT,…",
    ),
    Option(
        "--crowding-threshold",
        flags.positive,
        f"{DEFAULT_CROWDING_THRESHOLD:g}",
        "signals: OI-weighted funding per 8 h at or beyond ± this, with OI up, is crowding",
        metavar="RATE",
    ),
    Option(
        "--role",
        _role,
        "all",
        "all: poll and serve in one process; collector: poll, record history and publish to "
        "--bus; api: serve what --bus holds (several replicas at once), polling nothing",
        metavar="{" + ",".join(ROLES) + "}",
    ),
    Option(
        "--bus",
        _bus,
        "off",
        "NATS JetStream URL shared by a collector and its api replicas (needs --role collector or api)",
        metavar="nats://HOST:PORT",
    ),
    Option(
        "--bus-bucket",
        _bucket,
        DEFAULT_BUCKET,
        "the JetStream key-value bucket collector and replicas share (one per deployment)",
        metavar="NAME",
    ),
    Option(
        "--log-level",
        _log_level,
        "info",
        "logs are one JSON object per line on stderr",
        metavar="{" + ",".join(LOG_LEVELS) + "}",
    ),
    Option(
        "--history",
        _history,
        "sqlite:///<data-dir>/history.sqlite3",
        "where history is recorded and read: sqlite:///PATH, postgresql://USER@HOST:PORT/DB, or none (off)",
        metavar="URL",
    ),
    Option("--data-dir", Path, "./data", "folder of the default SQLite history file", metavar="DIR"),
    *(
        Option(
            f"--history-retention-{interval.value}",
            _retention,
            age_text(DEFAULT_RETENTION_MS[interval]),
            f"how long {interval.value} candles are kept: e.g. 30d, 12h, 90m; 0 = forever",
            metavar="AGE",
        )
        for interval in Interval
    ),
)


def build_parser() -> argparse.ArgumentParser:
    """The ``oi-server`` parser; every flag defaults to None so that ``parse_config`` can tell a
    flag given from its ``OI_*`` variable and from the built-in default."""
    parser = flags.Parser(
        prog="oi-server",
        formatter_class=flags.HelpFormatter,
        description="Open-interest aggregation for crypto perpetuals, served over gRPC and REST. "
        "Every flag can also be set in its environment variable (shown with it); a flag beats "
        "its variable.",
    )
    for option in OPTIONS:
        help_text = f"{option.help} (default: {option.default}; env {option.env})".replace("%", "%%")
        if option.switch:
            parser.add_argument(option.flag, action="store_true", default=None, help=help_text)
        else:
            parser.add_argument(
                option.flag,
                type=option.convert,
                action="append" if option.repeatable else "store",
                default=None,
                metavar=option.metavar,
                help=help_text,
            )
    return parser


def _given(
    parser: argparse.ArgumentParser, args: argparse.Namespace, environ: Mapping[str, str]
) -> dict[str, tuple[str, object]]:
    """dest → (where it came from, value) for every option set by a flag or a variable."""
    given: dict[str, tuple[str, object]] = {}
    for option in OPTIONS:
        value = getattr(args, option.dest)
        raw = environ.get(option.env)
        if option.repeatable:
            from_env: list[object] = []
            if raw is not None:
                from_env = [_from_env(parser, option, part) for part in raw.split(",") if part.strip()]
            if from_env or value:
                given[option.dest] = (option.flag if value else option.env, from_env + (value or []))
        elif value is not None:
            given[option.dest] = (option.flag, value)
        elif raw is not None:
            converted = _from_env(parser, option, raw)
            if not (option.switch and converted is False):
                given[option.dest] = (option.env, converted)
    return given


def _from_env(parser: argparse.ArgumentParser, option: Option, raw: str) -> object:
    try:
        return option.convert(raw.strip())
    except argparse.ArgumentTypeError as error:
        parser.error(f"{option.env}: {error}")


def parse_config(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Flags over ``OI_*`` variables over defaults; a bad value exits 2 with a line naming it."""
    parser = build_parser()
    args = parser.parse_args(argv)
    given = _given(parser, args, os.environ if environ is None else environ)
    values = {dest: value for dest, (_, value) in given.items()}
    if not values.get("simulate"):
        for dest in SIM_ONLY:
            if dest in given:
                parser.error(f"{given[dest][0]} needs --simulate (or {ENV_PREFIX}SIMULATE=1)")
    if ("tls_cert" in values) != ("tls_key" in values):
        parser.error("--tls-cert and --tls-key go together")
    for dest in ("tls_cert", "tls_key"):
        path = values.get(dest)
        if isinstance(path, Path) and not path.is_file():
            parser.error(f"{given[dest][0]}: {str(path)!r} is not a readable file")
    defaults = Config()
    urls = cast("list[tuple[str, str]]", values.get("venue_url", []))
    origin_groups = cast("list[tuple[str, ...]]", values.get("cors_origin", []))
    config = Config(
        host=cast(str, values.get("host", defaults.host)),
        grpc_port=cast(int, values.get("grpc_port", defaults.grpc_port)),
        http_port=cast(int, values.get("http_port", defaults.http_port)),
        simulate=bool(values.get("simulate", False)),
        sources=cast("tuple[str, ...]", values.get("sources", defaults.sources)),
        poll_interval_s=cast(float, values.get("poll_interval", defaults.poll_interval_s)),
        venue_urls=dict(urls),
        sim_control_port=cast(int, values.get("sim_control_port", defaults.sim_control_port)),
        sim_seed=cast("int | None", values.get("sim_seed")),
        sim_full_scale=bool(values.get("sim_full_scale", False)),
        request_timeout_s=cast(float, values.get("request_timeout", defaults.request_timeout_s)),
        log_level=cast(str, values.get("log_level", defaults.log_level)),
        max_watch_streams=cast(int, values.get("max_watch_streams", defaults.max_watch_streams)),
        tls_cert=cast("Path | None", values.get("tls_cert")),
        tls_key=cast("Path | None", values.get("tls_key")),
        oi_dead_bands=cast("dict[str, float]", values.get("oi_dead_bands", defaults.oi_dead_bands)),
        price_dead_bands=cast("dict[str, float]", values.get("price_dead_bands", defaults.price_dead_bands)),
        crowding_threshold=cast(float, values.get("crowding_threshold", defaults.crowding_threshold)),
        cors_origins=tuple(dict.fromkeys(o for group in origin_groups for o in group)),
        history=cast(str, values.get("history", "none" if values.get("role") == "api" else "")),
        role=cast(str, values.get("role", defaults.role)),
        bus=cast("str | None", values.get("bus")),
        bus_bucket=cast(str, values.get("bus_bucket", defaults.bus_bucket)),
        data_dir=cast(Path, values.get("data_dir", defaults.data_dir)),
        history_retention_ms={
            interval: cast("int | None", values.get(_retention_dest(interval), default)) or None
            for interval, default in defaults.history_retention_ms.items()
        },
    )
    _check_role(parser, config, given)
    if config.grpc_port == config.http_port != 0:
        parser.error(f"--grpc-port and --http-port are both {config.grpc_port}; they need a port each")
    return config


def _check_role(
    parser: argparse.ArgumentParser, config: Config, given: Mapping[str, tuple[str, object]]
) -> None:
    """The combinations of ``--role`` that cannot work, refused in one line before anything starts."""
    if config.role == "all":
        for dest in ("bus", "bus_bucket"):
            if dest in given:
                parser.error(
                    f"{given[dest][0]} needs --role collector or --role api (the default, all, uses no bus)"
                )
        return
    if config.bus is None:
        parser.error(f"--role {config.role} needs --bus nats://HOST:PORT")
    if config.role == "api":
        for dest in ("simulate", "sources", "poll_interval", "venue_url"):
            if dest in given:
                parser.error(f"{given[dest][0]}: an api replica polls nothing (its collector does)")
        if config.history.startswith("sqlite") or config.history == "":
            parser.error(
                "--role api reads history from the collector's shared PostgreSQL: "
                "--history postgresql://USER@HOST:PORT/DB, or none"
            )
