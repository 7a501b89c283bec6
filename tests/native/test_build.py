"""Building the native client: with zig for an old glibc, and the install when no compiler can build it.

The client's behaviour is tested through real calls in tests/agent/; these
tests are about :mod:`gps3async.native.build` and ``setup.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from importlib.util import find_spec
from pathlib import Path

import pytest

from gps3async import API_VERSION
from gps3async.deploy.elf import GlibcVersion, glibc_floor
from gps3async.native.build import NativeBuildError, compile_client

ROOT = Path(__file__).resolve().parents[2]


def test_zig_builds_the_client_for_glibc_2_17(tmp_path: Path) -> None:
    """What a bundle for RHEL 7 gets when this machine's cc would need a newer glibc (PyPI's ziglang)."""
    if find_spec("ziglang") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must test the zig build: pip install ziglang (the test extra has it)")
        pytest.skip("ziglang is not installed")
    os.environ.setdefault("ZIG_GLOBAL_CACHE_DIR", str(tmp_path / "zig-cache"))
    zig = [sys.executable, "-m", "ziglang", "cc"]
    # strict: zig's clang holds the source to the same warnings as make lint's gcc.
    client = compile_client(tmp_path / "gpbackup_s3_plugin", python_version=sys.version, compiler=zig,
                            glibc="2.17", strict=True)  # fmt: skip
    floor = glibc_floor(client.read_bytes())
    assert floor is not None and floor <= GlibcVersion(2, 17), floor
    answer = subprocess.run([str(client), "plugin_api_version"], capture_output=True, text=True, check=True)
    assert answer.stdout == f"{API_VERSION}\n"


def test_a_compiler_that_fails_is_one_line_and_nothing_is_left(tmp_path: Path) -> None:
    target = tmp_path / "bin" / "gpbackup_s3_plugin"
    with pytest.raises(NativeBuildError) as failed:
        compile_client(target, python_version=sys.version, compiler=["false"])
    assert "\n" not in str(failed.value) and str(failed.value).startswith("false failed")
    assert not target.exists() and list(target.parent.iterdir()) == []
    with pytest.raises(NativeBuildError, match="could not compile"):
        compile_client(target, python_version=sys.version, compiler=[str(tmp_path / "no-such-cc")])


@pytest.mark.parametrize("native", ["no compiler", "off"])
def test_without_a_native_client_the_wheel_installs_the_python_launcher_under_both_names(
    tmp_path: Path, native: str
) -> None:
    env = {**os.environ, "CC": "false"} if native == "no compiler" else {**os.environ, "GPS3ASYNC_NATIVE": "off"}
    source = tmp_path / "source"  # a copy: pip builds in the tree it is given, and the suite's own is in use
    for name in ("gps3async", "scripts"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.py", "setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps",
                            "--wheel-dir", str(tmp_path / "wheels"), str(source)],
                           capture_output=True, text=True, env=env, timeout=300, check=False)  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "wheels").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive_file:
        scripts = {Path(name).name: archive_file.read(name) for name in archive_file.namelist()
                   if "/scripts/" in name}  # fmt: skip
    assert scripts["gpbackup_s3_plugin"] == scripts["gpbackup_s3_plugin_python"]
    assert scripts["gpbackup_s3_plugin"].startswith(b"#!/bin/sh")
    if native == "no compiler":
        assert "gpbackup_s3_plugin is the Python client: false failed" in built.stdout + built.stderr
    else:
        assert wheel.name.endswith("-py3-none-any.whl"), "nothing compiled: a pure wheel, as make wheels wants"
