"""The pure maths of :mod:`gps3async.runtime.bandwidth`: a fair share of one rate, and the AIMD window.

Time is passed in, so every test runs a simulated clock and is exact.
"""

from __future__ import annotations

import pytest

from gps3async.core.bandwidth.fairshare import Demand, FairShare
from gps3async.core.bandwidth.window import AimdWindow, RequestSchedule, WindowChange

MIB = 1024 * 1024


def run_backlogged(share: FairShare, streams: list[str], part: int, until: float, step: float = 0.01) -> list[Demand]:
    """Keep every stream with two demands waiting; step the clock; return the grants in order."""
    waiting = {name: [share.enqueue(name, part), share.enqueue(name, part)] for name in streams}
    granted: list[Demand] = []
    now = 0.0
    while now <= until:
        for demand in share.grant(now):
            granted.append(demand)
            waiting[str(demand.stream)].remove(demand)
            waiting[str(demand.stream)].append(share.enqueue(demand.stream, part))
        now = round(now + step, 9)
    return granted


def admitted_between(granted: list[Demand], start: float, end: float) -> int:
    return sum(d.nbytes for d in granted if d.granted_at is not None and start <= d.granted_at < end)


def test_admitted_bytes_never_exceed_rate_times_window_plus_burst_and_one_part() -> None:
    rate, part, burst = 8 * MIB, MIB, MIB // 2
    share = FairShare(rate, burst=burst, now=0.0)
    granted = run_backlogged(share, ["a", "b", "c"], part, until=20.0)
    for start in [x * 0.25 for x in range(0, 40)]:
        for length in (0.5, 1.0, 10.0):
            assert admitted_between(granted, start, start + length) <= rate * length + burst + part
    # and it does use the rate: over 10 s at least the rate's worth minus one part
    assert admitted_between(granted, 5.0, 15.0) >= rate * 10 - part


def test_backlogged_streams_get_equal_shares() -> None:
    share = FairShare(8 * MIB, burst=0, now=0.0)
    granted = run_backlogged(share, [f"s{i}" for i in range(8)], MIB, until=10.0)
    counts = {f"s{i}": sum(1 for d in granted if d.stream == f"s{i}") for i in range(8)}
    assert max(counts.values()) - min(counts.values()) <= 1


def test_unused_share_goes_to_the_streams_that_want_it_and_is_not_banked() -> None:
    share = FairShare(4 * MIB, burst=0, now=0.0)
    # "idle" wants nothing for 5 s: "busy" gets the whole rate.
    granted = run_backlogged(share, ["busy"], MIB, until=5.0)
    assert admitted_between(granted, 0.0, 5.0) >= 4 * MIB * 5 - MIB
    # then "idle" starts: from now on the two alternate; "idle" gets no catch-up burst.
    share.enqueue("idle", MIB)
    share.enqueue("idle", MIB)
    order = [d.stream for d in _grants_from(share, 5.0, 10.0, ["busy", "idle"], MIB)]
    assert abs(order[:8].count("idle") - order[:8].count("busy")) <= 1


def _grants_from(share: FairShare, start: float, end: float, streams: list[str], part: int) -> list[Demand]:
    out: list[Demand] = []
    now = start
    while now <= end:
        for demand in share.grant(now):
            out.append(demand)
            share.enqueue(demand.stream, part)
        now = round(now + 0.01, 9)
    return out


def test_a_cancelled_demand_and_a_forgotten_stream_give_their_turn_back_at_once() -> None:
    share = FairShare(MIB, burst=0, now=0.0)
    first = share.enqueue("a", MIB)
    assert share.grant(0.0) == [first]  # no debt yet: granted now, one second owed
    late_a, b = share.enqueue("a", MIB), share.enqueue("b", MIB)
    assert share.next_grant_at() == pytest.approx(1.0)
    share.cancel(late_a)
    share.forget("a")
    assert share.grant(1.0) == [b]
    assert share.waiting_streams() == 0
    assert share.next_grant_at() is None


def test_burst_is_capped_after_idle() -> None:
    share = FairShare(MIB, burst=MIB // 4, now=0.0)
    demands = [share.enqueue("a", MIB // 8) for _ in range(10)]
    granted = share.grant(100.0)  # after 100 s idle, only the burst (and one demand into debt)
    assert sum(d.nbytes for d in granted) <= MIB // 4 + MIB // 8
    assert granted == demands[: len(granted)]


def test_window_starts_unlimited_and_halves_once_per_congestion_event() -> None:
    window = AimdWindow(hold=2.0)
    window.ceiling = 32
    assert window.limit is None
    assert window.throttled(10.0, in_flight=24) == WindowChange(None, 12)
    # the other 23 requests' 503s within the hold are the same event
    assert all(window.throttled(10.0 + i * 0.05, in_flight=24) is None for i in range(23))
    assert window.limit == 12
    assert window.throttled(12.5, in_flight=12) == WindowChange(12, 6)
    assert window.cuts == 2


def test_window_grows_by_about_one_per_window_of_successes_and_recovers_to_unlimited() -> None:
    window = AimdWindow()
    window.ceiling = 8
    window.throttled(0.0, in_flight=8)
    assert window.limit == 4
    changes = []
    for _ in range(100):
        change = window.succeeded()
        if change is not None:
            changes.append(change)
    assert changes[0] == WindowChange(4, 5)
    assert changes[-1].after is None  # back to unlimited at the ceiling
    assert [c.after for c in changes] == [5, 6, 7, None]
    assert window.succeeded() is None  # no change, no log line


def test_window_never_goes_below_one() -> None:
    window = AimdWindow(hold=0.0)
    for i in range(10):
        window.throttled(float(i), in_flight=1)
    assert window.limit == 1


def test_schedule_spaces_requests_a_little_above_the_accepted_rate() -> None:
    schedule = RequestSchedule(span=2.0, probe=1.25, floor=0.5)
    for i in range(8):  # 4 successes a second for 2 s
        schedule.succeeded(i * 0.25)
    now = 2.0
    assert schedule.rate(now) == pytest.approx(3.5 * 1.25)  # the one at 0.0 is older than the span
    turns = []
    for _ in range(5):
        at = schedule.turn_at(now)
        schedule.went(at)
        turns.append(at)
    assert turns[0] == now
    gaps = [b - a for a, b in zip(turns, turns[1:])]
    assert all(gap == pytest.approx(1 / (3.5 * 1.25)) for gap in gaps)


def test_a_waiting_request_goes_sooner_when_answers_raise_the_rate() -> None:
    """The spacing is the rate when a request is due, not the rate when it began to wait."""
    schedule = RequestSchedule(span=2.0, probe=1.25, floor=0.5)
    schedule.throttled(0.0)
    schedule.went(0.0)
    assert schedule.turn_at(0.1) == pytest.approx(2.0)  # nothing accepted yet: the floor, one every 2 s
    for i in range(8):  # then 8 answers succeed within 0.2 s
        schedule.succeeded(0.1 + i * 0.025)
    assert schedule.turn_at(0.3) == pytest.approx(0.3)  # 4 a second now: the 0.25 s spacing has passed


def test_schedule_never_stops_and_forgets_old_successes() -> None:
    schedule = RequestSchedule(span=2.0, probe=1.25, floor=0.5)
    schedule.succeeded(0.0)
    assert schedule.rate(10.0) == 0.5
    assert schedule.turn_at(10.0) == 10.0
    schedule.went(10.0)
    assert schedule.turn_at(10.0) == pytest.approx(12.0)


def test_schedule_does_not_probe_above_the_accepted_rate_right_after_a_refusal() -> None:
    schedule = RequestSchedule(span=2.0, probe=1.25, floor=0.5)
    for i in range(8):
        schedule.succeeded(1.0 + i * 0.25)
    schedule.throttled(2.5)
    assert schedule.rate(2.75) == pytest.approx(4.0)  # exactly what was accepted
    assert schedule.rate(4.5) > schedule.rate(4.4)  # span passed without a refusal: probing again
