"""Load generators, each run in its own process: ``N`` calls in flight for ``D`` seconds.

    python -m bench.load grpc --target 127.0.0.1:PORT [--symbol BTC] --in-flight 64 --duration-s 3
    python -m bench.load http --url http://127.0.0.1:PORT/v1/open-interest --in-flight 64 --duration-s 3

Prints one JSON line: ``{"requests": n, "seconds": s, "p50_s": x, "p99_s": y, "errors": e}``.
Responses are not decoded (gRPC: bytes pass-through; HTTP: body read), so the client spends
its CPU on the transport only. The REST benchmark prefers ``wrk`` when it is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence

import aiohttp
import grpc

from bench.common import percentile
from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.api.grpc_service import SERVICE_NAME


def identity(data: bytes) -> bytes:
    return data


async def drive(call: Callable[[], Awaitable[None]], in_flight: int, duration_s: float) -> dict[str, object]:
    """``in_flight`` loops calling ``call`` until ``duration_s`` passed (after a short warm-up)."""
    latencies: list[float] = []
    errors = 0
    for _ in range(in_flight):  # warm-up: connections made, code paths hot
        await call()
    started = time.perf_counter()
    deadline = started + duration_s

    async def loop() -> None:
        nonlocal errors
        while (now := time.perf_counter()) < deadline:
            try:
                await call()
            except Exception:
                errors += 1
                continue
            latencies.append(time.perf_counter() - now)

    await asyncio.gather(*(loop() for _ in range(in_flight)))
    seconds = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "seconds": seconds,
        "p50_s": percentile(latencies, 0.5),
        "p99_s": percentile(latencies, 0.99),
        "errors": errors,
    }


async def grpc_load(target: str, symbol: str, in_flight: int, duration_s: float) -> dict[str, object]:
    request = pb.GetOpenInterestRequest(symbol=symbol).SerializeToString()
    async with grpc.aio.insecure_channel(target) as channel:
        method = channel.unary_unary(
            f"/{SERVICE_NAME}/GetOpenInterest", request_serializer=identity, response_deserializer=identity
        )

        async def call() -> None:
            await method(request)

        return await drive(call, in_flight, duration_s)


async def http_load(url: str, in_flight: int, duration_s: float) -> dict[str, object]:
    connector = aiohttp.TCPConnector(limit=in_flight)
    # no Accept-Encoding (like wrk): ours and the bare server then send the same uncompressed bytes
    async with aiohttp.ClientSession(connector=connector, skip_auto_headers=("Accept-Encoding",)) as session:

        async def call() -> None:
            async with session.get(url) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}")

        return await drive(call, in_flight, duration_s)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("kind", choices=("grpc", "http"))
    parser.add_argument("--target", default="")
    parser.add_argument("--url", default="")
    parser.add_argument("--symbol", default="")
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--duration-s", type=float, default=3.0)
    args = parser.parse_args(argv)
    if args.kind == "grpc":
        result = asyncio.run(grpc_load(args.target, args.symbol, args.in_flight, args.duration_s))
    else:
        result = asyncio.run(http_load(args.url, args.in_flight, args.duration_s))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
