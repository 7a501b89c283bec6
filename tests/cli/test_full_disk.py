"""A full disk: restore_file and restore_data fail with one line and leave no partial file.

The disk is a 1 MiB tmpfs mounted for the test (the tests run as root on CI);
where mounting is not permitted the tests are skipped with the reason.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_verbs import failed
from tests.conftest import BUCKET, Plugin

MIB = 1024 * 1024


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                             capture_output=True, check=False)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_restore_file_on_a_full_disk_leaves_nothing(plugin: Plugin, s3: Any, tiny_disk: Path) -> None:
    directory = tiny_disk / "backups" / "20261126" / "20261126101500"
    directory.mkdir(parents=True)
    path = directory / "gpbackup_20261126101500_metadata.sql"
    s3.put_object(Bucket=BUCKET, Key=plugin.key(path), Body=os.urandom(3 * MIB))
    line = failed(plugin.run("restore_file", str(path)))
    assert "No space left on device" in line and str(path) in line
    assert os.listdir(directory) == []


def test_restore_data_into_a_full_disk_fails_with_one_line(plugin: Plugin, s3: Any, tiny_disk: Path) -> None:
    path = plugin.backup_dir() / "gpbackup_0_20261126101500"
    s3.put_object(Bucket=BUCKET, Key=plugin.key(path), Body=os.urandom(3 * MIB))
    target = tiny_disk / "restored"
    with target.open("wb") as sink:
        result = subprocess.run(
            [*plugin.argv("restore_data", str(path))], stdout=sink, stderr=subprocess.PIPE, env=plugin.env(),
            timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode != 0
    assert result.stderr.decode().count("\n") == 1
    assert "writing stdout failed: No space left on device" in result.stderr.decode()
