"""The command-level sequence of gpbackup's public plugin test bench, step by step.

gpbackup ships a shell bench that every storage plugin must pass; this test
replays its command-level part (everything before it starts a database) with
the same paths, arguments (content ids in literal quotes), data shapes and
checks, against the real local S3 server.
"""

from __future__ import annotations

import random
import string
from pathlib import Path

import pytest

from tests.cli.test_verbs import failed, ok
from tests.conftest import Plugin


def random_text(rng: random.Random, size: int) -> bytes:
    alphabet = string.ascii_letters + string.digits
    return ("".join(rng.choice(alphabet) for _ in range(size)) + "\n").encode()


def backup_timestamp(rng: random.Random) -> str:
    return str(99999999999999 - rng.randrange(2**40))


def scoped(plugin: Plugin, verb: str, directory: Path) -> None:
    ok(plugin.run(verb, str(directory), "coordinator", '"-1"'))
    ok(plugin.run(verb, str(directory), "segment_host"))
    ok(plugin.run(verb, str(directory), "segment", '"0"'))


@pytest.mark.agent_only  # the same verbs as tests/cli/test_verbs.py, which runs both doors
def test_plugin_bench_sequence(plugin: Plugin, tmp_path: Path) -> None:
    rng = random.Random(20261126)
    api = ok(plugin.run("plugin_api_version")).decode().strip()
    assert tuple(map(int, api.split("."))) >= (0, 3, 0)
    assert " version " in ok(plugin.run("--version")).decode()

    stamp = backup_timestamp(rng)
    testdir = tmp_path / "testseg" / "backups" / stamp[:8] / stamp
    testdir.mkdir(parents=True)
    testfile = testdir / f"testfile_{stamp}.txt"
    testfile.write_bytes(b"this is some text\n")

    scoped(plugin, "setup_plugin_for_backup", testdir)
    ok(plugin.run("backup_file", str(testfile)))
    assert testfile.exists()
    scoped(plugin, "setup_plugin_for_restore", testdir)
    testfile.unlink()
    ok(plugin.run("restore_file", str(testfile)))
    assert testfile.read_bytes() == b"this is some text\n"
    assert plugin.run("restore_file", str(testdir / "there_is_no_file_to_restore")).returncode != 0
    scoped(plugin, "cleanup_plugin_for_backup", testdir)
    scoped(plugin, "cleanup_plugin_for_restore", testdir)

    data = random_text(rng, 1000)
    ok(plugin.run("backup_data", str(testdir / f"testdata_{stamp}.txt"), stdin=data))
    assert ok(plugin.run("restore_data", str(testdir / f"testdata_{stamp}.txt"))) == data
    ok(plugin.run("backup_data", str(testdir / f"test_no_data_{stamp}.txt"), stdin=b""))
    assert ok(plugin.run("restore_data", str(testdir / f"test_no_data_{stamp}.txt"))) == b""

    # The bench runs these for plugins that implement restore_data_subset.
    small, large = testdir / f"testdatasmall_{stamp}.txt", testdir / f"testdatalarge_{stamp}.txt"
    data_large = random_text(rng, 1_000_000)
    ok(plugin.run("backup_data", str(small), stdin=data))
    ok(plugin.run("backup_data", str(large), stdin=data_large))
    offsets = testdir / "offsets"
    for text, expected in [
        ("1 3 10", data[3:10]),
        ("1 900000 900001", data_large[900000:900001]),
        ("2 0 700000 900000 900001", data_large[:700000] + data_large[900000:900001]),
    ]:
        offsets.write_text(text + "\n")
        target = small if text == "1 3 10" else large
        assert ok(plugin.run("restore_data_subset", str(target), str(offsets))) == expected

    first = backup_timestamp(rng)
    second = str(int(first) + 1)
    dirs = {}
    for stamp_ in (first, second):
        directory = tmp_path / "testseg" / "backups" / stamp_[:8] / stamp_
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"testfile_{stamp_}.txt").write_bytes(b"this is some text\n")
        scoped(plugin, "setup_plugin_for_backup", directory)
        ok(plugin.run("backup_data", str(directory / f"testdata_{stamp_}.txt"), stdin=data))
        ok(plugin.run("backup_file", str(directory / f"testfile_{stamp_}.txt")))
        dirs[stamp_] = directory
    ok(plugin.run("delete_backup", first))
    failed(plugin.run("restore_data", str(dirs[first] / f"testdata_{first}.txt")))
    failed(plugin.run("restore_file", str(dirs[first] / f"testfile_{first}.txt")))
    assert ok(plugin.run("restore_data", str(dirs[second] / f"testdata_{second}.txt"))) == data
    scoped(plugin, "cleanup_plugin_for_backup", dirs[first])

    assert plugin.run("unknown_command", raw=True).returncode != 0
