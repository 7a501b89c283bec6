"""The facts about the machine and the tool versions that head the report (the "Machine" table)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from bench.harness.common import BIN, GIB, KIB

if TYPE_CHECKING:
    from bench.harness.server import Bench


def first_line(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    lines = (done.stdout.strip() or done.stderr.strip()).splitlines()
    return lines[0] if lines else "unknown"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * KIB / GIB
    return 0.0


def machine(bench: Bench) -> list[tuple[str, str]]:
    """(label, value) rows; taken before any measurement, so the load average is the one at start."""
    env = bench.env()
    return [
        ("CPUs (nproc)", str(len(os.sched_getaffinity(0)))),
        ("Load average at start (1, 5, 15 min)", ", ".join(f"{load:.2f}" for load in os.getloadavg())),
        ("CPU model", cpu_model()),
        ("Memory", f"{memory_gib():.1f} GiB"),
        ("Kernel", f"{platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
        ("gps3async", first_line([bench.plugin.executable, "--version"], bench.plugin_env())),
        ("gps3async code measured", bench.plugin.description),
        ("s5cmd", first_line([str(BIN / "s5cmd"), "version"], env)),
        ("aws", first_line([str(BIN / "aws"), "--version"], env)),
        ("rclone (client and server)" if not bench.target.remote else "rclone (client)",
         first_line([str(BIN / "rclone"), "version"], env)),
        ("S3 store", "the user's, at " + bench.target.endpoint if bench.target.remote else "local rclone serve s3"),
    ]  # fmt: skip
