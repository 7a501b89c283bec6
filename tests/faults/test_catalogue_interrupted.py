"""An ``expire`` killed with SIGKILL between two deletes leaves every set restorable or listed incomplete."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from typing import TYPE_CHECKING, Any

import pytest

from tests.cli.test_catalogue import go_plugin_set
from tests.conftest import plugin_executable
from tests.faults.proxy import Request, Stall
from tests.gpbackup_harness import Cluster

if TYPE_CHECKING:
    from pathlib import Path

    from tests.faults.conftest import FaultRunner

pytestmark = [pytest.mark.stores("rclone"), pytest.mark.agent_only]

FULL_1, INCREMENTAL_1, FULL_2 = "20261101010000", "20261102010000", "20261110010000"
OID = 16384


def listing(runner: FaultRunner) -> dict[str, dict[str, Any]]:
    """``list --json`` through the agent (cheaper than in-process)."""
    result = runner.run("list", "--json")
    assert (result.returncode, result.stderr) == (0, b""), result.stdout
    return {entry["timestamp"]: entry for entry in json.loads(result.stdout)["sets"]}


def test_an_expire_killed_between_deletes(runner: FaultRunner, s3: Any, tmp_path: Path) -> None:
    # The killed expire runs in-process, so the process killed is the one deleting (an agent would carry on).
    config = runner.make_config("in_process.yaml", agent="off")
    cluster = Cluster(tmp_path / "cluster", runner.make_config("s3_config.yaml"), runner.env(), {"sdw1": [0, 1]})
    tables = {content: {OID: random.Random(content).randbytes(300)} for content in (0, 1)}
    plan = [{"timestamp": INCREMENTAL_1, "tablefqns": [f"public.t{OID}"]}, {"timestamp": FULL_1, "tablefqns": []}]
    try:
        full_1 = cluster.backup(tables, single_data_file=False, timestamp=FULL_1)
        cluster.backup(tables, single_data_file=False, timestamp=INCREMENTAL_1,
                       config_fields={"incremental": True, "restoreplan": plan})  # fmt: skip
        go_plugin_set(runner, s3, FULL_2, "demo")  # the newest full, kept (written the Go plugin's way: cheaper)
        deletes = 0

        def after_the_first_delete(request: Request) -> bool:
            nonlocal deletes
            if request.method == "POST" and "delete" in request.target.split("?", 1)[-1]:
                deletes += 1
                return deletes > 1
            return False

        runner.proxy.add(Stall(60), path=after_the_first_delete)
        argv = [plugin_executable(), "expire", str(config), "--keep-full", "1"]
        process = subprocess.Popen(argv, env=runner.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while deletes < 2 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert deletes == 2, process.communicate()
        process.send_signal(signal.SIGKILL)
        process.communicate()
        runner.proxy.clear()

        # The dependent went first, its config first: it lists as incomplete; its base and the newest full are whole.
        sets = listing(runner)
        assert sets[INCREMENTAL_1]["config"] == "missing" and sets[INCREMENTAL_1]["complete"] is False
        assert sets[FULL_1]["complete"] is True and sets[FULL_2]["complete"] is True
        cluster.wipe_local_backups()
        assert cluster.restore(full_1) == tables

        # Run again: it finishes the job.
        result = runner.run("expire", "--keep-full", "1")
        assert (result.returncode, result.stderr) == (0, b""), result.stdout
        assert result.stdout.decode().splitlines()[-1].startswith("expire: deleted 2 sets, ")
        assert list(listing(runner)) == [FULL_2]
    finally:
        cluster.remove_config_copies()
