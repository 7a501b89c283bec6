"""The entry points the per-invocation section measures: the launcher ``make deploy`` writes, built here."""

from __future__ import annotations

import sys
import sysconfig
from typing import TYPE_CHECKING

from bench.harness.common import BIN, REPO
from gps3async.deploy import LAUNCHER_LINE
from gps3async.deploy.elf import is_elf as is_elf_header

if TYPE_CHECKING:
    from bench.harness.server import Bench


def deploy_launcher(bench: Bench) -> str:
    """The launcher ``make deploy`` writes, for this environment: in a prefix of its own under the run's HOME.

    Its first line is :data:`gps3async.deploy.LAUNCHER_LINE` naming this
    environment's interpreter; the prefix's site-packages is a link to this
    environment's, where the launcher finds the plugin as it does in a deployed
    prefix (there, the package itself; here, the editable install's ``.pth``).
    """
    prefix = bench.home / "deployed"
    packages = prefix / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    if not packages.exists():
        packages.parent.mkdir(parents=True)
        packages.symlink_to(sysconfig.get_paths()["purelib"])
    launcher = prefix / "bin" / "gpbackup_s3_plugin"
    launcher.parent.mkdir(exist_ok=True)
    scripts = [REPO / "scripts" / name for name in ("gpbackup_s3_plugin_python", "gpbackup_s3_plugin")]
    body = next(script for script in scripts if script.exists()).read_bytes().split(b"\n", 1)[1]
    launcher.write_bytes(LAUNCHER_LINE.replace(b"PREFIX", str(BIN.parent).encode()) + body)
    launcher.chmod(0o755)
    return str(launcher)


def is_elf(path: str) -> bool:
    """Whether ``path`` is a compiled program (pip installs the Python launcher there when it had no compiler)."""
    try:
        with open(path, "rb") as program:
            return is_elf_header(program.read(4))
    except OSError:
        return False
