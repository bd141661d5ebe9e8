"""The service under load, as a separate process: shutdown with 1000 open watch streams, and
slow readers that never read next to normal readers (bounded memory, no lost updates)."""

from __future__ import annotations

import asyncio
import signal
import time

import grpc
import psutil

from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.api.gen.openinterest.v1 import open_interest_pb2_grpc as pb_grpc
from tests.test_e2e import Running, start_server

STREAMS_PER_CHANNEL = 100


async def open_streams(
    target: str, count: int
) -> tuple[list[grpc.aio.Channel], list[grpc.aio.UnaryStreamCall]]:
    channels = [grpc.aio.insecure_channel(target) for _ in range(max(1, count // STREAMS_PER_CHANNEL))]
    stubs = [pb_grpc.OpenInterestServiceStub(c) for c in channels]
    calls = [stubs[i % len(stubs)].WatchOpenInterest(pb.WatchOpenInterestRequest()) for i in range(count)]
    return channels, calls


async def stop(running: Running) -> None:
    if running.process.returncode is None:
        running.process.kill()
        await running.process.wait()


async def test_sigterm_with_1000_streams_and_polls_in_flight() -> None:
    running = await start_server("--simulate", "--poll-interval", "0.5", "--sim-seed", "4")
    try:
        target = f"127.0.0.1:{running.grpc_port}"
        channels, calls = await open_streams(target, 1000)
        firsts = await asyncio.wait_for(asyncio.gather(*(call.read() for call in calls)), 30)
        assert all(isinstance(m, pb.WatchOpenInterestResponse) for m in firsts)

        async def drain(call: grpc.aio.UnaryStreamCall) -> grpc.StatusCode:
            while await call.read() is not grpc.aio.EOF:
                pass
            code: grpc.StatusCode = await call.code()
            return code

        draining = [asyncio.ensure_future(drain(call)) for call in calls]
        await asyncio.sleep(1.0)  # polls are in flight at every moment at this interval
        sent = time.monotonic()
        running.process.send_signal(signal.SIGTERM)
        codes = await asyncio.wait_for(asyncio.gather(*draining), 5)
        assert await asyncio.wait_for(running.process.wait(), 5) == 0
        assert time.monotonic() - sent < 5
        assert set(codes) == {grpc.StatusCode.OK}  # every stream ended cleanly
        for channel in channels:
            await channel.close()
    finally:
        await stop(running)


async def test_slow_readers_cost_bounded_memory_and_readers_miss_nothing() -> None:
    running = await start_server(
        "--simulate", "--sim-full-scale", "--poll-interval", "0.5", "--sim-seed", "5"
    )
    try:
        server = psutil.Process(running.process.pid)
        target = f"127.0.0.1:{running.grpc_port}"
        idle_channels, idle_calls = await open_streams(target, 500)  # opened, never read
        reader_channels, reader_calls = await open_streams(target, 500)
        received: list[list[int]] = [[] for _ in reader_calls]

        async def read_all(index: int, call: grpc.aio.UnaryStreamCall) -> None:
            while (message := await call.read()) is not grpc.aio.EOF:
                assert isinstance(message, pb.WatchOpenInterestResponse)
                received[index].append(message.timestamp)

        readers = [asyncio.ensure_future(read_all(i, call)) for i, call in enumerate(reader_calls)]
        await asyncio.sleep(6)  # warm-up: every stream's buffers fill once
        rss_early = server.memory_info().rss
        await asyncio.sleep(12)
        rss_late = server.memory_info().rss
        growth_mb = (rss_late - rss_early) / 2**20
        # a backlog would grow by (message ~25 KB) x 500 idle streams per update: ~12 MB per update,
        # ~300 MB over these 12 s; conflation keeps it to noise
        assert growth_mb < 40, f"server RSS grew {growth_mb:.0f} MB while 500 streams did not read"

        messages = max(len(r) for r in received)
        assert messages >= 10, "readers should see a change at least every poll"
        reference = received[0]
        assert reference == sorted(reference) and len(set(reference)) == len(reference)
        # every normal reader got every update: the same messages as every other reader, give or
        # take the one in flight when we stop looking
        # from the moment the last reader was connected to just before we stopped looking
        every = sorted({t for r in received for t in r})
        start, cut = max(r[0] for r in received), every[-3]
        expected = [t for t in every if start <= t <= cut]
        assert len(expected) >= 10
        missing = [len(set(expected) - set(r)) for r in received]
        lagging = sum(map(bool, missing))
        assert max(missing) == 0, f"{lagging} readers missed up to {max(missing)} of {len(expected)} updates"

        for task in readers:
            task.cancel()
        for call in idle_calls + reader_calls:
            call.cancel()
        for channel in idle_channels + reader_channels:
            await channel.close()
        running.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(running.process.wait(), 5) == 0
    finally:
        await stop(running)
