"""The history benchmark still runs (at a token scale) and reports what it promises."""

from __future__ import annotations

from pathlib import Path

from bench.history_store import DAY_MS, T0, Plan, full_scale_series, measure, rows_per_day, uncollected
from server.history.model import MINUTE_MS, Interval
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
    series = full_scale_series(3)
    plan = Plan(series_1h=len(series), series_1m=4, days_1m=2)
    try:
        result = await measure(store, plan=plan, series=series, minutes=2, reads=5)
        # the fill is what the plan says, 1h for every series and 1m for the first four
        assert result.fill_rows == 720 * len(series) + 4 * 2 * 1440
        one_h = await store.since(Interval.H1, T0 - 30 * DAY_MS)
        assert len(one_h) == 721 * len(series)  # and the 1h rollup the two minutes wrote
        first = series[0]
        day = await store.read(
            symbol=first[0],
            source=first[1],
            interval=Interval.M1,
            start_ms=T0 - DAY_MS,
            end_ms=T0 - 1,
            limit=2000,
        )
        assert [c.t for c in day] == [T0 - DAY_MS + i * MINUTE_MS for i in range(1440)]
    finally:
        await store.close()
    assert result.series == len(series)
    assert len(result.write_wall_s) == len(result.write_cpu_s) == 2
    assert all(cpu > 0 for cpu in result.write_cpu_s)
    assert len(result.read_1m_s) == len(result.read_1h_s) == 5
    assert 50 < result.bytes_per_row < 1000
    assert result.bytes_per_day == result.bytes_per_row * rows_per_day(len(series))


async def test_each_read_has_its_cpu_and_whether_a_full_collection_ran_in_it(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "h.sqlite3")
    await store.open()
    series = full_scale_series(2)
    try:
        result = await measure(
            store, plan=Plan(series_1h=len(series), series_1m=2, days_1m=1), series=series, minutes=1, reads=4
        )
    finally:
        await store.close()
    assert len(result.read_1m_cpu_s) == len(result.read_1m_collected) == 4
    assert len(result.read_1h_cpu_s) == len(result.read_1h_collected) == 4
    assert sum(result.read_1m_collected) + sum(result.read_1h_collected) <= len(result.read_full_gc_s)
    assert uncollected([1.0, 2.0, 3.0], [False, True, False]) == [1.0, 3.0]
