"""The upload journal's files and process checks, on a real directory and real processes."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import anyio
import pytest

from gps3async.core.journalrecords import decode
from gps3async.runtime.journal import UploadJournal, running_start, this_process
from gps3async.s3.sweep import find_orphans

ENDPOINT = "http://127.0.0.1:9"


def test_a_running_process_has_its_start_time_and_an_exited_one_none() -> None:
    assert running_start(os.getpid()) == this_process().start != ""
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert running_start(child.pid) not in (None, "", this_process().start)
    finally:
        child.kill()
        child.wait()
    assert running_start(child.pid) is None  # reaped
    zombie = subprocess.Popen(["true"])
    try:
        os.waitid(os.P_PID, zombie.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped
        assert running_start(zombie.pid) is None
    finally:
        zombie.wait()


def test_a_record_is_written_private_and_whole_and_removed_when_its_upload_ends(tmp_path: Path) -> None:
    journal = UploadJournal(str(tmp_path / "uploads"), "an-identity")

    async def open_two_cancelled() -> None:
        with anyio.CancelScope() as scope:
            scope.cancel()  # a call cancelled as its upload was created still records it (and then aborts it)
            await journal.opened(ENDPOINT, "b", "k1", "u1")
        await journal.opened(ENDPOINT, "b", "k2", "u2")

    anyio.run(open_two_cancelled)
    files = sorted((tmp_path / "uploads").iterdir())
    assert len(files) == 2 and all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in files)
    assert {decode(path.read_bytes()).key for path in files} == {"k1", "k2"}
    assert all(path.name.startswith(f"{os.getpid()}-") for path in files)
    plan = find_orphans(journal)
    assert (plan.orphaned, plan.live) == ([], 2)  # this process runs: its records are live
    journal.closed(ENDPOINT, "b", "u1")
    journal.closed(ENDPOINT, "b", "an upload of someone else")  # not this process's: nothing to remove
    assert [decode(path.read_bytes()).key for path in (tmp_path / "uploads").iterdir()] == ["k2"]


def test_a_journal_that_cannot_be_written_never_fails_the_upload(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "uploads").write_text("a file where the directory should be")
    journal = UploadJournal(str(tmp_path / "uploads"), "an-identity")
    anyio.run(journal.opened, ENDPOINT, "b", "k", "u")
    anyio.run(journal.opened, ENDPOINT, "b", "k", "u2")
    journal.closed(ENDPOINT, "b", "u")
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "upload journal" in r.getMessage()]
    assert len(warnings) == 1  # once per process, not once per upload


def test_one_sweep_at_a_time_holds_the_lock(tmp_path: Path) -> None:
    (tmp_path / "uploads").mkdir()
    journal = UploadJournal(str(tmp_path / "uploads"), "in-process")
    held = journal.try_sweep_lock()
    assert held is not None
    try:
        assert journal.try_sweep_lock() is None  # another sweeper of the moment skips
    finally:
        os.close(held)
    again = journal.try_sweep_lock()
    assert again is not None
    os.close(again)
    assert UploadJournal(str(tmp_path / "none"), "x").try_sweep_lock() is None  # no directory: nothing to sweep
    assert find_orphans(journal).orphaned == []  # the lock file is no record
