"""``--go-plugin PATH``: the Go plugin's calls join the per-invocation table and set issue 16's goal."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.harness.measure import Usage
from bench.harness.tables import INVOCATION_GOALS
from bench.options import parse_args
from bench.percall.invocations import GO_MODE, GO_PLUGIN, Invocations, Series
from bench.percall.report_invocations import go_goals, invocation_goals


def _series(entry: str, verb: str, walls: list[float]) -> Series:
    return Series(GO_MODE if entry == GO_PLUGIN else "on", entry, verb, [Usage(w, 0.01, 10 << 20) for w in walls], None)


def test_the_option_takes_an_executable_and_is_off_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert parse_args([]).go_plugin == ""
    binary = tmp_path / "gpbackup_s3_plugin"
    binary.write_text("#!/bin/sh\n")
    with pytest.raises(SystemExit):
        parse_args(["--go-plugin", str(binary)])
    assert "not an executable file" in capsys.readouterr().err
    binary.chmod(0o755)
    assert parse_args(["--invocations-only", "--go-plugin", str(binary)]).go_plugin == str(binary)


def test_the_goal_is_the_go_plugins_measured_median_when_it_ran() -> None:
    series = [_series(GO_PLUGIN, "backup_data", [0.030, 0.031, 0.032]),
              _series(GO_PLUGIN, "restore_data", [0.010, 0.011, 0.012])]  # fmt: skip
    goals, source = go_goals(Invocations(3, series, [], [], []))
    assert goals == {"backup_data": 0.031, "restore_data": 0.011}
    assert "measured in this run" in source


def test_without_the_go_plugin_the_documented_constants_are_the_goal_and_it_says_so() -> None:
    goals, source = go_goals(Invocations(3, [], [], [], []))
    assert goals == INVOCATION_GOALS
    assert "not run here" in source


def test_the_go_plugins_series_gets_no_goal_line_of_its_own() -> None:
    series = [_series(GO_PLUGIN, verb, [0.02, 0.02, 0.02]) for verb in ("backup_data", "restore_data")]
    lines = invocation_goals(Invocations(3, series, [], [], []))
    assert lines[0].startswith("The Go plugin's medians: measured in this run")
    assert not any(line.startswith(f"- {verb} from the {GO_PLUGIN}") for line in lines for verb in ("backup_data",))
