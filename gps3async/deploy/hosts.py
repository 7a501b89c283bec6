"""Which hosts to install on: given, from a hosts file, or the running cluster's."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from .common import DeployError, last_line, run

if TYPE_CHECKING:
    from collections.abc import Sequence

HOSTS_QUERY = "SELECT DISTINCT hostname FROM gp_segment_configuration ORDER BY 1"


def read_hosts_file(path: str) -> list[str]:
    """One host per line; blank lines and ``#`` comments are skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DeployError(f"cannot read hosts file {path}: {getattr(err, 'strerror', None) or err}") from None
    hosts = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return [host for host in hosts if host]


def cluster_hosts() -> list[str]:
    """Every host of the running cluster, from ``gp_segment_configuration`` through ``psql``."""
    if shutil.which("psql") is None:
        raise DeployError("no --host or --hosts-file given, and psql is not on PATH to ask the cluster")
    argv = ["psql", "-X", "-A", "-t", "-c", HOSTS_QUERY]
    if not os.environ.get("PGDATABASE"):
        argv[1:1] = ["-d", "postgres"]  # psql's default database (the user's name) rarely exists
    result = run(argv, timeout=60)
    if result.returncode != 0:
        raise DeployError(f"psql could not list the cluster's hosts: {last_line(result.stderr)}")
    hosts = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if not hosts:
        raise DeployError("gp_segment_configuration lists no hosts")
    return hosts


def unique(hosts: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(hosts))
