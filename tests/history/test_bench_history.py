"""The history benchmark still runs (at a token scale) and reports what it promises."""

from __future__ import annotations

from pathlib import Path

from bench.history_store import full_scale_series, measure, rows_per_day
from server.history.sqlite import SqliteStore


def test_full_scale_is_745_symbols_in_about_7_5_series_each() -> None:
    series = full_scale_series()
    assert len({s for s, _ in series}) == 745
    assert 7.4 < len(series) / 745 < 7.6
    assert series == sorted(set(series))
    assert rows_per_day(1) == 1440 + 288 + 96 + 24 + 6 + 1


async def test_measure_runs_at_a_token_scale(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "h.sqlite3")
    await store.open()
    try:
        result = await measure(store, symbols=3, hours_1m=1)
    finally:
        await store.close()
    series = len(full_scale_series(3))
    assert result["series"] == series
    assert result["fill"]["rows_1h"] == 720 * series
    assert result["fill"]["rows_1m"] == 60 * series
    assert result["read_24h_1m_ms"]["candles"] == 60
    assert result["read_30d_1h_ms"]["candles"] == 720
    assert result["upsert_minute_with_rollups_ms"]["candles"] == 6 * series
    assert result["bytes_per_row_1m"] > 0
