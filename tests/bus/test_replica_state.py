"""A replica rebuilds the collector's snapshot from what the bus carries: the same figures, by
the same aggregation; nothing until it holds everything a snapshot counted; old readings aged
out by its own clock when the collector falls silent."""

from __future__ import annotations

from server.bus.codec import Frame, ReadingMessage, SignalsMessage, StatusMessage, decode, encode, key_of
from server.bus.replica import ReplicaState
from server.core.aggregate import Aggregator
from server.core.model import VenueReading
from server.core.sources import SourceRecord, SourceState
from tests.bus.test_codec import change, reading

STALE = 90_000


def messages(frame: Frame) -> list[tuple[str, bytes]]:
    """What the publisher puts for ``frame``, in its order, as (key, bytes)."""
    out: list[ReadingMessage | SignalsMessage | StatusMessage] = []
    out += [
        ReadingMessage(reading=r, stale_after_ms=frame.stale_after_ms[s]) for s, r in frame.readings.items()
    ]
    out += [SignalsMessage(symbol=s, changes=c) for s, c in frame.changes.items()]
    encoded = [(key_of(m), encode(m)) for m in out]
    snapshot = frame.snapshot_message(published_at_ms=frame.built_at_ms + 1)
    return [*encoded, (key_of(snapshot), encode(snapshot))]


def collect(readings: dict[str, VenueReading], built_at: int, version: int) -> tuple[Aggregator, Frame]:
    aggregator = Aggregator()
    snapshot = aggregator.build(readings, now_ms=built_at, stale_after_ms=dict.fromkeys(readings, STALE))
    frame = Frame(
        version=version,
        built_at_ms=built_at,
        readings=aggregator.counted(),
        stale_after_ms=dict.fromkeys(readings, STALE),
        changes={"C0": (change("1h"),)},
        symbols=len(snapshot.symbols),
    )
    return aggregator, frame


def feed(state: ReplicaState, pairs: list[tuple[str, bytes]]) -> None:
    for key, body in pairs:
        state.apply(decode(key, body))


def test_the_replica_builds_exactly_the_collectors_snapshot() -> None:
    readings = {
        "bybit": reading("bybit", fetched_at_ms=1_000),
        "okx": reading("okx", n=5, fetched_at_ms=2_000),
    }
    _, frame = collect(readings, built_at=3_000, version=12)
    expected = Aggregator().build(readings, now_ms=3_000, stale_after_ms=dict.fromkeys(readings, STALE))
    state = ReplicaState()
    feed(state, messages(frame))
    built = state.build()
    assert built is not None
    assert built.snapshot == expected
    assert built.version == 12 and state.version == 12
    assert built.changes == {"C0": (change("1h"),)}


def test_nothing_is_built_until_every_counted_reading_is_held() -> None:
    readings = {"bybit": reading("bybit", fetched_at_ms=1_000), "okx": reading("okx", fetched_at_ms=1_000)}
    _, frame = collect(readings, built_at=2_000, version=1)
    pairs = messages(frame)
    state = ReplicaState()
    feed(state, [p for p in pairs if p[0] != "reading.okx"])
    assert not state.complete()
    assert state.build() is None
    feed(state, [p for p in pairs if p[0] == "reading.okx"])
    assert state.complete()
    assert state.build() is not None


def test_a_silent_collectors_readings_age_out_by_the_replicas_clock() -> None:
    readings = {"bybit": reading("bybit", fetched_at_ms=1_000), "okx": reading("okx", fetched_at_ms=50_000)}
    _, frame = collect(readings, built_at=60_000, version=4)
    state = ReplicaState()
    feed(state, messages(frame))
    first = state.build()
    assert first is not None and {f.source for f in first.snapshot.symbols["BTC"].venues} == {"bybit", "okx"}
    assert state.expire(now_ms=1_000 + STALE) is None  # not yet: staleness is "older than"
    aged = state.expire(now_ms=1_000 + STALE + 1)
    assert aged is not None and aged.version is None  # a local rebuild, not a bus version
    assert {f.source for f in aged.snapshot.symbols["BTC"].venues} == {"okx"}
    assert state.fresh_sources(1_000 + STALE + 1) == ["okx"]
    gone = state.expire(now_ms=50_000 + STALE + 1)
    assert gone is not None and gone.snapshot.symbols == {}
    assert state.fresh_sources(50_000 + STALE + 1) == []


def test_source_records_are_judged_by_the_replicas_clock() -> None:
    state = ReplicaState()
    record = SourceRecord(source="okx", poll_interval_s=30.0, last_success_ms=1_000)
    state.apply(decode("status.okx", encode(StatusMessage(record=record))))
    assert state.records["okx"].view(now_ms=2_000, stale_after_ms=STALE).state is SourceState.OK
    assert (
        state.records["okx"].view(now_ms=1_000 + STALE + 1, stale_after_ms=STALE).state is SourceState.STALE
    )
