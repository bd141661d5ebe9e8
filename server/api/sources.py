"""Source statuses → the ``ListSources`` message and the ``GET /v1/sources`` JSON body.

Statuses change with every poll and there are at most 18, so these are built per request (cheap),
unlike the snapshot bodies, which are built once per version.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final

from server.api.gen.openinterest.v1 import open_interest_pb2 as pb
from server.core.sources import SourceState, SourceStatusView

PB_STATES: Final = {
    SourceState.OK: pb.SOURCE_STATE_OK,
    SourceState.DEGRADED: pb.SOURCE_STATE_DEGRADED,
    SourceState.STALE: pb.SOURCE_STATE_STALE,
    SourceState.DOWN: pb.SOURCE_STATE_DOWN,
}


def sources_pb(views: Sequence[SourceStatusView], timestamp_ms: int) -> pb.ListSourcesResponse:
    response = pb.ListSourcesResponse(timestamp=timestamp_ms)
    for view in views:
        status = response.sources.add(
            source=view.source,
            state=PB_STATES[view.state],
            consecutive_failures=view.consecutive_failures,
            markets=view.markets,
            rows_skipped=view.skipped_rows,
            readings_rejected=view.readings_rejected,
            poll_interval_seconds=view.poll_interval_s,
        )
        if view.last_success_ms is not None:
            status.last_success = view.last_success_ms
        if view.last_error is not None:
            status.last_error = view.last_error
        if view.last_error_ms is not None:
            status.last_error_at = view.last_error_ms
        if view.last_poll_duration_ms is not None:
            status.last_poll_duration_ms = view.last_poll_duration_ms
    return response


def sources_json(views: Sequence[SourceStatusView], timestamp_ms: int) -> bytes:
    data = {
        view.source: {
            "state": view.state.value,
            "last_success": view.last_success_ms,
            "last_error": view.last_error,
            "last_error_at": view.last_error_ms,
            "consecutive_failures": view.consecutive_failures,
            "markets": view.markets,
            "rows_skipped": view.skipped_rows,
            "last_poll_duration_ms": view.last_poll_duration_ms,
            "readings_rejected": view.readings_rejected,
            "poll_interval_s": view.poll_interval_s,
        }
        for view in views
    }
    return json.dumps(
        {"status": "ok", "timestamp": timestamp_ms, "data": data}, separators=(",", ":")
    ).encode()
