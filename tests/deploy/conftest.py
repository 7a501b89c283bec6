"""The deploy tests' shared fixtures: wheels for the oldest glibc and one bundle, per worker and session.

``make wheels``'s own command chooses the wheels (``deploy wheels``, for glibc
2.17), and ``deploy build`` makes the bundle for a prefix under the worker's
temporary directory, once for every deploy test the worker runs: a build
copies and compiles a standard library, the slowest part of these tests.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).resolve().parents[2]
#: What ``deploy wheels`` said it chose (kept beside the wheels; pip ignores it).
CHOSEN = "chosen.txt"


def deploy(*args: str, env: dict[str, str] | None = None, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gps3async.deploy", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def session_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory every xdist worker of this session shares (each worker's own is one level down)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def session_lock(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Path]:
    """Hold the session-wide lock ``name``; yield the shared directory, for what one worker makes for all."""
    shared = session_directory(tmp_path_factory)
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield shared


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every wheel the plugin needs, this source tree's own included, for glibc 2.17 (what ``make wheels`` makes).

    Once per session for every worker: pip builds the plugin's wheel inside the source tree, where two
    builds at once trip over each other."""
    with session_lock(tmp_path_factory, "wheels") as shared:
        wheels = shared / "wheels"
        if not (wheels / CHOSEN).is_file():
            result = deploy("wheels", "--output", str(wheels))
            assert (result.returncode, result.stderr) == (0, ""), result.stderr
            (wheels / CHOSEN).write_text(result.stdout)
    return wheels


@pytest.fixture(scope="session")
def prefix(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("cluster") / "opt" / "gps3async")


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, prefix: str) -> Path:
    output = tmp_path_factory.mktemp("bundle") / "gps3async.tar.gz"
    result = deploy("build", "--prefix", prefix, "--wheels", str(wheelhouse), "--output", str(output))
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    return output
