"""The progress-aware resume budget of a read whose body keeps breaking off (gps3async.core.resumebudget)."""

from __future__ import annotations

import pytest

from gps3async.core.resumebudget import DEFAULT_MAX_STALLS, DEFAULT_READ_TIMEOUT, ResumePolicy

MIB = 1024 * 1024


def test_deadline_is_read_timeout_per_started_mib_plus_the_stalls_time() -> None:
    policy = ResumePolicy(max_stalls=5, read_timeout=60)
    assert policy.deadline(16 * MIB) == 60 * (5 + 1 + 16)  # 22 minutes for a default range
    assert policy.deadline(16 * MIB + 1) == 60 * (5 + 1 + 17)
    assert policy.deadline(1) == 60 * (5 + 1 + 1)
    assert policy.deadline(0) == 60 * (5 + 1)
    assert ResumePolicy(max_stalls=2, read_timeout=0.5).deadline(3 * MIB) == 0.5 * (2 + 1 + 3)
    assert ResumePolicy() == ResumePolicy(DEFAULT_MAX_STALLS, DEFAULT_READ_TIMEOUT)


def test_a_read_that_advances_on_every_attempt_never_runs_out_of_resumes() -> None:
    """The issue's network: every connection closed after 3 MB, so a 279 MB object breaks ~90 times."""
    budget = ResumePolicy(max_stalls=5, read_timeout=60).start(279 * 10**6, now=0.0)
    for attempt in range(1, 93):
        assert budget.broke(3 * 10**6, now=attempt * 0.1) is None
    assert (budget.breaks, budget.stalls, budget.received) == (92, 0, 276 * 10**6)


def test_attempts_in_a_row_without_a_new_byte_end_the_read() -> None:
    budget = ResumePolicy(max_stalls=3, read_timeout=60).start(10 * MIB, now=0.0)
    assert budget.broke(0, now=1) is None
    assert budget.broke(0, now=2) is None
    assert budget.broke(5, now=3) is None  # progress resets the count
    assert budget.stalls == 0
    assert budget.broke(0, now=4) is None
    assert budget.broke(0, now=5) is None
    reason = budget.broke(0, now=6)
    assert reason == "3 attempts in a row brought no new byte"
    assert (budget.breaks, budget.stalls, budget.received) == (6, 3, 5)
    assert budget.describe() == f"5 of {10 * MIB} bytes received, the body broke off 6 times"


def test_one_stall_allowed_gives_up_on_the_first_empty_attempt() -> None:
    budget = ResumePolicy(max_stalls=1, read_timeout=1).start(MIB, now=0.0)
    assert budget.broke(100, now=0.1) is None
    assert budget.broke(0, now=0.2) == "1 attempts in a row brought no new byte"


def test_a_trickle_is_ended_by_the_deadline_checked_at_a_break() -> None:
    policy = ResumePolicy(max_stalls=5, read_timeout=2)
    budget = policy.start(MIB, now=100.0)  # a deadline of 2 x (5 + 1 + 1) = 14 s
    assert policy.deadline(MIB) == 14
    assert budget.broke(1, now=113.9) is None
    reason = budget.broke(1, now=114.0)
    assert reason is not None and reason.startswith("still incomplete 14 s after its first request")
    assert "may take 14 s: read_timeout x (max_attempts + 1 + its size in MiB)" in reason


def test_stalls_come_before_the_deadline_when_both_are_reached() -> None:
    budget = ResumePolicy(max_stalls=1, read_timeout=1).start(0, now=0.0)
    assert budget.broke(0, now=1000) == "1 attempts in a row brought no new byte"


@pytest.mark.parametrize(("stalls", "timeout"), [(0, 1.0), (-1, 1.0), (1, 0.0), (1, -2.0)])
def test_a_policy_that_could_never_resume_is_refused(stalls: int, timeout: float) -> None:
    with pytest.raises(ValueError):
        ResumePolicy(max_stalls=stalls, read_timeout=timeout)


def test_negative_progress_is_a_bug() -> None:
    with pytest.raises(ValueError):
        ResumePolicy().start(1, now=0).broke(-1, now=0)
