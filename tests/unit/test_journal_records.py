"""The upload journal's pure part: record format, file names, /proc parsing, and who is judged gone."""

from __future__ import annotations

import json

import pytest

from gps3async.core.journalrecords import (
    LIVE,
    ORPHANED,
    OTHER_HOST,
    Owner,
    RecordError,
    UploadRecord,
    decode,
    encode,
    judge,
    pid_of_name,
    plan_sweep,
    public_endpoint,
    record_name,
    split_by_store,
    start_time,
)

HERE = Owner("sdw1", "boot-a", 4242, "1000")


def record(pid: int = 100, start: str = "500", *, host: str = "sdw1", boot: str = "boot-a", bucket: str = "b",
           endpoint: str = "http://127.0.0.1:9000", upload_id: str = "u-1") -> UploadRecord:  # fmt: skip
    return UploadRecord(endpoint, bucket, "f/backups/x/gpbackup_0_x", upload_id, "2026-12-06T04:00:00Z",
                        Owner(host, boot, pid, start), "ab" * 20)  # fmt: skip


def test_a_record_round_trips_as_one_line_without_secrets() -> None:
    original = record()
    data = encode(original)
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert decode(data) == original
    namespaced = UploadRecord("e", "b", "k", "u", "t", Owner("h", "b", 1, "2", "pid:[4026531836]"), "x")
    assert decode(encode(namespaced)) == namespaced
    assert set(json.loads(data)) == {"format", "endpoint", "bucket", "key", "upload_id", "started", "host",
                                     "boot_id", "pid", "pid_start", "pid_namespace", "identity"}  # fmt: skip


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"{",
        b"[1]",
        b"\xff\xfe",
        json.dumps({"format": 2}).encode(),  # a newer plugin's record: not ours to read
    ],
)
def test_what_is_no_whole_record_is_refused(data: bytes) -> None:
    with pytest.raises(RecordError):
        decode(data)


@pytest.mark.parametrize(
    ("name", "value"), [("pid", "100"), ("pid", True), ("pid", 0), ("upload_id", ""), ("key", None), ("host", 7)]
)
def test_a_record_with_a_wrong_field_is_refused(name: str, value: object) -> None:
    fields = json.loads(encode(record()))
    fields[name] = value
    with pytest.raises(RecordError):
        decode(json.dumps(fields).encode())


def test_the_endpoint_a_record_keeps_has_no_user_information() -> None:
    assert public_endpoint("https://AKIA:secret@s3.example.com:9000/") == "https://s3.example.com:9000"
    assert public_endpoint("http://127.0.0.1:9000") == "http://127.0.0.1:9000"


def test_record_names_carry_the_pid_and_differ_per_upload() -> None:
    name = record_name(100, "http://e", "b", "u-1")
    assert name.startswith("100-") and name.endswith(".upload")
    assert pid_of_name(name) == 100
    assert name != record_name(100, "http://e", "b", "u-2") != record_name(100, "http://e", "c", "u-1")
    assert pid_of_name(name + ".tmp") is None
    assert pid_of_name("." + name) is None
    assert pid_of_name("x-abc.upload") is None


def test_the_start_time_is_read_after_the_last_parenthesis() -> None:
    fields = " ".join(str(n) for n in range(4, 30))  # field 4 onwards: field 22 reads "22"
    assert start_time(f"77 (gps3async-agent) S {fields}") == "22"
    assert start_time(f"77 (a) b) (c) S {fields}") == "22"  # a command name with spaces and parentheses
    with pytest.raises(RecordError):
        start_time("77 (short) S 1 2 3")
    with pytest.raises(RecordError):
        start_time("no parenthesis at all")


def test_a_running_owner_is_live_and_a_gone_or_replaced_one_orphaned() -> None:
    assert judge(record(start="500"), HERE, "500") == LIVE
    assert judge(record(start="500"), HERE, None) == ORPHANED  # no process has the pid
    assert judge(record(start="500"), HERE, "900") == ORPHANED  # the pid was reused by a later process
    assert judge(record(boot="boot-old"), HERE, "500") == ORPHANED  # rebooted since: every process ended
    assert judge(record(host="sdw2"), HERE, None) == OTHER_HOST  # another host's agents judge it
    in_a_container = Owner("sdw1", "boot-a", 100, "500", "pid:[2]")
    container_record = UploadRecord("e", "b", "k", "u", "t", in_a_container, "x")
    assert judge(container_record, Owner("sdw1", "boot-a", 1, "1", "pid:[1]"), None) == OTHER_HOST  # not its pids
    assert judge(container_record, Owner("sdw1", "boot-a", 1, "1", "pid:[2]"), None) == ORPHANED


def test_an_unknown_start_time_with_the_pid_running_counts_as_live() -> None:
    assert judge(record(start=""), HERE, "500") == LIVE
    assert judge(record(start="500"), HERE, "") == LIVE
    assert judge(record(start="500", boot=""), HERE, "500") == LIVE


def test_the_plan_touches_only_records_whose_owner_was_found_gone() -> None:
    gone, reused, live, unlooked = record(pid=1), record(pid=2, start="5"), record(pid=3), record(pid=4)
    other_host = record(pid=1, host="sdw9")
    entries = [("a", gone), ("b", reused), ("c", live), ("d", None), ("e", unlooked), ("f", other_host)]
    plan = plan_sweep(entries, HERE, {1: None, 2: "6", 3: "500"})
    assert plan.orphaned == [("a", gone), ("b", reused)]
    assert (plan.live, plan.other_host, plan.unreadable) == (2, 1, ["d"])  # pid 4 was not looked up: alive


def test_orphans_split_by_the_store_the_agent_reaches() -> None:
    here = ("p", record(upload_id="1"))
    elsewhere = [("q", record(upload_id="2", bucket="other")), ("r", record(upload_id="3", endpoint="http://x"))]
    mine, others = split_by_store([here, *elsewhere], "http://127.0.0.1:9000", "b")
    assert (mine, others) == ([here], elsewhere)
