"""The bandwidth bench's sliding windows over a process's I/O counter (pure maths on given samples)."""

from __future__ import annotations

import pytest

from bench.hostlimit.iorate import Sample, window_rates


def steady(rate: float, seconds: float, every: float = 0.1) -> list[Sample]:
    count = round(seconds / every)
    return [Sample(i * every, round(i * every * rate)) for i in range(count + 1)]


def test_a_steady_counter_gives_its_rate_in_every_window() -> None:
    rates = window_rates(steady(100e6, 30.0), 10.0, 0.0, 30.0)
    assert len(rates) == 201  # windows starting at 0.0, 0.1 .. 20.0
    assert all(rate == pytest.approx(100e6, rel=1e-6) for rate in rates)


def test_a_burst_shows_in_the_windows_that_hold_it_and_the_edges_interpolate() -> None:
    samples = [Sample(0.0, 0), Sample(5.0, 0), Sample(6.0, 1000), Sample(20.0, 1000), Sample(21.0, 1000)]
    # [0, 10] and [5, 15] hold the whole burst, [6, 16] none of it; [20, 30] ends past the samples
    assert window_rates(samples, 10.0, 0.0, 21.0) == [100.0, 100.0, 0.0]
    sparse = [Sample(0.0, 0), Sample(10.5, 1050), Sample(11.0, 1100)]
    assert window_rates(sparse, 10.0, 0.0, 11.0) == [pytest.approx(100.0)]  # the edge at 10 s is interpolated


def test_only_windows_within_start_and_end_count() -> None:
    samples = steady(10.0, 20.0)
    assert window_rates(samples, 10.0, 5.0, 14.0) == []
    assert len(window_rates(samples, 10.0, 5.0, 15.0)) == 1
