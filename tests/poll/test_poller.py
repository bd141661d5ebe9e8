"""The shared poll loop, driven through ``poll_once`` with a fake fetch and a fake clock."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from server.core.errors import SchemaDrift, VenueRateLimited, VenueRejected, VenueTimeout, VenueUnavailable
from server.core.model import ContractKind, Market, MarketOI, ParsedPoll, Snapshot, VenueReading
from server.core.quarantine import Screened, screen
from server.core.readings import LatestReadings, Screen, Submit
from server.core.sources import SourceState
from server.core.units import market_oi
from server.poll.http import Reply
from server.poll.pacing import Pacer, burst_weight, over_budget_pause_s
from server.poll.poller import VenuePoller
from server.poll.status import SourceStatus
from server.venues.base import Bodies, Catalog, Pacing, Request, VenueSpec, collect, num, obj


def catalog_of(bodies: Bodies) -> Catalog:
    names = obj(bodies.one("catalog"), "catalog")["markets"]
    assert isinstance(names, list)
    return Catalog(
        markets={
            n: Market(
                venue_symbol=n,
                base=n,
                base_factor=1.0,
                kind=ContractKind.LINEAR,
                contract_size=1.0,
                settle="USDT",
            )
            for n in names
        }
    )


def parse(catalog: Catalog, bodies: Bodies) -> ParsedPoll:
    def convert(symbol: str) -> MarketOI | None:
        body = bodies.get(f"oi:{symbol}")
        if body is None:
            return None
        return market_oi(catalog.markets[symbol], num(obj(body, "oi"), "oi"), 10.0)

    return collect(sorted(catalog.markets), convert, label=str)


def spec(pacing: Pacing | None = None) -> VenueSpec:
    return VenueSpec(
        id="fake",
        base_url="http://unused",
        docs_url="",
        catalog_requests=(Request(key="catalog", path="/catalog"),),
        parse_catalog=catalog_of,
        cycle_requests=lambda c: tuple(
            Request(key=f"oi:{s}", path="/oi", params=(("s", s),), optional=True) for s in sorted(c.markets)
        ),
        parse=parse,
        pacing=pacing,
    )


class FakeVenue:
    """Answers by path; a test swaps ``behaviour`` to inject failures."""

    def __init__(self) -> None:
        self.markets = ["AAA", "BBB"]
        self.oi = {"AAA": "1.5", "BBB": "2.0"}
        self.calls: list[str] = []
        self.behaviour: Callable[[Request], Reply | None] = lambda _: None

    async def __call__(self, request: Request) -> Reply:
        self.calls.append(request.key)
        override = self.behaviour(request)
        if override is not None:
            return override
        if request.path == "/catalog":
            return Reply(body={"markets": self.markets}, headers={})
        symbol = dict(request.params)["s"]
        return Reply(body={"oi": self.oi[symbol]}, headers={})


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("server.poll.poller.MAX_RETRY_BACKOFF_S", (0.0, 0.0))


def kept_into(published: list[VenueReading], clock: Clock, screen: Screen = screen) -> Submit:
    """Submit to real ``LatestReadings`` (screening included), recording each reading it keeps."""
    latest = LatestReadings(clock_ms=clock, on_snapshot=lambda _: None, screen=screen)

    def submit(reading: VenueReading, *, skipped_symbols: Sequence[str], stale_after_ms: int) -> Screened:
        screened = latest.accept(reading, skipped_symbols=skipped_symbols, stale_after_ms=stale_after_ms)
        if screened.refused is None:
            published.append(latest.readings[reading.source])
        return screened

    return submit


def make(
    venue: FakeVenue, clock: Clock, published: list[VenueReading], pacing: Pacing | None = None
) -> tuple[VenuePoller, SourceStatus]:
    status = SourceStatus("fake", poll_interval_s=1.0)
    poller = VenuePoller(
        spec(pacing),
        fetch=venue,
        interval_s=1.0,
        status=status,
        submit=kept_into(published, clock),
        clock_ms=clock,
    )
    return poller, status


async def test_success_publishes_and_reports_ok() -> None:
    venue, clock, published = FakeVenue(), Clock(), list[VenueReading]()
    poller, status = make(venue, clock, published)
    assert await poller.poll_once() == 0.0
    assert [(m.venue_symbol, m.oi_usd) for m in published[0].markets] == [("AAA", 15.0), ("BBB", 20.0)]
    assert published[0].fetched_at_ms == clock.now
    view = status.view(now_ms=clock.now, stale_after_ms=poller.stale_after_ms)
    assert view.state is SourceState.OK and view.markets == 2 and view.last_success_ms == clock.now


async def test_failure_keeps_last_good_and_counts() -> None:
    venue, clock, published = FakeVenue(), Clock(), list[VenueReading]()
    poller, status = make(venue, clock, published)
    await poller.poll_once()
    venue.oi["AAA"] = "-4"  # absurd
    venue.oi["BBB"] = "NaN"
    for _ in range(3):
        clock.now += 1000
        await poller.poll_once()
    assert len(published) == 1  # bad data never replaced the good reading
    view = status.view(now_ms=clock.now, stale_after_ms=poller.stale_after_ms)
    assert view.state is SourceState.DEGRADED
    assert view.consecutive_failures == 3
    assert (
        view.last_error is not None
        and "no perpetual markets" in view.last_error
        and "Traceback" not in view.last_error
    )
    clock.now += 10_000
    assert status.view(now_ms=clock.now, stale_after_ms=poller.stale_after_ms).state is SourceState.STALE


async def test_5xx_is_retried_then_succeeds() -> None:
    venue, clock, published = FakeVenue(), Clock(), list[VenueReading]()
    failures = {"n": 0}

    def flaky(request: Request) -> Reply | None:
        if request.key == "oi:AAA" and failures["n"] < 2:
            failures["n"] += 1
            raise VenueUnavailable("HTTP 502")
        return None

    venue.behaviour = flaky
    poller, _ = make(venue, clock, published)
    await poller.poll_once()
    assert venue.calls.count("oi:AAA") == 3
    assert len(published[0].markets) == 2


async def test_timeout_is_not_retried_and_optional_failure_skips_the_market() -> None:
    venue, clock, published = FakeVenue(), Clock(), list[VenueReading]()

    def slow_aaa(request: Request) -> Reply | None:
        if request.key == "oi:AAA":
            raise VenueTimeout("no answer within 1s")
        return None

    venue.behaviour = slow_aaa
    poller, _ = make(venue, clock, published)
    await poller.poll_once()
    assert venue.calls.count("oi:AAA") == 1
    assert [m.venue_symbol for m in published[0].markets] == ["BBB"]


async def test_long_retry_after_ends_the_poll_and_delays_the_next() -> None:
    venue, clock, published = FakeVenue(), Clock(), list[VenueReading]()

    def limited(request: Request) -> Reply | None:
        if request.key.startswith("oi:"):
            raise VenueRateLimited("HTTP 429", retry_after_s=30.0)
        return None

    venue.behaviour = limited
    poller, status = make(venue, clock, published)
    assert await poller.poll_once() == 30.0
    assert not published
    assert status.last_error is not None and "429" in status.last_error


async def test_short_retry_after_is_honoured_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    venue, clock, published = FakeVenue(), Clock(), list[VenueReading]()
    seen = {"n": 0}
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("server.poll.poller.asyncio.sleep", fake_sleep)

    def once(request: Request) -> Reply | None:
        if request.key == "catalog" and seen["n"] == 0:
            seen["n"] += 1
            raise VenueRateLimited("HTTP 429", retry_after_s=1.0)
        return None

    venue.behaviour = once
    poller, _ = make(venue, clock, published)
    assert await poller.poll_once() == 0.0
    assert 1.0 in slept and len(published) == 1


async def test_catalog_refreshed_hourly_and_kept_on_failure() -> None:
    venue, clock, published = FakeVenue(), Clock(), list[VenueReading]()
    poller, _ = make(venue, clock, published)
    await poller.poll_once()
    clock.now += 30_000
    await poller.poll_once()
    assert venue.calls.count("catalog") == 1  # not refreshed within the hour
    venue.markets = ["AAA"]
    clock.now += 3_600_000
    await poller.poll_once()
    assert venue.calls.count("catalog") == 2
    assert [m.venue_symbol for m in published[-1].markets] == ["AAA"]

    def catalog_down(request: Request) -> Reply | None:
        if request.key == "catalog":
            raise VenueRejected("HTTP 403")
        return None

    venue.behaviour = catalog_down
    clock.now += 3_600_000
    await poller.poll_once()  # refresh fails: the previous catalog keeps serving
    assert [m.venue_symbol for m in published[-1].markets] == ["AAA"]


async def test_no_catalog_yet_fails_the_poll() -> None:
    venue, clock, published = FakeVenue(), Clock(), list[VenueReading]()
    venue.behaviour = lambda r: (
        (_ for _ in ()).throw(SchemaDrift("missing field 'markets'")) if r.key == "catalog" else None
    )
    poller, status = make(venue, clock, published)
    await poller.poll_once()
    assert not published and status.last_error is not None and "markets" in status.last_error


async def test_a_parser_bug_does_not_kill_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    venue, clock, published = FakeVenue(), Clock(), list[VenueReading]()
    venue.behaviour = lambda r: Reply(body={"oi": {"nested": 1}}, headers={}) if r.key == "oi:AAA" else None
    poller, status = make(venue, clock, published)
    await poller.poll_once()  # num() on a dict: SchemaDrift, a clean failure
    assert status.consecutive_failures == 1
    venue.behaviour = lambda r: Reply(body=None, headers={}) if r.key == "catalog" else None
    poller._catalog = None
    await poller.poll_once()
    assert status.consecutive_failures == 2


async def test_paced_venue_gets_a_longer_interval_and_staleness() -> None:
    venue, clock, published = FakeVenue(), Clock(), list[VenueReading]()
    venue.markets = [f"M{i:03d}" for i in range(100)]
    venue.oi = {m: "1" for m in venue.markets}
    poller, status = make(venue, clock, published, pacing=Pacing(weight_per_minute=60_000, share=0.5))
    await poller.poll_once()
    # 100 weight at 60,000 × 0.5 / 60 = 500 weight/s: 0.2 s cycle, below the 1 s interval
    assert poller.effective_interval_s == 1.0
    slow, _ = make(venue, clock, [], pacing=Pacing(weight_per_minute=600, share=0.5))
    slow._update_effective_interval(
        slow.spec.parse_catalog(Bodies({"catalog": ({"markets": venue.markets},)}))
    )
    # 100 weight at 600 × 0.5 / 60 = 5 weight/s = 20 s, with 25 % headroom: 25 s; stale after 75 s
    assert slow.effective_interval_s == pytest.approx(25.0)
    assert slow.stale_after_ms == 75_000
    assert status.poll_interval_s == 1.0


async def test_pacer_spaces_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("server.poll.pacing.asyncio.sleep", fake_sleep)
    pacer = Pacer(10.0, burst=0.0, monotonic=lambda: 100.0)  # 10 weight/s, no burst, frozen clock
    for weight in (1, 1, 10, 1):
        await pacer.acquire(weight)
    assert slept == pytest.approx([0.1, 0.2, 1.2, 1.3])
    pacer.pause(60)
    await pacer.acquire(1)
    assert slept[-1] == pytest.approx(60.1)


async def test_pacer_burst_then_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("server.poll.pacing.asyncio.sleep", fake_sleep)
    now = {"t": 0.0}
    pacer = Pacer(1.0, burst=4.0, monotonic=lambda: now["t"])  # 1 weight/s after 4 at once
    for _ in range(6):
        await pacer.acquire(1)
    assert slept == pytest.approx([1.0, 2.0])  # the 5th and 6th wait; the first four do not
    now["t"] = 100.0  # a long idle refills the bucket, but only up to the burst
    slept.clear()
    for _ in range(5):
        await pacer.acquire(1)
    assert slept == pytest.approx([1.0])


def test_burst_weight_bounds() -> None:
    assert burst_weight(0.35) == pytest.approx(5.0)  # a 30/min venue may still send 5 at once
    assert burst_weight(70.0) == pytest.approx(700.0)  # 10 s worth of a 6000/min budget at 70 %
    assert burst_weight(0.05) == pytest.approx(3.0)  # never more than one minute's share


def test_used_weight_header_pause() -> None:
    pacing = Pacing(weight_per_minute=2400, share=0.7, used_weight_header="X-MBX-USED-WEIGHT-1M")
    assert over_budget_pause_s({"X-MBX-USED-WEIGHT-1M": "1000"}, pacing, None, now_s=30.0) == 0.0
    # 1700 > 0.7 × 2400 = 1680: wait for the next minute (30 s into this one)
    assert over_budget_pause_s({"X-MBX-USED-WEIGHT-1M": "1700"}, pacing, None, now_s=90.0) == pytest.approx(
        30.0
    )
    # the venue's own published limit (6000) wins over the spec's fallback
    assert over_budget_pause_s({"X-MBX-USED-WEIGHT-1M": "1700"}, pacing, 6000, now_s=90.0) == 0.0
    assert over_budget_pause_s({}, pacing, None, now_s=0.0) == 0.0


async def test_rate_limit_code_inside_a_4xx_body_is_a_rate_limit() -> None:
    def envelope(body: object) -> None:
        if isinstance(body, dict) and body.get("code") == 10028:
            raise VenueRateLimited("too_many_requests", retry_after_s=5.0)

    venue, clock, published = FakeVenue(), Clock(), list[VenueReading]()

    def http_400(request: Request) -> Reply | None:
        raise VenueRejected("HTTP 400", body={"code": 10028})

    venue.behaviour = http_400
    status = SourceStatus("fake", poll_interval_s=1.0)
    poller = VenuePoller(
        dataclasses.replace(spec(), check_envelope=envelope),
        fetch=venue,
        interval_s=1.0,
        status=status,
        submit=kept_into(published, clock),
        clock_ms=clock,
    )
    assert await poller.poll_once() == 5.0
    assert status.last_error is not None and "VenueRateLimited" in status.last_error


def test_latest_readings_rebuild_on_expiry_only() -> None:
    clock = Clock()
    published: list[Snapshot] = []
    book = LatestReadings(clock_ms=clock, on_snapshot=published.append)
    market = MarketOI(venue_symbol="A", base="A", oi_base=1.0, oi_usd=10.0, price_usd=10.0)
    book.accept(VenueReading(source="x", fetched_at_ms=clock.now, markets=(market,)), stale_after_ms=3000)
    assert len(published) == 1 and "A" in published[0].symbols
    aggregated = {"n": 0}
    original = book.rebuild

    def counting() -> None:
        aggregated["n"] += 1
        original()

    book.rebuild = counting  # type: ignore[method-assign]
    for _ in range(10):  # ticks while the reading is fresh: no work at all
        clock.now += 200
        book.expire()
    assert aggregated["n"] == 0
    clock.now = 1_000_000 + 3001  # past the deadline: one rebuild, and the source drops out
    book.expire()
    assert aggregated["n"] == 1 and published[-1].symbols == {}
    book.expire()  # nothing left to expire
    assert aggregated["n"] == 1


class Flaky:
    """A step that raises for its first ``failures`` calls, then does the real thing."""

    def __init__(self, failures: int, real: Callable[..., Any]) -> None:
        self.failures = failures
        self.calls = 0
        self.real = real

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError(f"bug number {self.calls}\nsecond line")
        return self.real(*args, **kwargs)


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "oi.poller" and r.exc_info]


async def test_a_screen_that_raises_is_a_failed_poll_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    venue, clock, published = FakeVenue(), Clock(), list[VenueReading]()
    status = SourceStatus("fake", poll_interval_s=1.0)
    broken = Flaky(3, screen)
    poller = VenuePoller(
        spec(),
        fetch=venue,
        interval_s=1.0,
        status=status,
        submit=kept_into(published, clock, screen=broken),
        clock_ms=clock,
    )
    for _ in range(3):
        clock.now += 1000
        assert await poller.poll_once() == 0.0
    assert not published and status.consecutive_failures == 3
    assert status.last_error is not None and status.last_error.startswith(
        "internal error while submitting: RuntimeError: bug number"
    )
    assert "\n" not in status.last_error and "Traceback" not in status.last_error
    # each distinct failure is logged once with its traceback: messages differ by the number
    assert len(tracebacks(caplog)) == 3
    clock.now += 1000
    await poller.poll_once()
    assert len(published) == 1 and status.consecutive_failures == 0


async def test_the_same_failure_every_poll_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    venue, clock = FakeVenue(), Clock()
    status = SourceStatus("fake", poll_interval_s=1.0)

    def submit(reading: VenueReading, *, skipped_symbols: Sequence[str], stale_after_ms: int) -> Screened:
        raise ValueError("the book refused it")

    poller = VenuePoller(spec(), fetch=venue, interval_s=1.0, status=status, submit=submit, clock_ms=clock)
    for _ in range(4):
        clock.now += 1000
        await poller.poll_once()
    assert status.consecutive_failures == 4
    assert status.last_error == "internal error while submitting: ValueError: the book refused it"
    assert tracebacks(caplog) == [
        "poll failed: internal error while submitting: ValueError: the book refused it"
    ]
    view = status.view(now_ms=clock.now, stale_after_ms=poller.stale_after_ms)
    assert view.state is SourceState.DOWN and view.last_success_ms is None


async def test_a_publish_that_raises_does_not_end_the_task() -> None:
    venue, clock, published = FakeVenue(), Clock(), list[VenueReading]()
    status = SourceStatus("fake", poll_interval_s=0.01)
    done = asyncio.Event()

    def accept(reading: VenueReading, *, skipped_symbols: Sequence[str], stale_after_ms: int) -> Screened:
        published.append(reading)
        done.set()
        return Screened(reading=reading, rejections=())

    submit = Flaky(2, accept)
    poller = VenuePoller(
        spec(), fetch=venue, interval_s=0.01, status=status, submit=submit, clock_ms=clock, jitter=0.0
    )
    task = asyncio.create_task(poller.run())
    try:
        await asyncio.wait_for(done.wait(), 5)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert submit.calls == 3 and len(published) == 1
    assert status.last_success_ms is not None and status.consecutive_failures == 0
    assert status.last_error is not None and "submitting: RuntimeError: bug number 2" in status.last_error


def test_a_refused_reading_never_becomes_the_previous_one() -> None:
    """Screening compares a reading with the last one *kept*: a refused one is never the baseline."""
    clock = Clock()
    previous: list[VenueReading | None] = []
    refuse_next = [True]

    def watching_screen(reading: VenueReading, **kwargs: Any) -> Screened:
        previous.append(kwargs["previous"])
        if refuse_next.pop() if refuse_next else False:
            return Screened(reading=reading, rejections=(), refused="refused on purpose")
        return screen(reading, **kwargs)

    latest = LatestReadings(clock_ms=clock, on_snapshot=lambda _: None, screen=watching_screen)
    market = MarketOI(venue_symbol="A", base="A", oi_base=1.0, oi_usd=10.0, price_usd=10.0)
    readings = [VenueReading(source="x", fetched_at_ms=clock.now + i, markets=(market,)) for i in range(3)]
    verdicts = [latest.accept(r, stale_after_ms=3000) for r in readings]
    assert verdicts[0].refused == "refused on purpose"
    assert previous[:2] == [None, None]  # the refused first reading was never kept
    assert previous[2] == readings[1]  # screened copies: equal, not the same object
    assert latest.readings["x"] == readings[2]
