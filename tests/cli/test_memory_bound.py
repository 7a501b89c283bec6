"""Peak resident memory of real plugin processes stays within chunk x (concurrency + 1) + 80 MiB.

The process is started through ``bench/harness/launch.py``, a bare interpreter that
spawns and reaps it, because a child's ``ru_maxrss`` starts from its parent's
high-water mark and this pytest process is large.

Through the agent, the call's memory is the thin client's plus the agent's:
the agent (started by this test's first call, so its high-water mark is this
test's alone) is charged in full, its interpreter and S3 client included.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Plugin, plugin_executable, write_config
from tests.s3server import S3Server

MIB = 1024 * 1024
LAUNCHER = Path(__file__).resolve().parents[2] / "bench" / "harness" / "launch.py"
BASELINE = 80 * MIB
#: Peak RSS of the thin client that hands a call to the agent.
CLIENT_BOUND = 15 * MIB


def agent_peak_rss(plugin: Plugin) -> int:
    """The high-water mark of this test's agent (VmHWM), in bytes."""
    (pid,) = plugin.agent_pids()
    status = Path(f"/proc/{pid}/status").read_text()
    (line,) = [line for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(line.split()[1]) * 1024


def peak_rss(argv: list[str], *, stdin: int | None = None, stdout: int | None = None, env: dict[str, str]) -> int:
    """Run ``argv`` under the launcher and return its peak RSS in bytes."""
    read_end, write_end = os.pipe()
    try:
        launcher = [sys.executable, "-I", "-S", str(LAUNCHER), str(write_end), *argv]
        proc = subprocess.Popen(launcher, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=env,
                                pass_fds=(write_end,))  # fmt: skip
        os.close(write_end)
        _, err = proc.communicate(timeout=300)
        report = os.read(read_end, 4096).decode().split()
    finally:
        os.close(read_end)
    assert proc.returncode == 0, err.decode()
    return int(report[2]) * 1024


@pytest.mark.parametrize(("chunk_mib", "concurrency"), [(5, 2), (8, 4)])
def test_backup_and_restore_stay_within_the_memory_bound(
    plugin: Plugin, tmp_path: Path, s3_server: S3Server, chunk_mib: int, concurrency: int
) -> None:
    chunk = chunk_mib * MIB
    config = write_config(
        tmp_path / f"mem{chunk_mib}.yaml", s3_server.endpoint, plugin.folder,
        backup_multipart_chunksize=f"{chunk_mib}MB", backup_max_concurrent_requests=concurrency,
        restore_multipart_chunksize=f"{chunk_mib}MB", restore_max_concurrent_requests=concurrency,
        **plugin.mode_options(),
    )  # fmt: skip
    data = tmp_path / "stream"
    with data.open("wb") as out:
        for _ in range(20):  # a stream 20 times the chunk size
            out.write(os.urandom(chunk))
    path = str(plugin.backup_dir() / "gpbackup_0_20261126101500")
    env = plugin.env()
    bound = chunk * (concurrency + 1) + BASELINE
    with data.open("rb") as source:
        uploaded = peak_rss([plugin_executable(), "backup_data", str(config), path], stdin=source.fileno(), env=env)
    restored = tmp_path / "restored"
    with restored.open("wb") as sink:
        downloaded = peak_rss([plugin_executable(), "restore_data", str(config), path], stdout=sink.fileno(), env=env)
    assert restored.stat().st_size == data.stat().st_size
    if plugin.mode == "agent":
        # The agent does the transfer and is held to the process bound; the thin client
        # it served must stay within the 15 MiB, so the call costs both, no more.
        assert max(uploaded, downloaded) <= CLIENT_BOUND, (
            f"thin client peaked at {max(uploaded, downloaded) / MIB:.1f} MiB"
        )
        uploaded = downloaded = agent_peak_rss(plugin)  # its high-water mark over both calls bounds each
    assert uploaded <= bound, f"backup_data peaked at {uploaded / MIB:.0f} MiB, bound {bound / MIB:.0f} MiB"
    assert downloaded <= bound, f"restore_data peaked at {downloaded / MIB:.0f} MiB, bound {bound / MIB:.0f} MiB"
