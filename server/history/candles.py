"""Candle arithmetic, pure: bucket alignment, folding samples into a 1-minute candle, rolling
1-minute candles up to coarser resolutions, and the samples one snapshot gives.

OI is a stock, not a flow (``model.py``): a candle's ``open`` is the first value recorded in its
bucket, ``close`` the last, ``high``/``low`` the extremes; nothing is summed across time except the
counters (``samples``, and funding's sum and count, which keep the bucket's funding an exact mean
through any rollup). A bucket nobody recorded anything in has no candle: gaps stay gaps.

Rollups are built from 1-minute candles only (never from another rollup), in time order, so a
rollup equals re-aggregating its minutes (``rollup``; the tests check it on random sequences).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from server.core.model import SymbolTotal, VenueFigure
from server.core.stats import SymbolStats
from server.history.model import AGGREGATE, Candle, Interval

ROLLUPS: Final = (Interval.M5, Interval.M15, Interval.H1, Interval.H4, Interval.D1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    """One series' figures at one instant, as served: USD, and coins, price and the number of
    exchanges behind them; ``funding_8h`` None where nothing in the series has funding."""

    t_ms: int
    oi_usd: float
    oi_coins: float | None
    price_usd: float | None
    exchange_count: int
    funding_8h: float | None


SeriesKey = tuple[str, str]  # (symbol, source); source AGGREGATE ("") for the symbol as served


def bucket_start(t_ms: int, interval: Interval) -> int:
    """The start of the UTC-aligned bucket holding ``t_ms`` (unix epoch boundaries: a day starts at
    00:00 UTC). Floor division, so instants before 1970 land in the right bucket too."""
    return t_ms - t_ms % interval.ms


def open_candle(symbol: str, source: str, sample: Sample, interval: Interval = Interval.M1) -> Candle:
    """The candle of ``sample``'s bucket holding that one sample."""
    funded = sample.funding_8h is not None
    return Candle(
        symbol=symbol,
        source=source,
        interval=interval,
        t=bucket_start(sample.t_ms, interval),
        oi_usd_open=sample.oi_usd,
        oi_usd_high=sample.oi_usd,
        oi_usd_low=sample.oi_usd,
        oi_usd_close=sample.oi_usd,
        close_at_ms=sample.t_ms,
        oi_coins=sample.oi_coins,
        price_usd=sample.price_usd,
        exchange_count=sample.exchange_count,
        funding_8h_sum=sample.funding_8h if sample.funding_8h is not None else 0.0,
        funding_samples=1 if funded else 0,
        samples=1,
    )


def fold_sample(candle: Candle, sample: Sample) -> Candle:
    """``candle`` with one more sample of its bucket, recorded after the ones already in it.

    A sample older than the candle's close (a clock step back) still counts for the extremes,
    the counters and the funding mean, but never becomes the close: the close is the latest.
    (Built field by field: ``dataclasses.replace`` cost 3x as much, and this runs per series
    every few seconds.)
    """
    if sample.t_ms - sample.t_ms % candle.interval.ms != candle.t:
        raise ValueError(f"sample at {sample.t_ms} is outside the {candle.interval} bucket {candle.t}")
    last = sample if sample.t_ms >= candle.close_at_ms else None
    funding = sample.funding_8h
    return Candle(
        symbol=candle.symbol,
        source=candle.source,
        interval=candle.interval,
        t=candle.t,
        oi_usd_open=candle.oi_usd_open,
        oi_usd_high=max(candle.oi_usd_high, sample.oi_usd),
        oi_usd_low=min(candle.oi_usd_low, sample.oi_usd),
        oi_usd_close=candle.oi_usd_close if last is None else last.oi_usd,
        close_at_ms=candle.close_at_ms if last is None else last.t_ms,
        oi_coins=candle.oi_coins if last is None else last.oi_coins,
        price_usd=candle.price_usd if last is None else last.price_usd,
        exchange_count=candle.exchange_count if last is None else last.exchange_count,
        funding_8h_sum=candle.funding_8h_sum if funding is None else candle.funding_8h_sum + funding,
        funding_samples=candle.funding_samples if funding is None else candle.funding_samples + 1,
        samples=candle.samples + 1,
    )


def fold_minute(
    rollup: Candle | None, minute: Candle, interval: Interval, *, replacing: Candle | None = None
) -> Candle:
    """The ``interval`` rollup with the 1-minute candle ``minute`` folded in.

    ``rollup`` holds the bucket's earlier minutes (None: ``minute`` opens the bucket).
    ``replacing`` is an earlier, partial version of the same minute already inside ``rollup``
    (written at a shutdown and continued after the restart): its counters are taken out before
    the whole minute's go in, so nothing is counted twice. Its extremes need no taking out: the
    whole minute holds every value the partial one did, and began with the same open.
    """
    t = bucket_start(minute.t, interval)
    if rollup is None:
        rollup = _empty(minute, interval, t)
    if rollup.t != t:
        raise ValueError(f"minute {minute.t} is outside the {interval} bucket {rollup.t}")
    funding_sum, funding_samples, samples = rollup.funding_8h_sum, rollup.funding_samples, rollup.samples
    if replacing is not None:
        funding_sum -= replacing.funding_8h_sum
        funding_samples -= replacing.funding_samples
        samples -= replacing.samples
    last = minute if minute.close_at_ms >= rollup.close_at_ms else rollup
    return Candle(
        symbol=rollup.symbol,
        source=rollup.source,
        interval=interval,
        t=t,
        oi_usd_open=rollup.oi_usd_open,
        oi_usd_high=max(rollup.oi_usd_high, minute.oi_usd_high),
        oi_usd_low=min(rollup.oi_usd_low, minute.oi_usd_low),
        oi_usd_close=last.oi_usd_close,
        close_at_ms=last.close_at_ms,
        oi_coins=last.oi_coins,
        price_usd=last.price_usd,
        exchange_count=last.exchange_count,
        funding_8h_sum=funding_sum + minute.funding_8h_sum,
        funding_samples=funding_samples + minute.funding_samples,
        samples=samples + minute.samples,
    )


def _empty(minute: Candle, interval: Interval, t: int) -> Candle:
    """A bucket holding nothing yet, whose open is ``minute``'s (folding ``minute`` fills the rest)."""
    return Candle(
        symbol=minute.symbol,
        source=minute.source,
        interval=interval,
        t=t,
        oi_usd_open=minute.oi_usd_open,
        oi_usd_high=minute.oi_usd_high,
        oi_usd_low=minute.oi_usd_low,
        oi_usd_close=minute.oi_usd_close,
        close_at_ms=minute.close_at_ms,
        oi_coins=minute.oi_coins,
        price_usd=minute.price_usd,
        exchange_count=minute.exchange_count,
        funding_8h_sum=0.0,
        funding_samples=0,
        samples=0,
    )


def rollup(minutes: Iterable[Candle], interval: Interval) -> list[Candle]:
    """Re-aggregate 1-minute candles (any series, any order) into ``interval`` candles, ordered by
    series then ``t``. Only buckets with at least one minute appear."""
    ordered = sorted(minutes, key=lambda c: (c.symbol, c.source, c.t))
    result: list[Candle] = []
    current: Candle | None = None
    for minute in ordered:
        same = (
            current is not None
            and (current.symbol, current.source) == (minute.symbol, minute.source)
            and current.t == bucket_start(minute.t, interval)
        )
        if current is not None and not same:
            result.append(current)
        current = fold_minute(current if same else None, minute, interval)
    if current is not None:
        result.append(current)
    return result


def candles_of(symbol: str, source: str, samples: Sequence[Sample]) -> list[Candle]:
    """1-minute candles of one series from its samples in time order (for tests and checks)."""
    result: list[Candle] = []
    for sample in samples:
        if result and result[-1].t == bucket_start(sample.t_ms, Interval.M1):
            result[-1] = fold_sample(result[-1], sample)
        else:
            result.append(open_candle(symbol, source, sample))
    return result


# --- samples of a snapshot -----------------------------------------------------------------------


def symbol_samples(
    total: SymbolTotal,
    stats: SymbolStats,
    *,
    total_cents: int,
    source_cents: Mapping[str, int],
    t_ms: int,
) -> list[tuple[str, Sample]]:
    """(source, sample) for one symbol: first the aggregate as served (``source`` AGGREGATE), then
    one per source reporting it.

    USD is the served figure (cents / 100: a source's is the sum of its markets' cents, the total
    the sum of those), so history agrees with ``/v1/open-interest`` to the cent. Coins, price and
    funding follow API.md section 5 (``core.stats``): the OI-weighted price and funding over the
    counted markets, of the whole symbol or of the one source.
    """
    result = [
        (
            AGGREGATE,
            Sample(
                t_ms=t_ms,
                oi_usd=total_cents / 100,
                oi_coins=stats.total_oi_coins,
                price_usd=stats.price_usd,
                exchange_count=total.exchange_count,
                funding_8h=stats.funding_8h,
            ),
        )
    ]
    for figure in total.venues:
        price, funding = source_price_and_funding(figure)
        cents = source_cents.get(figure.source)
        result.append(
            (
                figure.source,
                Sample(
                    t_ms=t_ms,
                    oi_usd=cents / 100 if cents is not None else figure.oi_usd,
                    oi_coins=figure.oi_base,
                    price_usd=price,
                    exchange_count=1,
                    funding_8h=funding,
                ),
            )
        )
    return result


def source_price_and_funding(figure: VenueFigure) -> tuple[float | None, float | None]:
    """One source's OI-weighted price and funding per 8 h over its markets of the symbol: the
    rule of ``core.stats`` (weights = ``oi_usd``, over the markets that have the figure), in one
    pass: ``symbol_stats`` per source was most of the recorder's time at full scale."""
    price_sum = price_weight = funding_sum = funding_weight = 0.0
    for market in figure.markets:
        weight = market.oi_usd
        if market.price_usd is not None:
            price_sum += market.price_usd * weight
            price_weight += weight
        if market.funding is not None:
            funding_sum += market.funding.rate_8h * weight
            funding_weight += weight
    return (
        price_sum / price_weight if price_weight > 0 else None,
        funding_sum / funding_weight if funding_weight > 0 else None,
    )
