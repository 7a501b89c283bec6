"""``--greenplum-path FILE``: the per-invocation calls made as gprestore makes them, from every entry point."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from bench import run
from bench.harness import agentstats
from bench.harness.agentstats import AgentUsage
from bench.harness.gpshell import greenplum_path_alone, through_greenplum_path
from bench.harness.measure import Usage
from bench.options import parse_args
from bench.percall import invocations
from bench.percall.floors import FLOORS, GREENPLUM_PATH_FLOOR
from bench.percall.invocations import (
    DEPLOY_LAUNCHER,
    GO_MODE,
    GO_PLUGIN,
    NATIVE_CLIENT,
    PYTHON_CLIENT,
    Invocations,
    Series,
    is_elf,
)
from bench.percall.report_invocations import calls_text, invocation_goals, series_table

CALLS = 2
COLD_CALLS = 1
BURST = 3


def _series(entry: str, verb: str, walls: list[float]) -> Series:
    agent = None if entry == GO_PLUGIN else AgentUsage(0.01, 70 << 20, 70 << 20)
    return Series(GO_MODE if agent is None else "on", entry, verb, [Usage(w, 0.01, 10 << 20) for w in walls], agent)


def test_the_option_takes_a_readable_file_and_is_off_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert parse_args([]).greenplum_path == ""
    with pytest.raises(SystemExit):
        parse_args(["--greenplum-path", str(tmp_path / "missing.sh")])
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors[-1].endswith(f"--greenplum-path {tmp_path / 'missing.sh'}: not a readable file")
    (tmp_path / "greenplum_path.sh").write_text("export GPHOME=/gp\n")
    options = parse_args(["--invocations-only", "--greenplum-path", str(tmp_path / "greenplum_path.sh")])
    assert options.greenplum_path == str(tmp_path / "greenplum_path.sh")


def test_argv_survives_the_shell_line_and_the_file_is_sourced_first(tmp_path: Path) -> None:
    sourced = tmp_path / "it's here" / "greenplum_path.sh"
    sourced.parent.mkdir()
    sourced.write_text("export GPHOME='/usr/local/greenplum-db'\n")
    argv = ["/bin/sh", "-c", 'printf "%s|" "$GPHOME" "$@"', "sh", "a b", "it's", "$HOME", "*"]
    assert through_greenplum_path("", argv) == argv
    out = subprocess.run(through_greenplum_path(str(sourced), argv), capture_output=True, text=True, check=True)
    assert out.stdout == "/usr/local/greenplum-db|a b|it's|$HOME|*|"
    assert subprocess.run(greenplum_path_alone(str(sourced)), check=False).returncode == 0
    sourced.write_text("return 3\n")  # a file that fails stops the call, as it would stop gprestore's
    assert subprocess.run(through_greenplum_path(str(sourced), argv), check=False).returncode == 3


def test_only_a_compiled_program_counts_as_the_native_client(tmp_path: Path) -> None:
    script = tmp_path / "gpbackup_s3_plugin"
    script.write_text("#!/bin/sh\n")
    assert not is_elf(str(script)) and not is_elf(str(tmp_path / "missing"))
    assert is_elf("/bin/sh")


def test_the_report_says_how_calls_were_made_and_sets_the_native_client_against_go() -> None:
    assert "exec'd directly (no `--greenplum-path`)" in " ".join(calls_text(""))
    assert "source /gp/greenplum_path.sh &&" in " ".join(calls_text("/gp/greenplum_path.sh"))
    series = [_series(NATIVE_CLIENT, "backup_data", [0.010, 0.011, 0.012]),
              _series(GO_PLUGIN, "backup_data", [0.020, 0.022, 0.024]),
              _series(NATIVE_CLIENT, "restore_data", [0.014, 0.015, 0.016]),
              _series(GO_PLUGIN, "restore_data", [0.020, 0.020, 0.020])]  # fmt: skip
    rows = [[cell.strip() for cell in row.split("|")[1:-1]] for row in series_table(series).splitlines()[2:]]
    assert [(row[0], row[2], row[5]) for row in rows] == [
        ("backup_data", NATIVE_CLIENT, "0.50x"), ("backup_data", GO_PLUGIN, "1.00x"),
        ("restore_data", NATIVE_CLIENT, "0.75x"), ("restore_data", GO_PLUGIN, "1.00x"),
    ]  # fmt: skip
    lines = invocation_goals(Invocations(3, series, [], [], []))
    assert "- backup_data from the native client, median at most 0.6x the Go plugin's 22.0 ms: 11.0 ms, 0.50x, met" in (
        lines
    )
    assert any(line.startswith("- restore_data from the native client, median at most 0.6x") and "NOT met" in line
               for line in lines)  # fmt: skip


def test_a_tiny_run_measures_every_entry_point_through_greenplum_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The invocations section for real (a local S3 server, agents, bash), shrunk: 2 calls per series, no settling.

    The file exports ``PYTHONHOME`` as Greenplum's does (for its own Python): the
    entry points must not be disturbed by it, and since ``PYTHON*`` enters the
    agent's identity, a warm-up made without the file would warm another agent
    and the native client's calls (which must not fall back) would fail.
    """
    log = tmp_path / "sourced.log"
    greenplum_path = tmp_path / "greenplum_path.sh"
    greenplum_path.write_text(f"echo . >> {shlex.quote(str(log))}\nexport PYTHONHOME=/nonexistent GPHOME=/gp\n")
    # Waiting for the agent to free its buffers matters to the figures only, which this test does not read.
    monkeypatch.setattr(agentstats, "SETTLE", 0.0)
    monkeypatch.setattr(invocations, "COLD_CALLS", COLD_CALLS)
    monkeypatch.setattr(invocations, "BURST", BURST)
    argv = ["--size", "1MiB", "--invocations-only", "--invocations", str(CALLS), "--no-write-doc"]
    assert run.main([*argv, "--greenplum-path", str(greenplum_path)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert f'`bash -c "source {greenplum_path} &&' in out
    for label in (*(f"python3 {' '.join(flags)} -c pass" for flags in FLOORS), GREENPLUM_PATH_FLOOR):
        assert f"| `{label}` " in out
    cells = [[cell.strip() for cell in line.split("|")[1:-1]] for line in out.splitlines() if line.startswith("| ")]
    series = [row[:4] for row in cells if row[0] in ("backup_data", "restore_data") and row[1] in ("on", "off")]
    runs = [("on", NATIVE_CLIENT), ("on", PYTHON_CLIENT), ("on", DEPLOY_LAUNCHER), ("off", NATIVE_CLIENT)]
    assert series == [
        [verb, mode, entry, str(CALLS)] for verb in ("backup_data", "restore_data") for mode, entry in runs
    ]
    entries = 3
    floors = (len(FLOORS) + 1) * CALLS
    warm = 1 + CALLS  # per series through the agent: the warm-up call, then the calls
    native_extra = COLD_CALLS + 2 * (1 + BURST)  # the cold starts, and both bursts with their warm-ups
    agent_off = 2 * CALLS
    assert len(log.read_text().splitlines()) == floors + entries * 2 * warm + native_extra + agent_off
