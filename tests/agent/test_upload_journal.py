"""No upload outlives the agent that started it: the upload journal and the next agent's sweep, on real
processes against real stores (rclone and the Ceph RGW).

A test waits for a sweep to end by sending the sweeping agent a cleanup hook:
an agent retires once idle, and it is not idle while it sweeps.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gps3async.core.journalrecords import Owner, UploadRecord, decode, encode, public_endpoint, record_name
from gps3async.runtime.journal import this_process
from tests.agent.test_agent import _start_multipart_backup, data_path, ok, place_of, popen
from tests.conftest import BUCKET, RCLONE_ONLY, Plugin, alive, wait_for, write_config
from tests.faults.proxy import FaultProxy, error
from tests.s3server import SECRET_KEY, S3Server, open_uploads

pytestmark = pytest.mark.stores("rclone", "rgw")

MIB = 1024 * 1024
#: A file in the journal that is no record: left alone by every sweep.
UNREADABLE = "12-unreadable.upload"


def journal(plugin: Plugin) -> Path:
    return plugin.runtime / "gps3async" / "uploads"


def records(plugin: Plugin) -> dict[str, UploadRecord]:
    """The journal's records by upload id."""
    found = [decode(path.read_bytes()) for path in journal(plugin).glob("*.upload") if path.name != UNREADABLE]
    return {record.upload_id: record for record in found}


def retire(plugin: Plugin, config: Path) -> None:
    """Let the agent of ``config`` exit once idle (its sweep done), and wait until it has."""
    pid = int(Path(place_of(plugin, config).pidfile).read_text())
    ok(plugin.run("cleanup_plugin_for_backup", str(plugin.backup_dir()), "segment_host", config=config))
    wait_for(lambda: not alive(pid), 90, "the agent to finish its sweep and exit")


def test_an_agent_killed_mid_upload_leaves_nothing_open_once_the_next_agent_starts(
    agent_plugin: Plugin, s3: Any
) -> None:
    plugin = agent_plugin
    path = data_path(plugin)
    process = _start_multipart_backup(plugin, s3, path)
    ((upload,),) = [open_uploads(s3, BUCKET, plugin.folder)]
    (pid,) = plugin.agent_pids()
    recorded = records(plugin)[upload["UploadId"]]  # on record while the parts go out
    assert (recorded.key, recorded.owner.pid, recorded.identity) == (upload["Key"], pid, place_of(plugin).identity)
    assert recorded.bucket == BUCKET and SECRET_KEY.encode() not in encode(recorded)
    os.kill(pid, signal.SIGKILL)  # what the OOM killer does: no clean-up runs
    _, stderr = process.communicate(timeout=30)
    assert process.returncode != 0
    lines = stderr.decode().splitlines()
    assert len(lines) == 1 and "agent stopped before backup_data finished" in lines[0], lines
    assert "not retried" in lines[0]
    assert [u["UploadId"] for u in open_uploads(s3, BUCKET, plugin.folder)] == [upload["UploadId"]]
    assert list(records(plugin)) == [upload["UploadId"]]

    ok(plugin.run("backup_data", data_path(plugin, "gpbackup_1_next"), stdin=b"the next call"))
    retire(plugin, plugin.config)
    assert open_uploads(s3, BUCKET, plugin.folder) == []
    assert records(plugin) == {}
    text = plugin.log_text()
    assert f"aborted the multipart upload of s3://{BUCKET}/{upload['Key']} left open by pid {pid}" in text
    assert ": 1 orphaned uploads aborted" in text


def _record(plugin: Plugin, s3: Any, endpoint: str, name: str, owner: Owner, bucket: str = BUCKET) -> UploadRecord:
    """A real upload opened with boto3, and a record of it in the journal owned by ``owner``."""
    key = f"{plugin.folder}/crashed/{name}"
    upload_id = str(s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"])
    record = UploadRecord(endpoint, bucket, key, upload_id, "2026-12-06T00:00:00Z", owner, "in-process")
    directory = journal(plugin)
    directory.parent.mkdir(mode=0o700, exist_ok=True)  # the agents' directory, as the client makes it
    directory.mkdir(mode=0o700, exist_ok=True)
    (directory / record_name(owner.pid, endpoint, bucket, upload_id)).write_bytes(encode(record))
    return record


@RCLONE_ONLY
def test_a_sweep_aborts_only_the_uploads_of_gone_processes_on_its_own_store(
    agent_plugin: Plugin, s3: Any, s3_server: S3Server
) -> None:
    plugin = agent_plugin
    # A live agent in the middle of a multipart upload.
    path = data_path(plugin)
    process = _start_multipart_backup(plugin, s3, path)
    (live_pid,) = plugin.agent_pids()
    ((live_upload,),) = [open_uploads(s3, BUCKET, plugin.folder)]
    here = this_process()
    endpoint = public_endpoint(s3_server.endpoint)
    finished = subprocess.Popen(["true"])
    finished.wait()  # exited and reaped: nothing runs under its pid (until it is reused)
    gone_pid = finished.pid
    live_start = records(plugin)[live_upload["UploadId"]].owner.start
    gone = _record(plugin, s3, endpoint, "gone", Owner(here.host, here.boot_id, gone_pid, "1"))
    reused = _record(plugin, s3, endpoint, "reused", Owner(here.host, here.boot_id, live_pid, live_start + "7"))
    rebooted = _record(plugin, s3, endpoint, "rebooted", Owner(here.host, "an-earlier-boot", live_pid, live_start))
    other_bucket = _record(plugin, s3, endpoint, "other-bucket", Owner(here.host, here.boot_id, gone_pid, "1"), "x")
    other_host = _record(plugin, s3, endpoint, "other-host", Owner("elsewhere", "b", gone_pid, "1"))
    (journal(plugin) / f"{gone_pid}-half.upload.tmp").write_bytes(b'{"format": 1, "endp')  # killed mid-write
    (journal(plugin) / UNREADABLE).write_bytes(b"not a record")

    # A second agent (another config, same store) starts and sweeps while the first one uploads.
    other = write_config(plugin.config.parent / "other.yaml", s3_server.endpoint, plugin.folder, agent="on",
                         restore_max_concurrent_requests=2)  # fmt: skip
    ok(plugin.run("list_directory", plugin.folder, config=other))
    retire(plugin, other)

    still_open = {u["UploadId"] for u in open_uploads(s3, BUCKET, plugin.folder)}
    assert still_open == {live_upload["UploadId"], other_bucket.upload_id, other_host.upload_id}
    assert set(records(plugin)) == {live_upload["UploadId"], other_bucket.upload_id, other_host.upload_id}
    assert not list(journal(plugin).glob("*.tmp"))
    assert (journal(plugin) / UNREADABLE).exists()
    text = plugin.log_text()
    assert ": 3 orphaned uploads aborted, 1 records of running processes and 1 of other hosts untouched" in text
    assert "left for an agent of that store" in text
    for aborted in (gone, reused, rebooted):
        assert f"aborted the multipart upload of s3://{BUCKET}/{aborted.key}" in text

    # The live agent's upload was never touched: its backup completes, and its record goes with it.
    assert process.stdin is not None
    process.stdin.write(os.urandom(3 * MIB))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()
    assert live_upload["UploadId"] not in records(plugin)
    assert s3.head_object(Bucket=BUCKET, Key=plugin.key(path))["ContentLength"] == 15 * MIB
    for left in (other_bucket, other_host):
        s3.abort_multipart_upload(Bucket=BUCKET, Key=left.key, UploadId=left.upload_id)


@RCLONE_ONLY
@pytest.mark.parametrize("next_call", ["agent", "in-process"])
def test_an_in_process_call_killed_mid_upload_is_swept_by_the_next_call(
    agent_plugin: Plugin, s3: Any, s3_server: S3Server, next_call: str
) -> None:
    plugin = agent_plugin
    off = write_config(plugin.config.parent / "off.yaml", s3_server.endpoint, plugin.folder, agent="off")
    process = popen(plugin, "backup_data", data_path(plugin), config=off, stdin=subprocess.PIPE)
    assert process.stdin is not None
    process.stdin.write(os.urandom(12 * MIB))
    process.stdin.flush()
    wait_for(lambda: records(plugin) != {}, 60, "the in-process call to record its upload")
    ((recorded,),) = [list(records(plugin).values())]
    assert (recorded.owner.pid, recorded.identity) == (process.pid, "in-process")
    process.kill()
    process.communicate(timeout=30)
    assert [u["UploadId"] for u in open_uploads(s3, BUCKET, plugin.folder)] == [recorded.upload_id]

    if next_call == "agent":
        ok(plugin.run("list_directory", plugin.folder))  # the host's next agent
        retire(plugin, plugin.config)
    else:  # agent: "off": the next call sweeps once its own work is done, before it exits
        ok(plugin.run("list_directory", plugin.folder, config=off))
        assert plugin.agent_pids() == []
        assert re.search(r"in-process call \d+: upload journal swept in [0-9.]+ s: 1 orphaned", plugin.log_text())
    assert open_uploads(s3, BUCKET, plugin.folder) == []
    assert records(plugin) == {}


@RCLONE_ONLY
def test_an_upload_whose_abort_fails_keeps_its_record_for_the_next_agent(
    agent_plugin: Plugin, s3: Any, s3_server: S3Server
) -> None:
    plugin = agent_plugin
    with FaultProxy(s3_server.port) as proxy:
        config = write_config(plugin.config.parent / "proxied.yaml", proxy.endpoint, plugin.folder, agent="on")
        here = this_process()
        finished = subprocess.Popen(["true"])
        finished.wait()
        orphan = _record(plugin, s3, public_endpoint(proxy.endpoint), "refused", Owner(here.host, here.boot_id,
                         finished.pid, "1"))  # fmt: skip
        refusal = proxy.add(error(403, "AccessDenied"), method="DELETE", path=r"uploadId=", times=1)
        ok(plugin.run("list_directory", plugin.folder, config=config))
        retire(plugin, config)
        assert refusal.faulted == 1
        assert set(records(plugin)) == {orphan.upload_id}
        assert [u["UploadId"] for u in open_uploads(s3, BUCKET, plugin.folder)] == [orphan.upload_id]
        assert "could not abort the upload of" in plugin.log_text() and "the record stays" in plugin.log_text()

        ok(plugin.run("list_directory", plugin.folder, config=config))  # the next agent: the store answers
        retire(plugin, config)
        assert records(plugin) == {}
        assert open_uploads(s3, BUCKET, plugin.folder) == []
