"""Watch clients that hang up while the server writes to them. A client leaving is normal: the
server must log nothing at ERROR (grpc.aio's "ExecuteBatchError raised in core by servicer method"
and its traceback) and must free every stream.

The race behind that ERROR (a failed write reaching grpc.aio before core's report that the call
ended) is rare; the short soak, which counts grpc's ERROR records, hit it in 1 run of 4 on a loaded
machine before the fix. The stand-in context below plays the race in the losing order every time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator

import grpc
import pytest

from server.api import grpc_service
from server.api.convert import PreparedSnapshot
from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.api.gen.openinterest.v1 import open_interest_pb2_grpc as pb_grpc
from server.api.grpc_service import OpenInterestService, add_open_interest_service
from server.core.hub import SnapshotHub
from tests.api.conftest import NOW, snapshot

STREAMS = 40


class Recorded(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def errors_logged(*names: str) -> Iterator[Recorded]:
    """Records at ERROR and above of the named loggers (and their children) while inside."""
    handler = Recorded()
    loggers = [logging.getLogger(name) for name in names]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


async def until(what: str, condition: Callable[[], bool], timeout_s: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for: {what}"
        await asyncio.sleep(0.01)


async def publish_often(hub: SnapshotHub[PreparedSnapshot]) -> None:
    """A changed snapshot every few milliseconds: every stream nearly always has a write going."""
    version = 0
    while True:
        version += 1
        hub.publish(PreparedSnapshot(snapshot(now=NOW + version, btc_binance_usd=float(version))))
        await asyncio.sleep(0.005)


async def test_clients_leaving_mid_stream_log_no_error_and_free_every_stream() -> None:
    hub = SnapshotHub(PreparedSnapshot(snapshot()))
    server = grpc.aio.server()
    service = OpenInterestService(hub)
    add_open_interest_service(server, service)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    publisher = asyncio.create_task(publish_often(hub))
    try:
        with errors_logged("grpc", "asyncio", "oi") as logged:
            for leave_by_cancel in (True, False, True, False):  # cancel each call; drop the connection
                channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(4)]
                calls = [
                    pb_grpc.OpenInterestServiceStub(channels[i % 4]).WatchOpenInterest(
                        pb.WatchOpenInterestRequest(symbols=["BTC"])
                    )
                    for i in range(STREAMS)
                ]
                for call in calls:  # each stream is open and has had messages
                    for _ in range(3):
                        message = await asyncio.wait_for(call.read(), 20)
                        assert isinstance(message, pb.WatchOpenInterestResponse)
                if leave_by_cancel:
                    for call in calls:
                        call.cancel()
                for channel in channels:
                    await channel.close()
                await until("every stream released", lambda: service.watch_streams == 0)
    finally:
        publisher.cancel()
        hub.close()
        await server.stop(1)
    assert [record.getMessage() for record in logged.records] == []


class GoneCall:
    """What a servicer sees of a call whose client has gone: the write fails as in gRPC core, and
    core's report that the call ended cancels the handler's task ``report_after_s`` later (None:
    never, a write that failed for some other reason)."""

    def __init__(self, report_after_s: float | None) -> None:
        self.report_after_s = report_after_s
        self.writes = 0

    def add_done_callback(self, callback: Callable[[GoneCall], None]) -> None:
        """Core's end of the call (the one grpc.aio reports) is what the task's cancellation
        stands for here; the watch bookkeeping's callback is not needed."""

    async def write(self, message: bytes) -> None:
        self.writes += 1
        task = asyncio.current_task()
        assert task is not None
        if self.report_after_s is not None:
            asyncio.get_running_loop().call_later(self.report_after_s, task.cancel)
        raise RuntimeError('Failed "execute_batch": (SendMessageOperation,)')


async def watch(context: GoneCall) -> None:
    hub = SnapshotHub(PreparedSnapshot(snapshot()))
    service = OpenInterestService(hub)
    try:
        await service.watch_open_interest(pb.WatchOpenInterestRequest().SerializeToString(), context)
    finally:
        assert service.watch_streams == 0


async def test_a_failed_write_ends_with_cores_cancellation_not_with_the_write_error() -> None:
    # the write's failure reaches the handler first; core's report follows: the handler must end
    # by that cancellation (grpc.aio logs it at DEBUG), never by the write error (logged at ERROR)
    context = GoneCall(report_after_s=0.01)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(asyncio.ensure_future(watch(context)), 10)
    assert context.writes == 1


async def test_a_failed_write_nobody_reports_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grpc_service, "CALL_END_GRACE_S", 0.05)
    with pytest.raises(RuntimeError, match="execute_batch"):
        await watch(GoneCall(report_after_s=None))
