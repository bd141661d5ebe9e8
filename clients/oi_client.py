"""A small typed Python client for oi-service's gRPC API, on the generated stubs.

Library use::

    async with OpenInterestClient("127.0.0.1:50051") as client:
        snapshot = await client.get()              # every symbol, totals only
        btc = await client.get("BTC")              # one symbol with per-exchange figures
        async for update in client.watch(["BTC"]): # first the current state, then each change
            ...
        async with client.follow(["BTC"]) as view:   # for slow consumers: always the newest state
            ...
            print(view.latest)

Command line::

    python -m clients.oi_client [--target HOST:PORT] [--tls] [--ca-file PEM] get [--symbol BTC]
    python -m clients.oi_client [--target HOST:PORT] [--tls] [--ca-file PEM] watch [BTC ETH ...]

``--tls`` checks the server's certificate against the system's roots, ``--ca-file`` against the
given PEM (a self-signed ``--tls-cert`` of the server, say; it implies ``--tls``). Output piped
into a reader that stops early (``| head``) ends the client quietly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import cast

if __name__ == "__main__":
    # The command line prints one-line errors; gRPC's core would also log a failed TLS handshake at
    # INFO on stderr. It reads this when grpc is imported, hence here, before the imports below.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import grpc

from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.api.gen.openinterest.v1 import open_interest_pb2_grpc as pb_grpc

DEFAULT_TARGET = "127.0.0.1:50051"


class OpenInterestClient:
    def __init__(
        self, target: str = DEFAULT_TARGET, *, credentials: grpc.ChannelCredentials | None = None
    ) -> None:
        self._channel = (
            grpc.aio.secure_channel(target, credentials) if credentials else grpc.aio.insecure_channel(target)
        )
        self._stub = pb_grpc.OpenInterestServiceStub(self._channel)

    async def __aenter__(self) -> OpenInterestClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    async def get(self, symbol: str | None = None, *, timeout_s: float = 10.0) -> pb.GetOpenInterestResponse:
        """All symbols (totals), or one symbol with its exchanges. Raises grpc.aio.AioRpcError
        with NOT_FOUND / INVALID_ARGUMENT as the API says."""
        response = await self._stub.GetOpenInterest(
            pb.GetOpenInterestRequest(symbol=symbol or ""), timeout=timeout_s
        )
        return cast(pb.GetOpenInterestResponse, response)

    async def watch(self, symbols: Sequence[str] = ()) -> AsyncIterator[pb.WatchOpenInterestResponse]:
        """The watched symbols' state: first the current one, then one message per change.

        The server keeps no backlog for a slow reader, but messages already sent wait in the
        connection's flow-control window (64 KB and up) until read: a consumer slower than the
        updates reads older and older states. Such a consumer should use ``follow``.
        """
        call = self._stub.WatchOpenInterest(pb.WatchOpenInterestRequest(symbols=list(symbols)))
        try:
            async for message in call:
                yield message
        finally:
            call.cancel()

    @contextlib.asynccontextmanager
    async def follow(self, symbols: Sequence[str] = ()) -> AsyncIterator[Following]:
        """A watch drained by a background task into ``Following.latest``: however slowly the
        caller looks, it sees the newest state (the transport never holds a queue for it)."""
        following = Following()
        task = asyncio.create_task(following.drain(self.watch(symbols)))
        try:
            await following.wait_first()
            yield following
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class Following:
    """The newest message of a watch stream, kept up to date by ``OpenInterestClient.follow``."""

    def __init__(self) -> None:
        self.latest: pb.WatchOpenInterestResponse | None = None
        self.received = 0
        self._first = asyncio.Event()

    async def drain(self, updates: AsyncIterator[pb.WatchOpenInterestResponse]) -> None:
        async for update in updates:
            self.latest = update
            self.received += 1
            self._first.set()

    async def wait_first(self) -> None:
        await self._first.wait()


def format_symbol(entry: pb.SymbolOpenInterest) -> str:
    line = f"{entry.symbol:<10} {entry.total_oi_usd:>20,.2f} USD  {entry.exchange_count:>2} exchanges"
    details = [
        f"    {e.exchange:<14} {e.oi_usd:>20,.2f} USD"
        + (f"  {e.oi_contracts:,.8g} {entry.symbol}" if e.HasField("oi_contracts") else "")
        for e in entry.exchanges
    ]
    return "\n".join([line, *details])


def channel_credentials(args: argparse.Namespace) -> grpc.ChannelCredentials | None:
    """TLS credentials for ``--tls`` / ``--ca-file``, or None for plaintext."""
    if args.ca_file is not None:
        return grpc.ssl_channel_credentials(root_certificates=args.ca_file.read_bytes())
    if args.tls:
        return grpc.ssl_channel_credentials()
    return None


async def _run(args: argparse.Namespace) -> int:
    async with OpenInterestClient(args.target, credentials=channel_credentials(args)) as client:
        try:
            if args.command == "get":
                response = await client.get(args.symbol)
                for entry in response.symbols:
                    print(format_symbol(entry))
                return 0
            async for update in client.watch(args.symbols):
                print(f"--- snapshot at {update.timestamp} ms", flush=True)
                for entry in update.symbols:
                    print(format_symbol(entry), flush=True)
        except grpc.aio.AioRpcError as error:
            print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    return 0


def readable_file(value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {value}")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="oi-client", description="Query oi-service over gRPC.")
    parser.add_argument("--target", default=DEFAULT_TARGET, help=f"HOST:PORT (default {DEFAULT_TARGET})")
    parser.add_argument("--tls", action="store_true", help="connect over TLS (system root certificates)")
    parser.add_argument(
        "--ca-file", type=readable_file, metavar="PEM", help="connect over TLS, trusting this CA certificate"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    get = sub.add_parser("get", help="one snapshot")
    get.add_argument("--symbol", help="one symbol, with per-exchange figures")
    watch = sub.add_parser("watch", help="stream updates as they arrive (Ctrl-C to stop)")
    watch.add_argument("symbols", nargs="*", help="symbols to watch (none = all)")
    args = parser.parse_args(argv)
    try:
        code = asyncio.run(_run(args))
        sys.stdout.flush()  # here, not at exit, so a closed pipe is seen while it can be handled
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        # The reader stopped early (``| head``): it has what it wanted. Point stdout at /dev/null so
        # the interpreter's final flush of what is still buffered cannot complain about it again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
