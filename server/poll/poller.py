"""One long-lived task per venue: refresh the catalog, fetch a cycle, parse, submit; never die.

The loop owns scheduling (interval with jitter, Retry-After), retries of transient failures,
pacing of per-market requests and the source status. A parsed reading is submitted to where
readings are accepted (``core/readings.py``: screened there, against the other sources' latest),
with the staleness limit this source works to; the verdict comes back for the status. A failed
poll submits nothing, so the source's last good reading stays until the staleness rule drops it;
bad data never replaces good. The service's broad ``except Exception`` for venue work lives here:
it guards every step of a poll (fetch, parse, submit, bookkeeping) alike, counts the failure in
the status, logs it once with ``exc_info`` and carries on; ``CancelledError`` always propagates.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, Protocol

from server.core.errors import (
    ImplausibleValue,
    VenueError,
    VenueRateLimited,
    VenueRejected,
    VenueTimeout,
    VenueUnavailable,
)
from server.core.metrics import INTERNAL_FAILURE, Metrics
from server.core.model import ParsedPoll, VenueReading
from server.core.quarantine import Rejection
from server.core.readings import Submit
from server.poll.http import Reply
from server.poll.pacing import Pacer, min_cycle_s, over_budget_pause_s, weight_rate_per_s
from server.poll.status import SourceStatus
from server.venues.base import Bodies, Catalog, Request, VenueSpec

log = logging.getLogger("oi.poller")

MAX_PAGES: Final = 50  # a catalog longer than 50 pages of 1000 is a bug, not a venue
# Two retries of a 5xx/connection failure inside one poll, after 10 % and 30 % of the poll interval
# (at most 0.5 s and 1.5 s): a retry must never push a recovered venue past its next poll.
RETRY_BACKOFF_SHARES: Final = (0.1, 0.3)
MAX_RETRY_BACKOFF_S: Final = (0.5, 1.5)
MAX_INLINE_RETRY_AFTER_S: Final = 2.0  # a longer Retry-After ends the poll and delays the next one
CATALOG_RETRY_S: Final = 60.0  # after a failed catalog refresh, while an older catalog is still used
PACED_CYCLE_HEADROOM: Final = 1.25  # a paced cycle is scheduled 25 % slower than the budget allows
STALE_AFTER_INTERVALS: Final = 3  # API.md: a source stops counting after 3 poll intervals


class Fetch(Protocol):
    """Perform one venue request: real HTTP in production, a fake in tests."""

    def __call__(self, request: Request) -> Awaitable[Reply]: ...


class Step:
    """The step a poll is in, named in the status when an unexpected error interrupts it."""

    __slots__ = ("name",)

    def __init__(self) -> None:
        self.name = "starting"


def most_telling(errors: Sequence[BaseException]) -> BaseException:
    """The error to report when several requests of one cycle failed: a rate limit first
    (it changes scheduling), then any venue error, then whatever came first."""
    for kind in (VenueRateLimited, VenueError):
        for error in errors:
            if isinstance(error, kind):
                return error
    return errors[0]


class VenuePoller:
    def __init__(
        self,
        spec: VenueSpec,
        *,
        fetch: Fetch,
        interval_s: float,
        status: SourceStatus,
        submit: Submit,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        jitter: float = 0.1,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.spec = spec
        self._metrics = metrics
        self._fetch = fetch
        self._interval_s = interval_s
        self._status = status
        self._submit = submit
        self._clock_ms = clock_ms
        self._jitter = jitter
        self._rng = rng or random.Random()
        self._quarantined: dict[str, str] = {}  # venue symbol -> reason, while rejected
        self._catalog: Catalog | None = None
        self._catalog_due_ms = 0
        self._last_logged_error: str | None = None
        self.effective_interval_s = interval_s

    @property
    def stale_after_ms(self) -> int:
        return int(STALE_AFTER_INTERVALS * self.effective_interval_s * 1000)

    # --- fetching ------------------------------------------------------------------------------

    async def _fetch_pages(self, request: Request) -> tuple[object, ...]:
        pages: list[object] = []
        current: Request | None = request
        while current is not None and len(pages) < MAX_PAGES:
            reply = await self._fetch_with_retry(current)
            self.spec.check_envelope(reply.body)
            pages.append(reply.body)
            current = self.spec.next_page(current, reply.body) if self.spec.next_page else None
        return tuple(pages)

    async def _fetch_with_retry(self, request: Request) -> Reply:
        backoffs = [
            min(cap, share * self._interval_s)
            for share, cap in zip(RETRY_BACKOFF_SHARES, MAX_RETRY_BACKOFF_S, strict=True)
        ]
        for backoff in (*backoffs, None):
            try:
                return await self._fetch(request)
            except VenueTimeout:
                raise  # a timeout already spent the budget; the next cycle tries again
            except VenueUnavailable:
                if backoff is None:
                    raise
                await asyncio.sleep(backoff)
            except VenueRateLimited as limited:
                if backoff is None or limited.retry_after_s > MAX_INLINE_RETRY_AFTER_S:
                    raise
                await asyncio.sleep(limited.retry_after_s)
            except VenueRejected as rejected:
                if rejected.body is not None:
                    self.spec.check_envelope(rejected.body)  # the venue's code may say "rate limited"
                raise
        raise AssertionError("unreachable")

    async def _fetch_all(self, requests: tuple[Request, ...], catalog: Catalog) -> Bodies:
        """Fetch every request: bulk ones at once, per-market ones paced inside the budget."""
        pacing = self.spec.pacing
        pacer = Pacer(weight_rate_per_s(pacing, catalog.weight_limit_per_minute)) if pacing else None
        concurrency = asyncio.Semaphore(pacing.concurrency if pacing else len(requests) or 1)
        results: dict[str, tuple[object, ...]] = {}
        failures: list[str] = []

        async def one(request: Request) -> None:
            if pacer is not None:
                await pacer.acquire(request.weight)
            async with concurrency:
                try:
                    if pacer is not None and pacing is not None:
                        reply = await self._fetch_with_retry(request)
                        self.spec.check_envelope(reply.body)
                        pause = over_budget_pause_s(
                            reply.headers, pacing, catalog.weight_limit_per_minute, now_s=time.time()
                        )
                        if pause:
                            log.warning(
                                "weight budget passed; pausing %.0fs", pause, extra={"source": self.spec.id}
                            )
                            pacer.pause(pause)
                        results[request.key] = (reply.body,)
                    else:
                        results[request.key] = await self._fetch_pages(request)
                except VenueRateLimited:
                    raise  # never keep hammering a venue that asked us to stop
                except VenueError as error:
                    if not request.optional:
                        raise
                    failures.append(f"{request.key}: {error}")

        try:
            async with asyncio.TaskGroup() as group:
                for request in requests:
                    group.create_task(one(request))
        except BaseExceptionGroup as grouped:
            raise most_telling(grouped.exceptions) from None
        if failures:
            log.info(
                "%d of %d optional requests failed, e.g. %s",
                len(failures),
                len(requests),
                failures[0],
                extra={"source": self.spec.id},
            )
        return Bodies(results)

    # --- one cycle -----------------------------------------------------------------------------

    async def _catalog_for_cycle(self) -> Catalog:
        now = self._clock_ms()
        if self._catalog is not None and now < self._catalog_due_ms:
            return self._catalog
        if not self.spec.catalog_requests:
            self._catalog = self.spec.parse_catalog(Bodies({}))
            self._catalog_due_ms = now + int(self.spec.catalog_ttl_s * 1000)
            return self._catalog
        try:
            bodies = await self._fetch_all(self.spec.catalog_requests, self._catalog or Catalog())
            catalog = self.spec.parse_catalog(bodies)
        except VenueError as error:
            if self._catalog is None:
                raise
            log.warning(
                "catalog refresh failed, keeping the previous one: %s", error, extra={"source": self.spec.id}
            )
            self._catalog_due_ms = now + int(CATALOG_RETRY_S * 1000)
            return self._catalog
        self._catalog = catalog
        self._catalog_due_ms = now + int(self.spec.catalog_ttl_s * 1000)
        self._update_effective_interval(catalog)
        return catalog

    def _update_effective_interval(self, catalog: Catalog) -> None:
        """Per-market venues cannot poll faster than their budget; their staleness follows suit."""
        interval = self._interval_s
        if self.spec.pacing is not None:
            weight = sum(r.weight for r in self.spec.cycle_requests(catalog))
            rate = weight_rate_per_s(self.spec.pacing, catalog.weight_limit_per_minute)
            interval = max(interval, min_cycle_s(weight, rate) * PACED_CYCLE_HEADROOM)
        if interval != self.effective_interval_s:
            log.info("poll interval %.1fs", interval, extra={"source": self.spec.id})
        self.effective_interval_s = interval
        self._status.poll_interval_s = interval

    async def poll_once(self) -> float:
        """Run one cycle; returns the extra delay the venue asked for (Retry-After), else 0.

        Every step (fetch, parse, submit, bookkeeping) is guarded alike: a failure of any
        of them is one failed poll, counted in the status and logged once, and the loop carries on.
        """
        started = time.monotonic()
        step = Step()
        try:
            await self._cycle(started, step)
            if self._metrics is not None:
                self._metrics.poll(self.spec.id, time.monotonic() - started)
        except VenueError as error:
            self._failed(error, started)
            return error.retry_after_s if isinstance(error, VenueRateLimited) else 0.0
        except Exception as error:  # a bug in any step must not kill the loop: log it whole, keep polling
            self._failed(error, started, during=step.name)
        return 0.0

    async def _cycle(self, started: float, step: Step) -> None:
        step.name = "fetching"
        catalog = await self._catalog_for_cycle()
        bodies = await self._fetch_all(self.spec.cycle_requests(catalog), catalog)
        step.name = "parsing"
        parsed: ParsedPoll = self.spec.parse(catalog, bodies)
        step.name = "submitting"  # screening and publishing happen where readings are accepted
        fetched_at = self._clock_ms()
        screened = self._submit(
            VenueReading(
                source=self.spec.id,
                fetched_at_ms=fetched_at,
                markets=parsed.markets,
                venue_type=self.spec.venue_type,
            ),
            skipped_symbols=parsed.skipped_symbols,
            stale_after_ms=self.stale_after_ms,
        )
        self._note_rejections(screened.rejections)
        if screened.refused is not None:
            raise ImplausibleValue(screened.refused)
        step.name = "recording the success"
        if self._status.consecutive_failures:
            log.info(
                "recovered after %d failed polls",
                self._status.consecutive_failures,
                extra={"source": self.spec.id},
            )
        self._last_logged_error = None
        if parsed.skipped:
            log.info(
                "%d rows skipped, e.g. %s",
                len(parsed.skipped),
                parsed.skipped[0],
                extra={"source": self.spec.id},
            )
        self._status.succeeded(
            at_ms=fetched_at,
            markets=len(parsed.markets),
            skipped_rows=len(parsed.skipped),
            duration_ms=int((time.monotonic() - started) * 1000),
        )

    def _note_rejections(self, rejections: Sequence[Rejection]) -> None:
        """Count every rejection; log each market once when it enters quarantine and once when it leaves."""
        self._status.rejected(len(rejections))
        now = {r.venue_symbol: r.reason for r in rejections}
        for symbol, reason in now.items():
            if symbol not in self._quarantined:
                log.warning("reading rejected: %s: %s", symbol, reason, extra={"source": self.spec.id})
        for symbol in self._quarantined.keys() - now.keys():
            log.info("reading accepted again: %s", symbol, extra={"source": self.spec.id})
        self._quarantined = now

    def _failed(self, error: Exception, started: float, *, during: str | None = None) -> None:
        """Count a failed poll; log it when its message changes. ``during`` names the step an
        unexpected error (a bug, not a venue failure) came from; that one is logged with its
        traceback, the status gets one line."""
        message = f"{type(error).__name__}: {error}"
        if during is not None:
            message = f"internal error while {during}: {message}"
        message = message.replace("\n", " ")[:300]
        if message != self._last_logged_error:  # the same failure every cycle is logged once
            if during is None:
                log.warning("poll failed: %s", message, extra={"source": self.spec.id})
            else:
                log.error("poll failed: %s", message, exc_info=error, extra={"source": self.spec.id})
            self._last_logged_error = message
        elapsed_s = time.monotonic() - started
        self._status.failed(at_ms=self._clock_ms(), error=message, duration_ms=int(elapsed_s * 1000))
        if self._metrics is not None:  # by the error's class: a small fixed set, one series each
            reason = INTERNAL_FAILURE if during is not None else type(error).__name__
            self._metrics.poll(self.spec.id, elapsed_s, reason)

    async def run(self) -> None:
        """Poll forever at the (effective) interval with jitter; cancellation ends it."""
        while True:
            started = time.monotonic()
            retry_after = await self.poll_once()
            spread = self._rng.uniform(1 - self._jitter, 1 + self._jitter)
            next_start = started + self.effective_interval_s * spread
            delay = max(next_start - time.monotonic(), retry_after, 0.0)
            await asyncio.sleep(delay)
