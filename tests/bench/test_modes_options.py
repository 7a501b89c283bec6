"""``--modes-only`` and ``--skip-modes``: the store-mode rows of the benchmark, alone or left out."""

from __future__ import annotations

import pytest

from bench.options import parse_args


def test_modes_only_runs_nothing_else() -> None:
    options = parse_args(["--size", "64MiB", "--modes-only"])
    assert options.modes
    assert not (options.singles or options.subset or options.segments or options.run_invocations)


def test_modes_run_by_default_and_can_be_left_out() -> None:
    assert parse_args([]).modes and parse_args([]).singles
    assert not parse_args(["--skip-modes"]).modes
    assert not parse_args(["--segments-only"]).modes and not parse_args(["--invocations-only"]).modes


def test_modes_only_and_skip_modes_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--modes-only", "--skip-modes"])
    assert "--modes-only and --skip-modes exclude each other" in capsys.readouterr().err


def test_verify_only_runs_nothing_else_and_verify_can_be_left_out(capsys: pytest.CaptureFixture[str]) -> None:
    options = parse_args(["--size", "64MiB", "--verify-only"])
    assert options.verify
    assert not (options.singles or options.subset or options.segments or options.run_invocations or options.modes)
    assert parse_args([]).verify and not parse_args(["--skip-verify"]).verify
    assert not parse_args(["--modes-only"]).verify
    with pytest.raises(SystemExit):
        parse_args(["--verify-only", "--skip-verify"])
    assert "--verify-only and --skip-verify exclude each other" in capsys.readouterr().err
