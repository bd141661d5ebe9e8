"""The soak, short: the code of ``bench/soak.py`` for 28 s of wall time at a 0.25 s poll interval
(112 production intervals, ~56 minutes simulated) with a random fault switched every ~0.2 s.

It must end with no invariant violation (totals equal the sum of the listed venues to the cent,
both REST views agree, no 5xx, watch streams keep delivering, nothing logged at ERROR) and with
tasks, fds and RSS flat after warm-up. The long run is ``python -m bench.soak`` (see its docstring).
"""

from __future__ import annotations

import dataclasses

from bench.soak import Sample, SoakOptions, growth_of, run_soak

OPTIONS = SoakOptions(
    duration_s=28.0,
    poll_interval_s=0.25,
    seed=20,
    sample_every_s=0.5,  # a dozen samples per third: medians that noise does not move much
    warmup_s=6.0,
    fault_every_s=0.2,
)


async def test_short_soak_keeps_invariants_and_resources_flat() -> None:
    progress: list[str] = []
    report = await run_soak(OPTIONS, out=progress.append)
    summary = "\n".join(report.summary())
    assert report.failures == [], summary

    # the run did what a soak is for, so the pass above is not vacuous
    assert sum(report.faults_on.values()) >= 10, summary
    assert len(report.faults_on) >= 4, summary  # several kinds of fault, not one over and over
    assert report.polls >= 600, summary  # 18 sources x 112 intervals = 2016, fewer on a busy machine
    assert len(report.warm) >= 20, summary
    assert report.checks["total = sum of listed venues"] >= 100, summary
    assert report.checks["all-symbols = per-symbol"] >= 10, summary
    assert report.checks["watch streams deliver"] >= 40, summary
    assert all(stream.messages >= 3 for stream in report.streams), summary
    # stop() leaves nothing behind
    assert report.tasks_after_stop <= report.tasks_before, summary


def steady(*, tasks_per_s: float = 0.0, fds_per_s: float = 0.0) -> list[Sample]:
    """The post-warm-up samples of the short soak, with the in-flight noise a real run shows
    (every third sample catches a poll's request tasks and a REST connection, the fault mix empties
    and refills venue pools), plus a leak rate."""
    every = OPTIONS.sample_every_s
    count = round((OPTIONS.duration_s - OPTIONS.warmup) / every)
    return [
        Sample(
            at_s=OPTIONS.warmup + i * every,
            rss_bytes=60 * 2**20,
            # the fault mix moves the raw count by 32 every 5 s (both binance venues' pools emptied)
            fds=140 - (32 if (i * every) % 10 >= 5 else 0) + int(fds_per_s * every * i),
            # what the pool does not hold: a spike every third sample (an in-flight REST connection)
            loose_fds=60 + (6 if i % 3 == 0 else 0) + int(fds_per_s * every * i),
            tasks=105 + (80 if i % 3 == 0 else 0) + int(tasks_per_s * every * i),
            long_lived_tasks=49 + (2 if i % 2 else 0) + int(tasks_per_s * every * i),
            polls=300 * i,
            faulty=3,
            watch_streams=4,
        )
        for i in range(count)
    ]


def test_growth_check_tolerates_noise_and_catches_the_smallest_leaks_of_this_run() -> None:
    noisy = {g.name: g for g in growth_of(steady(), OPTIONS)}
    assert all(g.ok for g in noisy.values()), noisy

    # one leaked task per poll of a single venue; one leaked fd per fault switched on (about half
    # of the switches: the others clear a fault)
    leaky = steady(tasks_per_s=1 / OPTIONS.poll_interval_s, fds_per_s=0.5 / OPTIONS.fault_every_s)
    failed = {g.name for g in growth_of(leaky, OPTIONS) if not g.ok}
    assert failed == {"long-lived tasks (median)", "loose fds (median)"}

    rss_leak = [dataclasses.replace(s, rss_bytes=s.rss_bytes + int(s.at_s * 3 * 2**20)) for s in steady()]
    assert {g.name for g in growth_of(rss_leak, OPTIONS) if not g.ok} == {"RSS MiB (median)"}
