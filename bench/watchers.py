"""Watch-stream clients in their own process, so their CPU is not the server's.

    python -m bench.watchers --target 127.0.0.1:PORT --streams N --per-channel M

Prints ``{"channels": C}`` once its channels are connected, then obeys commands on stdin:

- ``open TIMEOUT_S [WAVE]``: start the streams WAVE at a time (default: all at the same instant);
  answers when each stream has its first message or TIMEOUT_S passed: ``{"first_s": [seconds
  from the start to each stream's first message], "errors": {...}}``.
- ``collect``: per publication (the message's timestamp, unix ms) the publication→receipt delay of
  each stream that received it: ``{"delays": {"<ms>": [s, ...]}, "errors": {...}}``; then forgets them.
- ``close``: cancels every stream, answers ``{"closed": n}``.

Messages are not decoded: the timestamp is field 1, first on the wire (``PreparedSnapshot`` puts
it there), so reading one varint is enough. A client that decoded 11 KB per message would measure
its own protobuf parser, not the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Final

import grpc

from bench.common import emit, stdin_lines
from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.api.grpc_service import SERVICE_NAME

WATCH_METHOD: Final = f"/{SERVICE_NAME}/WatchOpenInterest"
TIMESTAMP_TAG: Final = 0x08  # field 1, varint


def timestamp_ms(message: bytes) -> int:
    """Field 1 (varint) of a watch message, which starts every message we and the bare server send."""
    if not message or message[0] != TIMESTAMP_TAG:
        return -1
    value = shift = 0
    for byte in message[1:11]:
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value
        shift += 7
    return -1


def identity(data: bytes) -> bytes:
    return data


class Watchers:
    def __init__(self, target: str, streams: int, per_channel: int, symbols: Sequence[str]) -> None:
        self.count = streams
        count = max(1, -(-streams // per_channel))
        self.channels = [grpc.aio.insecure_channel(target) for _ in range(count)]
        self.per_channel = per_channel
        self.request = pb.WatchOpenInterestRequest(symbols=list(symbols)).SerializeToString()
        self.tasks: list[asyncio.Task[None]] = []
        self.first: list[float | None] = []
        self.delays: dict[int, list[float]] = defaultdict(list)
        self.errors: Counter[str] = Counter()
        self.started = 0.0
        self.progress = asyncio.Event()  # set on every first message or stream error
        self.firsts = 0

    async def connect(self) -> None:
        await asyncio.gather(*(channel.channel_ready() for channel in self.channels))

    async def one(self, index: int) -> None:
        channel = self.channels[index // self.per_channel]
        call = channel.unary_stream(
            WATCH_METHOD, request_serializer=identity, response_deserializer=identity
        )(self.request)
        try:
            async for message in call:
                now = time.time()
                if self.first[index] is None:
                    self.first[index] = now - self.started
                    self.firsts += 1
                    self.progress.set()
                stamp = timestamp_ms(message)
                self.delays[stamp].append(now - stamp / 1000)
        except grpc.aio.AioRpcError as error:
            self.errors[error.code().name] += 1
            self.progress.set()
        except asyncio.CancelledError:
            call.cancel()
            raise

    async def open(self, timeout_s: float, wave: int) -> None:
        """Start the streams ``wave`` at a time, each wave once the previous one has its first
        messages (``wave`` >= streams: all at the same instant, a reconnect storm)."""
        self.first = [None] * self.count
        self.started = time.time()
        deadline = self.started + timeout_s
        for start in range(0, self.count, wave):
            end = min(self.count, start + wave)
            self.tasks.extend(asyncio.create_task(self.one(i)) for i in range(start, end))
            while self.firsts + sum(self.errors.values()) < end and time.time() < deadline:
                self.progress.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.progress.wait(), max(0.0, deadline - time.time()))
        emit({"first_s": [f for f in self.first if f is not None], "errors": dict(self.errors)})

    def collect(self) -> None:
        delays = {str(stamp): [round(d, 5) for d in found] for stamp, found in self.delays.items()}
        self.delays.clear()
        emit({"delays": delays, "errors": dict(self.errors)})

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        emit({"closed": len(self.tasks)})
        self.tasks = []
        for channel in self.channels:
            await channel.close()


async def run(args: argparse.Namespace) -> None:
    watchers = Watchers(
        args.target, args.streams, args.per_channel, args.symbols.split(",") if args.symbols else ()
    )
    await watchers.connect()
    emit({"channels": len(watchers.channels)})
    async for line in stdin_lines():
        words = line.split()
        if not words:
            continue
        if words[0] == "open":
            await watchers.open(float(words[1]), int(words[2]) if len(words) > 2 else watchers.count)
        elif words[0] == "collect":
            watchers.collect()
        elif words[0] == "close":
            await watchers.close()
            return


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.watchers")
    parser.add_argument("--target", required=True)
    parser.add_argument("--streams", type=int, required=True)
    parser.add_argument("--per-channel", type=int, default=100)
    parser.add_argument("--symbols", default="")
    args = parser.parse_args(argv)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
