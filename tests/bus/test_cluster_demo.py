"""``make cluster`` (``python -m server.cluster``): one command brings up a collector and two
replicas that serve data, and Ctrl-C takes them all down."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys

import aiohttp

from tests.bus.test_cluster import ROOT


async def test_one_command_starts_a_collector_and_two_serving_replicas(shared_nats: str, bucket: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cluster", "--bus", shared_nats, "--bus-bucket", bucket,
        "--base-port", "0", "--poll-interval", "1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip
    assert process.stdout is not None
    printed: list[str] = []
    try:
        async with asyncio.timeout(60):
            while "Ctrl-C stops all of them" not in printed[-1:]:
                line = await process.stdout.readline()
                assert line, "\n".join(printed)
                printed.append(line.decode().strip())
        urls = re.findall(r"replica \d +(http://127\.0\.0\.1:\d+)", "\n".join(printed))
        assert len(urls) == 2, printed
        async with aiohttp.ClientSession() as session:
            for url in urls:
                async with asyncio.timeout(20):
                    while True:
                        async with session.get(f"{url}/v1/open-interest?symbol=BTC") as response:
                            if response.status == 200:
                                body = json.loads(await response.read())
                                assert body["data"]["total_oi_usd"] > 0
                                break
                        await asyncio.sleep(0.1)
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(20):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
