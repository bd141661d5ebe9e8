"""NATS for the scale-out tests: the machine's server (127.0.0.1:4222) with a bucket of each
test's own, removed afterwards; and, for the tests that stop and restart NATS, a server of the
test's own (the same ``nats-server`` binary, its own port and store). Unreachable or missing:
the tests skip with the reason, and fail in CI (``CI=true``), which must run them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest

SHARED_URL = os.environ.get("OI_TEST_NATS_URL", "nats://127.0.0.1:4222")
NATS_BINARY = shutil.which("nats-server") or "/usr/sbin/nats-server"


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI must run the NATS tests: .ci/run starts the server)")
    pytest.skip(reason)


async def probe(url: str) -> str | None:
    try:
        nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False)
    except Exception as error:  # any failure is the reason to report
        return f"NATS not reachable at {url}: {type(error).__name__}: {error}"
    try:
        await nc.jetstream().account_info()
    except Exception as error:  # no JetStream, or not answering
        return f"NATS at {url} has no JetStream: {type(error).__name__}: {error}"
    finally:
        await nc.close()
    return None


async def delete_bucket(url: str, bucket: str) -> None:
    with contextlib.suppress(Exception):
        nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False)
        try:
            await nc.jetstream().delete_key_value(bucket)
        finally:
            await nc.close()


@pytest.fixture
def bucket() -> str:
    return f"oi_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def shared_nats(bucket: str) -> AsyncIterator[str]:
    problem = await probe(SHARED_URL)
    if problem is not None:
        unavailable(problem)
    yield SHARED_URL
    await delete_bucket(SHARED_URL, bucket)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OwnNats:
    """A nats-server of the test's own, stopped and started on the same port and store."""

    def __init__(self, store: Path) -> None:
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self._store = store
        self._process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self._process = subprocess.Popen(  # noqa: ASYNC220 - returns at once; the wait is async below
            [NATS_BINARY, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self._store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            if await probe(self.url) is None:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"nats-server did not start on {self.url}")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(5)
            self._process = None


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[OwnNats]:
    if not Path(NATS_BINARY).exists():
        unavailable(f"nats-server binary not found ({NATS_BINARY}): the NATS restart tests need one")
    server = OwnNats(tmp_path / "jetstream")
    yield server
    server.stop()
