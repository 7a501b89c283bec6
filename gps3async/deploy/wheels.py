"""``deploy wheels``: every wheel the bundle installs, chosen for the oldest glibc it must run on.

``pip wheel`` picks the wheels that suit the build machine, so on a current
Debian it takes cryptography's ``manylinux_2_34`` wheel, which no RHEL 8 or 7
host can load, although the project also publishes one for glibc 2.17.  Here
pip is asked for wheels of another platform: ``pip download --only-binary=:all:
--platform manylinux2014_x86_64`` (glibc 2.17) for the bundled interpreter's
Python version.  A project without such a wheel makes that fail; then, and
said so on stdout, the wheels are those that suit this machine (``pip wheel``,
building what has no wheel), and the bundle's recorded glibc floor tells how
far down it reaches.  The plugin's own wheel is built here pure (``GPS3ASYNC_NATIVE=off``): the bundle
compiles the native client itself, for its own interpreter and glibc floor.
"""

from __future__ import annotations

import platform
import sys
import tempfile
from pathlib import Path

from .. import __version__
from .common import PURE_WHEEL, DeployError, last_line, run
from .elf import GlibcVersion, parse_glibc_version

__all__ = ["DEFAULT_GLIBC", "download_wheels", "platform_tags"]

#: RHEL/CentOS 7, the oldest glibc of Greenplum 6's platforms (manylinux2014).
DEFAULT_GLIBC = "2.17"


def platform_tags(glibc: GlibcVersion, machine: str) -> list[str]:
    """The ``--platform`` tags for wheels that load with ``glibc``: PEP 600's name, and the old alias of 2.17."""
    tags = [f"manylinux_{glibc.major}_{glibc.minor}_{machine}"]
    if glibc == GlibcVersion(2, 17):
        tags.insert(0, f"manylinux2014_{machine}")
    return tags


def _pip(python: str, *args: str, env: dict[str, str] | None = None) -> tuple[bool, str]:
    result = run([python, "-m", "pip", *args, "--quiet", "--disable-pip-version-check"], timeout=1800, env=env)
    return result.returncode == 0, last_line(result.stderr or result.stdout)


def download_wheels(output: Path, *, python_version: str, glibc: str, project: Path) -> str:
    """Fill ``output`` with the plugin's wheel and its dependencies' for ``glibc``; return what was chosen."""
    try:
        oldest = parse_glibc_version(glibc)
    except ValueError:
        raise DeployError(f"--glibc must be a version such as 2.17, not {glibc!r}") from None
    pip = sys.executable  # this tool's own pip; the tags say which interpreter the wheels are for
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gps3async-wheels-", dir=output) as scratch:
        fresh = Path(scratch)
        done, why = _pip(pip, "wheel", "--no-deps", "--wheel-dir", str(fresh), str(project), env=PURE_WHEEL)
        if not done:
            raise DeployError(f"building the gps3async wheel failed: {why}")
        (own,) = fresh.glob(f"gps3async-{__version__}-*.whl")
        platforms = [arg for tag in platform_tags(oldest, platform.machine()) for arg in ("--platform", tag)]
        done, why = _pip(pip, "download", "--only-binary=:all:", *platforms, "--implementation", "cp",
                         "--python-version", python_version, "--dest", str(fresh), str(own))  # fmt: skip
        if done:
            chosen = f"for glibc {oldest} ({platforms[1]})"
        else:
            fallback, why_not = _pip(pip, "wheel", "--wheel-dir", str(fresh), str(own))
            if not fallback:
                raise DeployError(f"no wheels for glibc {oldest} ({why}), nor for this machine ({why_not})")
            chosen = f"for this machine: not every project publishes one for glibc {oldest} ({why})"
        for old in output.glob("*.whl"):  # a newer wheel left from before would win over the chosen one
            old.unlink()
        for wheel in fresh.glob("*.whl"):
            wheel.replace(output / wheel.name)
    return chosen
