"""The Python launcher (``scripts/gpbackup_s3_plugin_python``): isolated, without site, found anywhere.

gpbackup sources greenplum_path.sh, which exports PYTHONPATH (and on Greenplum
6 PYTHONHOME) for Greenplum's own Python, and may name the plugin through a
symlink ($GPHOME/bin, ``make install``).  The pip-installed script must reach
``python3 -IS`` through all of that, serve the call through the agent, and run
it in-process, with the full start-up, when no agent may serve it; and the
native client, wherever it cannot hand a call over, must exec exactly that.  The
deployed launcher (``#!PREFIX/bin/python3 -IS``) is tested in tests/deploy.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

import gps3async
from gps3async.deploy import LAUNCHER_LINE
from tests.conftest import DOORS, Plugin, door_executable, plugin_executable, python_client_executable, write_config
from tests.s3server import S3Server

TIMESTAMP = "20261126101500"
#: What the thin client may import beyond a bare ``python -I -S``: its own modules and two built-ins.
CLIENT_IMPORTS = {
    "__future__", "_blake2", "_socket", "gps3async", "gps3async.agent", "gps3async.agent.client",
    "gps3async.agent.place", "gps3async.agent.wire", "gps3async.verbs",
}  # fmt: skip


def hijacking_env(plugin: Plugin, tmp_path: Path) -> dict[str, str]:
    """The call's environment with greenplum_path.sh's Python settings pointing at a trap."""
    trap = tmp_path / "gphome" / "lib" / "python"
    (trap / "gps3async").mkdir(parents=True)
    (trap / "gps3async" / "__init__.py").write_text("raise ImportError('PYTHONPATH hijacked the plugin')\n")
    (trap / "sitecustomize.py").write_text("raise ImportError('PYTHONPATH hijacked the interpreter')\n")
    return {**plugin.env(), "PYTHONPATH": str(trap), "PYTHONHOME": str(tmp_path / "gphome" / "ext" / "python")}


def interpreter_argv(pid: int, timeout: float = 30) -> list[str]:
    """The command line of ``pid`` once the launcher's shell has exec'ed the interpreter."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
        if argv and b"python" in argv[0].rsplit(b"/", 1)[-1]:
            return [arg.decode() for arg in argv]
        time.sleep(0.01)
    raise AssertionError(f"process {pid} never became an interpreter")


def round_trip(executable: str, plugin: Plugin, env: dict[str, str], name: str) -> list[str]:
    """``backup_data`` then ``restore_data`` through ``executable``; the backup call's interpreter argv."""
    data = os.urandom(70_000)
    path = str(plugin.backup_dir(TIMESTAMP) / name)
    backup = subprocess.Popen([executable, "backup_data", str(plugin.config), path], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)  # fmt: skip
    argv = interpreter_argv(backup.pid)  # read while the call waits for its stdin
    out, err = backup.communicate(data, timeout=120)
    assert (backup.returncode, out, err) == (0, b"", b""), err.decode()
    restore = subprocess.run([executable, "restore_data", str(plugin.config), path], capture_output=True, env=env,
                             timeout=120, check=False)  # fmt: skip
    assert (restore.returncode, restore.stderr) == (0, b""), restore.stderr.decode()
    assert restore.stdout == data
    return argv


def served_by_agent(plugin: Plugin) -> bool:
    log = plugin.log_text()
    return " served backup_data " in log and "running in-process" not in log


@pytest.mark.parametrize("door", DOORS)
def test_the_installed_script_runs_isolated_without_site(agent_plugin: Plugin, tmp_path: Path, door: str) -> None:
    """The first call finds no agent: either door ends in the venv's ``python3 -IS`` running the launcher."""
    env = hijacking_env(agent_plugin, tmp_path)
    argv = round_trip(door_executable(door), agent_plugin, env, "gpbackup_0_plain")
    assert argv[0] == str(Path(plugin_executable()).parent / "python3")
    assert argv[1:3] == ["-IS", python_client_executable()]
    assert served_by_agent(agent_plugin)
    assert agent_plugin.agent_pids(), "an agent serves the calls"


@pytest.mark.parametrize("door", DOORS)
def test_the_installed_script_works_through_a_symlink(agent_plugin: Plugin, tmp_path: Path, door: str) -> None:
    gphome_bin = tmp_path / "gphome" / "bin"
    gphome_bin.mkdir(parents=True)
    link = gphome_bin / "gpbackup_s3_plugin"
    link.symlink_to(door_executable(door))
    argv = round_trip(str(link), agent_plugin, hijacking_env(agent_plugin, tmp_path), "gpbackup_0_linked")
    assert argv[1:3] == ["-IS", python_client_executable()], "the link is resolved, so the venv's interpreter runs"
    assert served_by_agent(agent_plugin)


def test_with_the_agent_off_the_call_runs_in_process_with_the_full_start_up(
    tmp_path: Path, s3_server: S3Server, agent_plugin: Plugin
) -> None:
    agent_plugin.config = write_config(tmp_path / "off.yaml", s3_server.endpoint, agent_plugin.folder, agent="off")
    argv = round_trip(plugin_executable(), agent_plugin, hijacking_env(agent_plugin, tmp_path), "gpbackup_0_off")
    assert argv[1:3] == ["-IS", python_client_executable()]
    assert agent_plugin.agent_pids() == []


def deployed_launcher(tmp_path: Path, *, editable: bool) -> Path:
    """What ``make deploy`` installs, in a prefix under ``tmp_path`` that uses this environment's packages.

    ``editable``: the prefix's site-packages is this environment's (the plugin found through its ``.pth``);
    otherwise a directory holding only a link to the ``gps3async`` package (a regular install).
    """
    python = Path(python_client_executable()).parent / "python"
    prefix = tmp_path / ("editable" if editable else "regular")
    packages = prefix / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    packages.parent.mkdir(parents=True)
    if editable:
        packages.symlink_to(sysconfig.get_paths()["purelib"])
    else:
        packages.mkdir()
        (packages / "gps3async").symlink_to(Path(gps3async.__file__).parent)
    launcher = prefix / "bin" / "gpbackup_s3_plugin"
    launcher.parent.mkdir()
    body = Path(python_client_executable()).read_bytes().split(b"\n", 1)[1]
    launcher.write_bytes(LAUNCHER_LINE.replace(b"PREFIX", str(python.parent.parent).encode()) + body)
    launcher.chmod(0o755)
    return launcher


@pytest.mark.parametrize("editable", [False, True], ids=["regular", "editable"])
def test_the_deploy_launcher_runs_without_a_shell_also_through_a_symlink(
    agent_plugin: Plugin, tmp_path: Path, editable: bool
) -> None:
    launcher = deployed_launcher(tmp_path, editable=editable)
    link = tmp_path / "gphome" / "bin" / "gpbackup_s3_plugin"
    link.parent.mkdir(parents=True)
    link.symlink_to(launcher)
    env = hijacking_env(agent_plugin, tmp_path)
    for number, executable in enumerate((launcher, link)):
        argv = round_trip(str(executable), agent_plugin, env, f"gpbackup_{number}_deployed")
        assert argv[1:3] == ["-IS", str(executable)], "the kernel ran the interpreter named on the first line"
    assert served_by_agent(agent_plugin)


@pytest.mark.parametrize("flags", ["-IS", "-I"])
def test_the_launcher_finds_the_plugin_with_and_without_site(flags: str) -> None:
    """``-I`` alone is how the deploy checks run it (site has set sys.path up); ``-IS`` how every call does."""
    launcher = python_client_executable()
    result = subprocess.run([str(Path(launcher).parent / "python3"), flags, launcher, "--version"], capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": "/nonexistent"}, check=False)  # fmt: skip
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert result.stdout.startswith("gpbackup_s3_plugin version ")


def test_the_thin_client_imports_only_what_it_uses() -> None:
    """Measured per call: ``os`` alone would cost about as much as the rest of the client."""
    root = Path(__file__).resolve().parents[2]
    probe = (
        "import sys; before = set(sys.modules); sys.path.append(sys.argv[1]); import gps3async.agent.client;"
        " print(' '.join(sorted(set(sys.modules) - before)))"
    )
    result = subprocess.run([sys.executable, "-I", "-S", "-c", probe, str(root)], capture_output=True, text=True,
                            check=True)  # fmt: skip
    assert set(result.stdout.split()) <= CLIENT_IMPORTS, result.stdout
