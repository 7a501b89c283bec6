"""The one RGW a test session shares, whether it runs in one process or across pytest-xdist workers.

The session's first process (the xdist controller, or pytest itself without
xdist) names a directory for the cluster and exports it with its own pid
(:func:`prepare`).  The first process that wants the gateway claims that
directory (an ``O_EXCL`` file) and starts the cluster, in a background thread
as soon as it has collected a test that needs it (:func:`start_in_background`),
so the start overlaps the tests that do not; every other process waits for the
endpoints file it leaves (:func:`endpoints`).  The first process stops the
cluster when the session ends (:func:`finish`) and keeps its logs in the
session's basetemp (``ceph-rgw-log``); the cluster's watchdog stops it too
should that process die without cleaning up.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

from tests.rgw import INSTALL, RGWEndpoints, RGWStartError, missing_packages, start_rgw, stop_cluster

DIRECTORY_VARIABLE = "GPS3ASYNC_TEST_RGW_DIR"
OWNER_VARIABLE = "GPS3ASYNC_TEST_SESSION_PID"
#: How long a process waits for another one's start (a loaded 2-core machine takes ~20 s).
WAIT = 240.0

_starter: threading.Thread | None = None


def prepare(directory: Path) -> None:
    """In the session's first process: where the cluster will live, and whose end stops it."""
    os.environ[DIRECTORY_VARIABLE] = str(directory)
    os.environ[OWNER_VARIABLE] = str(os.getpid())


def _directory() -> Path:
    return Path(os.environ[DIRECTORY_VARIABLE])


def unavailable() -> str | None:
    """Why this machine cannot run the RGW (one line naming what to install), or ``None``."""
    missing = missing_packages()
    if not missing:
        return None
    return f"Ceph RGW not installed (missing {', '.join(missing)}): {INSTALL}"


def _claim_and_start() -> None:
    directory = _directory()
    directory.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(directory / "claimed", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return  # another process starts it
    started = time.monotonic()
    try:
        cluster = start_rgw(directory, owner=int(os.environ[OWNER_VARIABLE]))
    except BaseException as failure:  # recorded for every waiting process, then re-raised here
        (directory / "failed").write_text(f"{failure}\n")
        raise
    ready = {**{k: str(v) for k, v in vars(cluster.endpoints).items()}, "seconds": round(time.monotonic() - started, 1)}
    (directory / "endpoints.tmp").write_text(json.dumps(ready))
    (directory / "endpoints.tmp").rename(directory / "endpoints.json")


def _start_quietly() -> None:
    try:
        _claim_and_start()
    except BaseException:  # recorded in `failed`: the fixture that waits for it reports it
        pass


def start_in_background() -> None:
    """Start the cluster in a thread of this process if nobody has claimed it; returns at once."""
    global _starter
    if _starter is None and unavailable() is None:
        _starter = threading.Thread(target=_start_quietly, name="rgw-start", daemon=True)
        _starter.start()


def endpoints() -> RGWEndpoints:
    """The running gateway's endpoints: started here if nobody has, else waited for."""
    directory = _directory()
    if not (directory / "claimed").exists():
        _claim_and_start()
    deadline = time.monotonic() + WAIT
    while not (directory / "endpoints.json").exists():
        if (directory / "failed").exists():
            raise RGWStartError((directory / "failed").read_text().strip())
        if time.monotonic() > deadline:
            raise RGWStartError(f"the RGW was not up after {WAIT:.0f} s (logs in {directory}/log)")
        time.sleep(0.1)
    ready = json.loads((directory / "endpoints.json").read_text())
    return RGWEndpoints(
        endpoint=ready["endpoint"],
        tls_endpoint=ready["tls_endpoint"],
        ca_cert=Path(ready["ca_cert"]),
        tls_key=Path(ready["tls_key"]),
        access_key=ready["access_key"],
        secret_key=ready["secret_key"],
        bucket=ready["bucket"],
        region=ready["region"],
    )


def join_starter() -> None:
    """In every process, at its end: let a start under way finish (its daemons are then stopped by :func:`finish`)."""
    if _starter is not None:
        _starter.join(WAIT)


def finish(logs_to: Path) -> None:
    """In the session's first process, last: stop the cluster, copy its logs to ``logs_to``, remove the rest."""
    join_starter()
    if DIRECTORY_VARIABLE not in os.environ or not _directory().exists():
        return
    directory = _directory()
    stop_cluster(directory)
    if (directory / "log").is_dir():
        shutil.copytree(directory / "log", logs_to, dirs_exist_ok=True)
    shutil.rmtree(directory, ignore_errors=True)
