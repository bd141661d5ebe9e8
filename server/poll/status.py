"""Per-source health, as users see it: what happened on the last polls, in short plain text.

Mutable by design (it is the shell's bookkeeping, one object per source, updated by its poller
only); readers get an immutable ``SourceStatusView`` copy (core/sources.py: the front doors read
views and never import the polling layer).
"""

from __future__ import annotations

from server.core.sources import SourceRecord, SourceStatusView


class SourceStatus:
    """Bookkeeping for one source, written by its poller."""

    def __init__(self, source: str, *, poll_interval_s: float) -> None:
        self.source = source
        self.poll_interval_s = poll_interval_s
        self.last_success_ms: int | None = None
        self.last_error: str | None = None
        self.last_error_ms: int | None = None
        self.consecutive_failures = 0
        self.markets = 0
        self.skipped_rows = 0
        self.last_poll_duration_ms: int | None = None
        self.readings_rejected = 0
        self.rejected_last_poll = 0

    def succeeded(self, *, at_ms: int, markets: int, skipped_rows: int, duration_ms: int) -> None:
        self.last_success_ms = at_ms
        self.consecutive_failures = 0
        self.markets = markets
        self.skipped_rows = skipped_rows
        self.last_poll_duration_ms = duration_ms

    def rejected(self, count: int) -> None:
        self.readings_rejected += count
        self.rejected_last_poll = count

    def failed(self, *, at_ms: int, error: str, duration_ms: int) -> None:
        self.last_error = error
        self.last_error_ms = at_ms
        self.consecutive_failures += 1
        self.last_poll_duration_ms = duration_ms

    def record(self) -> SourceRecord:
        """This bookkeeping as an immutable value (what a collector publishes)."""
        return SourceRecord(
            source=self.source,
            poll_interval_s=self.poll_interval_s,
            last_success_ms=self.last_success_ms,
            last_error=self.last_error,
            last_error_ms=self.last_error_ms,
            consecutive_failures=self.consecutive_failures,
            markets=self.markets,
            skipped_rows=self.skipped_rows,
            last_poll_duration_ms=self.last_poll_duration_ms,
            readings_rejected=self.readings_rejected,
            rejected_last_poll=self.rejected_last_poll,
        )

    def view(self, *, now_ms: int, stale_after_ms: int) -> SourceStatusView:
        return self.record().view(now_ms=now_ms, stale_after_ms=stale_after_ms)
