"""The per-host agent's own guarantees, tested on real processes against the real local S3 server.

What every verb does is tested through both front doors by the CLI and fault
suites; these tests cover what only the agent has: how it is found, started,
shared, trusted, detached and stopped, and what happens when either side of a
call dies.
"""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from gps3async.agent.place import Place, place_for
from gps3async.agent.process import peer_uid
from tests.conftest import BUCKET, Plugin, alive, through_both_doors, wait_for, write_config
from tests.s3server import S3Server, open_uploads

MIB = 1024 * 1024
TIMESTAMP = "20261126101500"


def ok(result: subprocess.CompletedProcess[bytes]) -> bytes:
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
    return result.stdout


def popen(plugin: Plugin, verb: str, *args: str, config: Path | None = None, **kwargs: Any) -> subprocess.Popen[bytes]:
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(plugin.argv(verb, *args, config=config), env=plugin.env(), **kwargs)


def place_of(plugin: Plugin, config: Path | None = None) -> Place:
    """The agent place the thin client computes for ``config`` in the test's environment."""
    return place_for((config or plugin.config).read_text(), plugin.env())


def data_path(plugin: Plugin, name: str = f"gpbackup_0_{TIMESTAMP}") -> str:
    return str(plugin.backup_dir() / name)


# --------------------------------------------------------------------------- finding and starting


@through_both_doors
def test_first_call_starts_one_detached_agent_that_later_calls_reuse(agent_plugin: Plugin) -> None:
    plugin = agent_plugin
    first = popen(plugin, "backup_data", data_path(plugin), stdin=subprocess.PIPE)
    assert first.stdin is not None and first.stdout is not None and first.stderr is not None
    callers = {f"pipe:[{os.fstat(pipe.fileno()).st_ino}]" for pipe in (first.stdin, first.stdout, first.stderr)}
    assert first.communicate(b"first", timeout=60) == (b"", b"")
    (pid,) = plugin.agent_pids()
    assert Path(f"/proc/{pid}/comm").read_text().strip() == "gps3async-agent"
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    session = int(fields[3])
    assert session != os.getsid(0), "the agent left the caller's session (setsid)"
    assert session != pid, "the agent is not a session leader, so it can never take a terminal (double fork)"
    assert int(fields[1]) != os.getpid(), "the agent is nobody's child here"
    held = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    assert not callers & held, "the agent kept a descriptor of the call that started it"
    for _ in range(3):
        assert ok(plugin.run("restore_data", data_path(plugin))) == b"first"
    assert plugin.agent_pids() == [pid]
    assert len(re.findall(r"agent \d+: started", plugin.log_text())) == 1


@through_both_doors
def test_concurrent_first_calls_start_exactly_one_agent(agent_plugin: Plugin) -> None:
    plugin = agent_plugin
    calls = [
        popen(plugin, "backup_data", data_path(plugin, f"gpbackup_0_{TIMESTAMP}_{n}"), stdin=subprocess.PIPE)
        for n in range(8)
    ]
    outcomes = [call.communicate(input=f"table {n}".encode(), timeout=120) for n, call in enumerate(calls)]
    assert [call.returncode for call in calls] == [0] * 8, outcomes
    assert len(plugin.agent_pids()) == 1
    assert len(re.findall(r"agent \d+: started", plugin.log_text())) == 1
    assert "running in-process" not in plugin.log_text()


@through_both_doors
def test_two_configs_get_two_agents_and_segment_keys_share_one(agent_plugin: Plugin, s3_server: S3Server) -> None:
    plugin = agent_plugin
    other = write_config(plugin.config.parent / "other.yaml", s3_server.endpoint, plugin.folder, agent="on",
                         restore_max_concurrent_requests=2)  # fmt: skip
    # gpbackup's per-host copy adds pgport and the plugin version: the same agent serves it.
    segment = plugin.config.parent / "segment.yaml"
    segment.write_text(plugin.config.read_text() + "  pgport: 6001\n  backup_plugin_version: 0.2.0\n")
    ok(plugin.run("backup_data", data_path(plugin), stdin=b"x"))
    ok(plugin.run("restore_data", data_path(plugin), config=segment))
    assert len(plugin.agent_pids()) == 1
    ok(plugin.run("restore_data", data_path(plugin), config=other))
    assert len(plugin.agent_pids()) == 2
    assert place_of(plugin).identity != place_of(plugin, other).identity


def test_agent_off_runs_in_process(plugin: Plugin) -> None:
    ok(plugin.run("backup_data", data_path(plugin), stdin=b"x"))
    assert bool(plugin.agent_pids()) == (plugin.mode == "agent")


@through_both_doors
def test_a_stale_socket_is_replaced(agent_plugin: Plugin) -> None:
    plugin = agent_plugin
    place = place_of(plugin)
    stale = socket.socket(socket.AF_UNIX)  # bound, never listening: what a killed agent leaves
    stale.bind(place.socket)
    stale.close()
    ok(plugin.run("backup_data", data_path(plugin), stdin=b"after a crash"))
    assert len(plugin.agent_pids()) == 1
    assert "running in-process" not in plugin.log_text()
    assert ok(plugin.run("restore_data", data_path(plugin))) == b"after a crash"


@pytest.mark.parametrize("problem", ["group-readable", "not-a-directory"])
@through_both_doors
def test_an_untrustworthy_socket_directory_is_refused(agent_plugin: Plugin, problem: str) -> None:
    plugin = agent_plugin
    directory = plugin.runtime / "gps3async"
    if problem == "group-readable":
        directory.mkdir(mode=0o750)
        directory.chmod(0o750)
    else:
        directory.write_text("squatter")
    ok(plugin.run("backup_data", data_path(plugin), stdin=b"still works"))
    assert plugin.agent_pids() == []
    assert re.search(r"running in-process: no agent: .*gps3async", plugin.log_text())
    assert ok(plugin.run("restore_data", data_path(plugin))) == b"still works"


@through_both_doors
def test_a_directory_of_another_owner_is_refused(agent_plugin: Plugin) -> None:
    plugin = agent_plugin
    directory = plugin.runtime / "gps3async"
    directory.mkdir(mode=0o700)
    if os.getuid() != 0:
        pytest.skip("changing a directory's owner needs root (CI runs as root)")
    os.chown(directory, 65534, -1)
    ok(plugin.run("backup_data", data_path(plugin), stdin=b"x"))
    assert plugin.agent_pids() == []
    assert "belongs to uid 65534" in plugin.log_text()


def test_the_peer_credential_check_reads_the_other_end() -> None:
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        assert peer_uid(left) == os.getuid()


@through_both_doors
async def test_an_agent_refuses_another_user_and_the_call_runs_in_process(agent_plugin: Plugin, s3: Any) -> None:
    """A real agent that serves a different uid: the client is refused and falls back, nothing lost."""
    import anyio

    from gps3async.agent.server import Agent

    plugin = agent_plugin
    place = place_of(plugin)
    agent = Agent(place.socket, place.identity, allowed_uid=os.getuid() + 1)
    async with anyio.create_task_group() as tg:
        tg.start_soon(agent.serve)
        await anyio.to_thread.run_sync(wait_for, lambda: os.path.exists(place.socket), 10, "the agent's socket")
        result = await anyio.run_process(
            plugin.argv("backup_data", data_path(plugin)), input=b"from someone else", env=plugin.env(), check=False
        )
        tg.cancel_scope.cancel()
    assert result.returncode == 0 and result.stderr == b""
    assert f"the agent serves uid {os.getuid() + 1} only" in plugin.log_text()
    assert s3.get_object(Bucket=BUCKET, Key=plugin.key(data_path(plugin)))["Body"].read() == b"from someone else"


# --------------------------------------------------------------------------- detaching and stopping


@through_both_doors
def test_stdout_reaches_eof_when_the_client_exits_while_the_agent_lives_on(agent_plugin: Plugin) -> None:
    plugin = agent_plugin
    ok(plugin.run("backup_data", data_path(plugin), stdin=b"x" * 1000))
    # As gpbackup_helper does: read the plugin's stdout until EOF, which must come with the client's exit.
    with popen(plugin, "restore_data", data_path(plugin)) as reader:
        assert reader.stdout is not None
        started = time.monotonic()
        data = reader.stdout.read()
        reader.wait(10)
        assert time.monotonic() - started < 10
    assert data == b"x" * 1000 and reader.returncode == 0
    (pid,) = plugin.agent_pids()
    assert alive(pid)


def agent_config(plugin: Plugin, s3_server: S3Server, name: str, **options: object) -> Path:
    return write_config(plugin.config.parent / name, s3_server.endpoint, plugin.folder, agent="on", **options)


def test_the_agent_exits_when_idle(agent_plugin: Plugin, s3_server: S3Server) -> None:
    plugin = agent_plugin
    quick = agent_config(plugin, s3_server, "quick.yaml", agent_idle_timeout=1)
    ok(plugin.run("backup_data", data_path(plugin), stdin=b"x", config=quick))
    (pid,) = plugin.agent_pids()
    wait_for(lambda: not alive(pid), 15, "the idle agent to exit")
    assert not os.path.exists(place_of(plugin, quick).socket)
    assert re.search(r"agent \d+: exiting after 1 s idle; served 1 calls", plugin.log_text())


@through_both_doors
def test_cleanup_lets_the_agent_exit_once_idle(agent_plugin: Plugin) -> None:
    plugin = agent_plugin
    backup_dir = str(plugin.backup_dir())
    ok(plugin.run("setup_plugin_for_backup", backup_dir, "segment_host"))
    (pid,) = plugin.agent_pids()
    ok(plugin.run("cleanup_plugin_for_backup", backup_dir, "segment_host"))
    wait_for(lambda: not alive(pid), 15, "the agent to exit after cleanup")
    assert "exiting, idle after a cleanup hook" in plugin.log_text()
    # A cleanup hook with no agent running starts none.
    ok(plugin.run("cleanup_plugin_for_restore", backup_dir, "segment_host"))
    assert plugin.agent_pids() == []


# --------------------------------------------------------------------------- either side dying mid-call


def _start_multipart_backup(plugin: Plugin, s3: Any, path: str) -> subprocess.Popen[bytes]:
    process = popen(plugin, "backup_data", path, stdin=subprocess.PIPE)
    assert process.stdin is not None
    process.stdin.write(os.urandom(12 * MIB))  # two full 5 MiB parts: the multipart upload is under way
    process.stdin.flush()
    wait_for(lambda: open_uploads(s3, BUCKET, plugin.folder) != [], 30, "the multipart upload to start")
    return process


@through_both_doors
def test_client_killed_mid_upload_leaves_no_unfinished_upload(agent_plugin: Plugin, s3: Any) -> None:
    plugin = agent_plugin
    path = data_path(plugin)
    process = _start_multipart_backup(plugin, s3, path)
    assert process.stdin is not None
    try:
        process.kill()  # SIGKILL: nothing to forward; the agent sees the socket close
        process.wait(10)
        # The feeding side still holds stdin open and silent, as a stuck pipeline would.
        wait_for(lambda: open_uploads(s3, BUCKET, plugin.folder) == [], 30, "the agent to abort the upload")
    finally:
        process.communicate()  # closes the test's end of stdin, and the pipes
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=plugin.key(path)).get("KeyCount", 0) == 0
    assert "the client went away; call cancelled" in plugin.log_text()
    (pid,) = plugin.agent_pids()
    assert alive(pid), "one call's client dying does not stop the agent"


# An agent killed mid-stream: tests/agent/test_upload_journal.py (the call fails with one line, and the
# next agent aborts the upload it left open).


# --------------------------------------------------------------------------- many calls, one budget


@through_both_doors
def test_64_concurrent_calls_stay_within_the_host_memory_limit(agent_plugin: Plugin, s3_server: S3Server) -> None:
    plugin = agent_plugin
    limit = 20 * MIB  # room for two streams of two 5 MiB buffers at once
    config = agent_config(plugin, s3_server, "budget.yaml", host_memory_limit="20MB")
    payloads = {n: os.urandom(1024 if n % 8 else 11 * MIB) for n in range(64)}  # every eighth is multipart
    paths = {n: data_path(plugin, f"gpbackup_0_{TIMESTAMP}_{n}") for n in payloads}
    # Each stream's producer is independent, as each COPY of a real backup is: its data is all there.
    sources = {n: plugin.workdir / f"table{n}" for n in payloads}
    for n, source in sources.items():
        source.write_bytes(payloads[n])
    calls = {}
    for n, source in sources.items():
        with source.open("rb") as stdin:
            calls[n] = popen(plugin, "backup_data", paths[n], config=config, stdin=stdin)
    for call in calls.values():
        _, err = call.communicate(timeout=300)
        assert call.returncode == 0 and err == b"", err
    # Each restore's reader is independent too (each COPY ... FROM PROGRAM reads its own pipe): read
    # into files, not one pipe after another, or an admitted 11 MiB restore would wait on this test
    # to read it while the test waits on a restore queued behind it.
    restored = {n: plugin.workdir / f"restored{n}" for n in payloads}
    restores = {}
    for n, target in restored.items():
        with target.open("wb") as stdout:
            restores[n] = popen(plugin, "restore_data", paths[n], config=config, stdout=stdout)
    for n, call in restores.items():
        _, err = call.communicate(timeout=300)
        assert call.returncode == 0 and err == b"" and restored[n].read_bytes() == payloads[n]
    assert len(plugin.agent_pids()) == 1
    text = plugin.log_text()
    assert text.index(f"host memory limit {limit} bytes") < text.index(" served "), "the first call is budgeted too"
    peaks = [int(peak) for peak in re.findall(r"peak buffer budget (\d+) bytes", text)]
    assert len(peaks) == 128
    assert 0 < max(peaks) <= limit


@through_both_doors
def test_socket_directory_is_private(agent_plugin: Plugin) -> None:
    plugin = agent_plugin
    ok(plugin.run("backup_data", data_path(plugin), stdin=b"x"))
    directory = plugin.runtime / "gps3async"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(os.stat(place_of(plugin).socket).st_mode) == 0o600


def test_restored_files_get_the_callers_umask(plugin: Plugin) -> None:
    path = plugin.backup_dir() / f"gpbackup_{TIMESTAMP}_toc.yaml"
    path.write_bytes(b"toc\n")
    ok(plugin.run("backup_file", str(path)))
    path.unlink()
    for umask, mode in ((0o077, 0o600), (0o022, 0o644)):
        result = subprocess.run(plugin.argv("restore_file", str(path)), env=plugin.env(), capture_output=True,
                                umask=umask, check=False)  # fmt: skip
        ok(result)
        assert stat.S_IMODE(path.stat().st_mode) == mode
