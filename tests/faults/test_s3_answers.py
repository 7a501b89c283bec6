"""Answers a production S3 account gives that the local server never does, injected by the proxy.

DeleteObjects answers 200 while refusing some keys (a bucket policy or object
lock), and GetObject on an object in an archive storage class answers 403
InvalidObjectState.  Each must fail the call with one line that says what to do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.conftest import BUCKET, EVERY_STORE
from tests.faults.proxy import error, reply
from tests.faults.test_faults import DELETE_OBJECTS, ok, one_stderr_line

if TYPE_CHECKING:
    from tests.faults.conftest import FaultRunner

pytestmark = EVERY_STORE

TIMESTAMP = "20261126101500"


def per_key_errors(keys: list[str], code: str = "AccessDenied") -> bytes:
    """A DeleteObjects answer in which every key in ``keys`` was refused."""
    errors = "".join(f"<Error><Key>{key}</Key><Code>{code}</Code><Message>denied</Message></Error>" for key in keys)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{errors}</DeleteResult>'
    ).encode()


def test_delete_backup_fails_on_per_key_errors_and_names_the_keys(runner: FaultRunner, s3: Any) -> None:
    paths = [runner.data_path(f"gpbackup_{n}_{TIMESTAMP}") for n in range(7)]
    for path in paths:
        ok(runner.run("backup_data", str(path), stdin=b"x"))
    refused = [runner.key(path) for path in paths]
    rule = runner.proxy.add(reply(200, per_key_errors(refused)), method="POST", path=DELETE_OBJECTS)
    result = runner.run("delete_backup", TIMESTAMP)
    line = one_stderr_line(result, "7 objects not deleted", f"{refused[0]} (AccessDenied)", "and 2 more")
    assert result.returncode == 1 and rule.faulted == 1
    assert refused[4] in line and refused[5] not in line
    log = runner.log_text()
    assert all(f"{key} (AccessDenied)" in log for key in refused)  # the log names every key


def test_delete_directory_fails_on_one_refused_key(runner: FaultRunner) -> None:
    path = runner.data_path(f"gpbackup_0_{TIMESTAMP}")
    ok(runner.run("backup_data", str(path), stdin=b"x"))
    runner.proxy.add(reply(200, per_key_errors([runner.key(path)], "ObjectLocked")), method="POST", path=DELETE_OBJECTS)
    result = runner.run("delete_directory", f"{runner.folder}/backups")
    one_stderr_line(result, f"1 objects not deleted: {runner.key(path)} (ObjectLocked)")


def test_restore_from_an_archived_class_says_restore_it_first(runner: FaultRunner) -> None:
    path = runner.data_path(f"gpbackup_0_{TIMESTAMP}")
    ok(runner.run("backup_data", str(path), stdin=b"archived"))
    runner.proxy.add(
        error(403, "InvalidObjectState", "The operation is not valid for the object's storage class"), method="GET"
    )
    result = runner.run("restore_data", str(path))
    line = one_stderr_line(result, runner.key(path), "archive storage class", "must be restored first")
    assert result.stdout == b"" and "access denied" not in line
    assert BUCKET in line
