"""The running service against its own OpenAPI document, with schemathesis (issue 16).

The whole service runs in-process against the simulator (every source, so every kind of
market and funding is served); once it holds data, schemathesis's ``st`` reads
``/openapi.json`` and tries every operation with every documented parameter: the examples,
the coverage phase (boundaries, each pattern and enum, valid and invalid) and random fuzzing.
Checks: no 5xx, every response valid against the document (status code, content type, body).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import aiohttp
import pytest

from server.app import App
from server.config import Config

CHECKS: Final = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
MAX_EXAMPLES: Final = 30  # per operation and phase: ~15 s on a shared 2-core machine
RUN_TIMEOUT_S: Final = 150.0

pytestmark = pytest.mark.timeout(240)


def st_command() -> list[str]:
    beside = Path(sys.executable).with_name("st")
    found = str(beside) if beside.exists() else shutil.which("st")
    if found is None:
        pytest.fail("schemathesis's `st` is not installed: pip install -e '.[dev]'")
    return [found]


@pytest.fixture
async def service() -> AsyncIterator[App]:
    # history on (SQLite in a folder of its own): with it off, /v1/history is a documented 503,
    # which the not_a_server_error check counts as a failure
    app = App(
        Config(
            grpc_port=0,
            http_port=0,
            simulate=True,
            poll_interval_s=1,
            sim_seed=7,
            history="",
            data_dir=Path(tempfile.mkdtemp(prefix="oi-schemathesis-")),
        )
    )
    await app.start()
    try:
        deadline = time.monotonic() + 30
        while len({v.source for t in app.hub.latest.snapshot.symbols.values() for v in t.venues}) < len(
            app.config.sources
        ):
            assert time.monotonic() < deadline, "not every simulated source delivered within 30 s"
            await asyncio.sleep(0.1)
        yield app
    finally:
        await app.stop()


async def test_service_conforms_to_its_openapi_document(service: App, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{service.http_port}/openapi.json"
    process = await asyncio.create_subprocess_exec(
        *st_command(),
        "run",
        url,
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--phases",
        "examples,coverage,fuzzing",
        "--request-timeout",
        "5",
        "--no-color",
        cwd=tmp_path,  # schemathesis writes its example database and reports under the cwd
        env={**os.environ, "SCHEMATHESIS_HOOKS": "", "NO_COLOR": "1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT_S)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-6000:]
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        documented = len((await response.json())["paths"])
    tested = re.search(r"Tested:\s+(\d+)", text)
    # st leaves out the operation serving the document itself when it runs them all
    assert tested is not None and int(tested.group(1)) >= documented - 1, text[-3000:]
    assert re.search(r"\d+ generated, \d+ passed", text), text[-3000:]
