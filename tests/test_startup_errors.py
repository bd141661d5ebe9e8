"""`oi-server` that cannot start says why in one line and exits 2: no traceback, nothing left running.

The real command runs as a subprocess, as a user starts it; one source polled at a closed local
port, so nothing reaches the internet.
"""

from __future__ import annotations

import errno
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from server.app import App
from server.config import Config
from server.preflight import StartupError
from tests.test_tls import self_signed


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cannot_start(*args: str) -> str:
    """Run ``oi-server`` with ``args``; assert the one-line failure and return its message."""
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "server",
            "--sources",
            "okx",
            "--venue-url",
            f"okx=http://127.0.0.1:{free_port()}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "Traceback" not in completed.stderr
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert completed.returncode == 2, completed.stderr
    entry = json.loads(lines[0])  # a log line like any other: one JSON object
    assert entry["level"] == "error"
    message = str(entry["msg"])
    assert message.startswith("cannot start: ")
    return message


def test_grpc_port_in_use(busy_port: int) -> None:
    message = cannot_start("--grpc-port", str(busy_port), "--http-port", "0")
    assert message == f"cannot start: gRPC port 127.0.0.1:{busy_port} (--grpc-port) is already in use"


def test_rest_port_in_use(busy_port: int) -> None:
    message = cannot_start("--grpc-port", "0", "--http-port", str(busy_port))
    assert message == f"cannot start: REST port 127.0.0.1:{busy_port} (--http-port) is already in use"


def test_host_that_does_not_resolve() -> None:
    message = cannot_start("--host", "no.such.host.invalid", "--grpc-port", "0", "--http-port", "0")
    assert message.startswith("cannot start: --host no.such.host.invalid: cannot resolve it")


def test_host_that_is_not_this_machine() -> None:
    message = cannot_start("--host", "192.0.2.1", "--grpc-port", "0", "--http-port", "0")  # TEST-NET-1
    assert message.startswith("cannot start: --host 192.0.2.1: not an address of this machine")


def test_tls_cert_that_is_not_a_certificate(tmp_path: Path) -> None:
    _, key = self_signed(tmp_path)
    bad = tmp_path / "server.pem"
    bad.write_text("not a certificate\n")
    message = cannot_start(
        "--grpc-port", "0", "--http-port", "0", "--tls-cert", str(bad), "--tls-key", str(key)
    )
    assert message == f"cannot start: --tls-cert {bad}: not a PEM certificate chain"


def test_tls_key_that_is_not_a_key(tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path)
    message = cannot_start(
        "--grpc-port", "0", "--http-port", "0", "--tls-cert", str(cert), "--tls-key", str(cert)
    )
    assert message == f"cannot start: --tls-key {cert}: not a PEM private key"


def test_tls_key_of_another_certificate(tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path)
    (tmp_path / "other").mkdir()
    _, other_key = self_signed(tmp_path / "other")
    message = cannot_start(
        "--grpc-port", "0", "--http-port", "0", "--tls-cert", str(cert), "--tls-key", str(other_key)
    )
    assert message == f"cannot start: --tls-key {other_key}: does not match the certificate in {cert}"


def test_simulator_control_port_in_use(busy_port: int) -> None:
    message = cannot_start(
        "--grpc-port", "0", "--http-port", "0", "--simulate", "--sim-control-port", str(busy_port)
    )
    assert f"127.0.0.1:{busy_port} (--sim-control-port) is already in use" in message


async def test_failure_midway_stops_what_had_started(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure after the simulator is up (here: out of file descriptors while wiring the pollers)
    stops the simulator and releases the REST port before ``start`` raises."""
    http_port = free_port()
    app = App(Config(grpc_port=0, http_port=http_port, simulate=True, sources=("okx",)))
    started: dict[str, str] = {}

    def exhausted(*args: object, **kwargs: object) -> object:
        assert app.sim is not None
        started.update(app.sim.urls, control=app.sim.control_url)
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr("server.app.HostRouter", exhausted)
    with pytest.raises(StartupError, match=r"^Too many open files$"):
        await app.start()
    assert set(started) == {"okx", "control"}
    async with aiohttp.ClientSession() as session:
        for url in started.values():  # the simulator is gone: its ports refuse connections
            with pytest.raises(aiohttp.ClientConnectionError):
                async with session.get(url):
                    pass
    with socket.socket() as sock:  # and the REST port is free again
        sock.bind(("127.0.0.1", http_port))


def test_oi_sim_control_port_in_use(busy_port: int) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "server.sim.cli", "--venues", "okx", "--control-port", str(busy_port)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (completed.returncode, completed.stdout) == (2, "")
    assert (
        completed.stderr
        == f"oi-sim: cannot start: control port 127.0.0.1:{busy_port} (--control-port) is already in use\n"
    )
