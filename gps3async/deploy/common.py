"""What every deploy step shares: one-line errors, running commands here or on a host over ssh."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

PROGRAM = "gps3async.deploy"
PLUGIN = "gpbackup_s3_plugin"
#: Building the plugin's own wheel without its native client: the bundle compiles one for its own glibc floor.
PURE_WHEEL = {"GPS3ASYNC_NATIVE": "off"}
#: The file at the root of every bundle (and so of every install) that says what it is.
BUNDLE_META = "gps3async-bundle.json"
#: Never wait on a password prompt, never wait long for a dead host.
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=15")
#: Hosts worked on at once (ssh connections, unpacking).
PARALLEL_HOSTS = 16
#: What `--help` says the tool is.
SUMMARY = "Install the plugin at the same absolute path on every host of a cluster (standard library only)."


class DeployError(Exception):
    """What went wrong, in one line for stderr."""


def run(argv: Sequence[str], *, timeout: float = 600, stdin: str | None = None,
        env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """``argv``'s outcome; ``env`` is added to this process's environment."""
    environment = {**os.environ, **env} if env else None
    try:
        return subprocess.run(list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, check=False,
                              env=environment)  # fmt: skip
    except FileNotFoundError:
        raise DeployError(f"{argv[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise DeployError(f"{shlex.join(argv)} did not finish within {timeout:.0f} s") from None


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def is_local(host: str) -> bool:
    """An absolute directory stands in for a host."""
    return host.startswith("/")


def root(host: str) -> str:
    return host.rstrip("/") if is_local(host) else ""


def on_host(host: str, command: str, *, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a shell command on ``host`` (locally for a directory stand-in)."""
    if is_local(host):
        return run(["bash", "-c", command], timeout=timeout)
    return run(["ssh", *SSH_OPTIONS, host, command], timeout=timeout)


def failure(host: str, result: subprocess.CompletedProcess[str], what: str) -> str:
    """Why a command on ``host`` failed; ssh's own failures (exit 255) mean the host was not reached."""
    if not is_local(host) and result.returncode == 255:
        return f"unreachable ({last_line(result.stderr)})"
    return f"{what} failed with exit {result.returncode} ({last_line(result.stderr or result.stdout)})"


def each_host(hosts: Sequence[str], job: Callable[[str], str | None]) -> None:
    """Run ``job`` on every host at once; raise one error naming every host whose job said why it failed."""
    with ThreadPoolExecutor(max_workers=max(1, min(PARALLEL_HOSTS, len(hosts)))) as pool:
        outcomes = list(pool.map(guarded(job), hosts))
    failed = [f"{host}: {why}" for host, why in zip(hosts, outcomes) if why]
    if failed:
        raise DeployError(f"{len(failed)} of {len(hosts)} hosts failed: " + "; ".join(failed))


def guarded(job: Callable[[str], str | None]) -> Callable[[str], str | None]:
    def run(host: str) -> str | None:
        try:
            return job(host)
        except DeployError as err:
            return str(err)

    return run


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
