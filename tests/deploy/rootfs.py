"""A minimal Debian root filesystem with no Python in it, built once per test session (debootstrap).

The mirror is the one this machine's apt already uses (``/etc/apt/sources.list``
and ``/etc/apt/sources.list.d/``), so the tests reach only what the machine is
configured to reach.  The tree is built under the session's temporary directory
(shared by every xdist worker) behind a file lock, so however many tests ask,
one builds it and the others wait for it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import session_lock

SUITE = "bookworm"
#: ``deb [options] URI SUITE COMPONENT...`` in a one-line sources list.
LIST_LINE = re.compile(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(?P<uri>\S+)\s+(?P<suite>\S+)")


def apt_mirrors(sources: dict[str, str]) -> list[str]:
    """The archive URIs of ``sources`` (file name to text) that serve a release suite (not -security, -updates)."""
    found: list[str] = []
    for name, text in sorted(sources.items()):
        if name.endswith(".list"):
            for line in text.splitlines():
                match = LIST_LINE.match(line)
                if match and "-" not in match.group("suite"):
                    found.append(match.group("uri"))
        elif name.endswith(".sources"):
            for stanza in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if ":" in line and not line.startswith(("#", " ")):
                        key, value = line.split(":", 1)
                        fields[key.strip().lower()] = value.strip()
                if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes") == "no":
                    continue
                if any("-" not in suite for suite in fields.get("suites", "").split()):
                    found += fields.get("uris", "").split()
    return list(dict.fromkeys(uri.rstrip("/") for uri in found))


def machine_mirror() -> str | None:
    directory = Path("/etc/apt")
    files = [directory / "sources.list", *sorted((directory / "sources.list.d").glob("*"))]
    sources = {path.name: path.read_text(errors="replace") for path in files if path.is_file()}
    mirrors = apt_mirrors(sources)
    return mirrors[0] if mirrors else None


def unavailable(*tools: str) -> str | None:
    """Why the root filesystem test cannot run here, or None."""
    if os.geteuid() != 0:
        return "chroot and debootstrap need root"
    missing = [tool for tool in ("debootstrap", "chroot", *tools) if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not installed (Debian packages: {', '.join(missing)})"
    if machine_mirror() is None:
        return "no Debian mirror in /etc/apt/sources.list*"
    return None


def require(*tools: str) -> None:
    """Skip with one line where the test cannot run; under CI (CI=true) fail instead."""
    reason = unavailable(*tools)
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the no-Python host test: {reason}")
    pytest.skip(reason)


def minimal_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``debootstrap --variant=minbase bookworm``, once per session: no Python, just what Debian calls essential."""
    with session_lock(tmp_path_factory, f"rootfs-{SUITE}") as shared:
        target = shared / f"rootfs-{SUITE}-minbase"
        if not target.is_dir():
            partial = target.with_name(target.name + ".part")
            shutil.rmtree(partial, ignore_errors=True)
            mirror = machine_mirror()
            result = subprocess.run(
                ["debootstrap", "--variant=minbase", SUITE, str(partial), str(mirror)],
                capture_output=True, text=True, timeout=1800, check=False,
            )  # fmt: skip
            assert result.returncode == 0, f"debootstrap from {mirror} failed: {result.stdout[-2000:]}{result.stderr}"
            partial.rename(target)
    return target
