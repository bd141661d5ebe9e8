from __future__ import annotations

import gc
import math

from server.core.aggregate import Aggregator, aggregate
from server.core.model import Funding, MarketOI, Raw, RawUnit, Snapshot, VenueReading
from server.core.signals import figure_samples


def reading(source: str, at: int, *markets: tuple[str, float | None, float]) -> VenueReading:
    return VenueReading(
        source=source,
        fetched_at_ms=at,
        markets=tuple(
            MarketOI(venue_symbol=f"{base}-{i}", base=base, oi_base=coins, oi_usd=usd, price_usd=None)
            for i, (base, coins, usd) in enumerate(markets)
        ),
    )


STALE = {"a": 3000, "b": 3000, "c": 3000}


def test_sums_per_symbol_and_counts_sources() -> None:
    snap = aggregate(
        {
            "a": reading("a", 1000, ("BTC", 1.0, 100.0), ("BTC", 2.0, 200.0), ("ETH", 5.0, 50.0)),
            "b": reading("b", 1500, ("BTC", 0.5, 50.0)),
        },
        now_ms=2000,
        stale_after_ms=STALE,
    )
    btc = snap.symbols["BTC"]
    assert btc.total_oi_usd == 350.0
    assert btc.exchange_count == 2
    assert [(v.source, v.oi_usd, v.oi_base, v.updated_at_ms) for v in btc.venues] == [
        ("a", 300.0, 3.0, 1000),
        ("b", 50.0, 0.5, 1500),
    ]
    assert snap.symbols["ETH"].exchange_count == 1
    assert snap.built_at_ms == 2000


def test_stale_sources_drop_out() -> None:
    readings = {"a": reading("a", 1000, ("BTC", 1.0, 100.0)), "b": reading("b", 3500, ("BTC", 1.0, 10.0))}
    # limit 3000 ms: "a" is 3000 ms old at 4000 (still counts), 3001 ms old at 4001 (out)
    assert aggregate(readings, now_ms=4000, stale_after_ms=STALE).symbols["BTC"].exchange_count == 2
    late = aggregate(readings, now_ms=4001, stale_after_ms=STALE).symbols["BTC"]
    assert late.exchange_count == 1 and late.total_oi_usd == 10.0
    assert aggregate(readings, now_ms=10_000, stale_after_ms=STALE).symbols == {}


def test_base_units_absent_when_any_market_lacks_them() -> None:
    snap = aggregate(
        {"a": reading("a", 1000, ("BTC", 1.0, 100.0), ("BTC", None, 100.0))},
        now_ms=1000,
        stale_after_ms=STALE,
    )
    assert snap.symbols["BTC"].venues[0].oi_base is None
    assert snap.symbols["BTC"].venues[0].oi_usd == 200.0


def test_totals_do_not_depend_on_order() -> None:
    values = [1e12, 0.1, -0.0, 0.2, 3.3, 1e-3] * 5
    forward = reading("a", 1, *[("BTC", None, abs(v)) for v in values])
    backward = reading("a", 1, *[("BTC", None, abs(v)) for v in reversed(values)])
    one = aggregate({"a": forward}, now_ms=1, stale_after_ms=STALE).symbols["BTC"].total_oi_usd
    two = aggregate({"a": backward}, now_ms=1, stale_after_ms=STALE).symbols["BTC"].total_oi_usd
    assert one == two == math.fsum(abs(v) for v in values)


def test_same_figures_ignores_build_time() -> None:
    readings = {"a": reading("a", 1000, ("BTC", 1.0, 100.0))}
    first = aggregate(readings, now_ms=1000, stale_after_ms=STALE)
    second = aggregate(readings, now_ms=1200, stale_after_ms=STALE)
    assert first.same_figures(second)
    changed = aggregate({"a": reading("a", 1100, ("BTC", 1.0, 101.0))}, now_ms=1200, stale_after_ms=STALE)
    assert not first.same_figures(changed)


def test_aggregator_reuses_unchanged_symbols_and_equals_a_fresh_build() -> None:

    def one(source: str, base: str, usd: float, at: int) -> VenueReading:
        market = MarketOI(venue_symbol=f"{base}USDT", base=base, oi_base=1.0, oi_usd=usd, price_usd=usd)
        return VenueReading(source=source, fetched_at_ms=at, markets=(market,))

    limits = {"a": 10_000, "b": 10_000}
    readings = {"a": one("a", "BTC", 100.0, 1_000), "b": one("b", "ETH", 50.0, 1_000)}
    aggregator = Aggregator()
    first = aggregator.build(readings, now_ms=2_000, stale_after_ms=limits)
    readings["b"] = one("b", "ETH", 60.0, 1_500)  # only ETH changes
    second = aggregator.build(readings, now_ms=2_500, stale_after_ms=limits)
    assert second.symbols["BTC"] is first.symbols["BTC"]
    assert second.symbols["ETH"] is not first.symbols["ETH"] and second.symbols["ETH"].total_oi_usd == 60.0
    assert second == aggregate(readings, now_ms=2_500, stale_after_ms=limits)
    # a source going stale changes its symbols, never leaves a stale total behind
    third = aggregator.build(readings, now_ms=11_200, stale_after_ms=limits)
    assert set(third.symbols) == {"ETH"}


def test_each_counted_readings_figures_are_handed_on_by_source_with_their_samples() -> None:
    """The signal windows take a snapshot's new readings in by source: the same object while a
    reading is counted, a new one with a new reading, none for a stale source."""
    limits = {"a": 10_000, "b": 10_000}
    readings = {
        "a": reading("a", 1_000, ("BTC", 1.0, 100.0), ("ETH", None, 40.0)),
        "b": reading("b", 1_000, ("BTC", 2.0, 300.0)),
    }
    aggregator = Aggregator()
    first = aggregator.build(readings, now_ms=2_000, stale_after_ms=limits)
    assert set(first.sources) == {"a", "b"}
    a = first.sources["a"]
    assert a.figures == {"BTC": first.symbols["BTC"].venues[1], "ETH": first.symbols["ETH"].venues[0]}
    assert a.figures["BTC"] is first.symbols["BTC"].venues[1]  # the very figures of the totals
    assert a.samples.tobytes() == figure_samples(a.figures.values()).tobytes()
    readings["b"] = reading("b", 1_500, ("BTC", 2.0, 310.0))
    second = aggregator.build(readings, now_ms=2_500, stale_after_ms=limits)
    assert second.sources["a"] is a
    assert second.sources["b"] is not first.sources["b"]
    assert second.sources["b"].figures["BTC"].oi_usd == 310.0
    third = aggregator.build(readings, now_ms=11_200, stale_after_ms=limits)  # "a" went stale
    assert set(third.sources) == {"b"}
    assert third == Snapshot(built_at_ms=11_200, symbols=third.symbols)  # sources are not compared


def test_a_snapshots_records_are_not_tracked_by_the_cyclic_gc() -> None:
    """Markets, figures and totals can hold no cycle; tracked, the ~25,000 a full-scale poll cycle
    replaces set off a full collection about once a cycle (core/model.py, bench section 6)."""
    market = MarketOI(
        venue_symbol="BTCUSDT",
        base="BTC",
        oi_base=1.0,
        oi_usd=100.0,
        price_usd=100.0,
        raw=Raw("openInterest", "1.0", RawUnit.BASE),
        funding=Funding(rate=0.0001, interval_hours=8.0),
    )
    total = aggregate(
        {"a": VenueReading(source="a", fetched_at_ms=1000, markets=(market,), carried={"X": 1})},
        now_ms=1000,
        stale_after_ms=STALE,
    ).symbols["BTC"]
    figure = total.venues[0]
    records = (market, market.raw, market.funding, total, figure, figure.sums)
    assert [type(r).__name__ for r in records if gc.is_tracked(r)] == []
