"""``verify`` of a backup set written with client-side encryption, through the agent and in-process.

The set is written the gpbackup way (:mod:`tests.gpbackup_harness`) with
encryption on, so its config, TOC and data files are all stored encrypted.
With the key, verify reads the config and TOC and ``--deep`` authenticates
every segment; without it, the stored bytes are still checked against their
digests and ``NO-KEY`` lines say what was not.  Tampering is done with boto3,
as someone holding the bucket could.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import crc32c
import pytest

from gps3async.core.encryption.format import HEADER_SIZE, MAGIC
from gps3async.core.integrity.checksums import digest_fields
from tests.conftest import BUCKET, Plugin
from tests.gpbackup_harness import Cluster
from tests.verify.test_verify_verb import TIMESTAMP, data_objects, harness_backup, prefix, summary_counts, verify


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    found = {name: os.urandom(32).hex() for name in ("GPS3_VERIFY_KEY", "GPS3_VERIFY_OTHER")}
    for name, value in found.items():
        monkeypatch.setenv(name, value)
    return found


@pytest.fixture
def keyed(config_factory: Callable[..., Path], keys: dict[str, str]) -> Path:
    return config_factory("keyed.yaml", client_side_encryption="aes-256-gcm", encryption_key="${GPS3_VERIFY_KEY}")


@pytest.fixture
def keyless(config_factory: Callable[..., Path]) -> Path:
    return config_factory("keyless.yaml")


@pytest.fixture
def encrypted_set(plugin: Plugin, s3: Any, tmp_path: Path, keyed: Path) -> Iterator[dict[str, int]]:
    """A per-table backup set stored encrypted; its objects (key: size)."""
    cluster = Cluster(tmp_path / "cluster", keyed, plugin.env())
    try:
        harness_backup(cluster, single_data_file=False)
        objects = data_objects(s3, plugin)
        for name in objects:
            head = s3.get_object(Bucket=BUCKET, Key=name, Range="bytes=0-7")["Body"].read()
            assert head == MAGIC[:8], f"{name} is not stored encrypted"
        yield objects
    finally:
        cluster.remove_config_copies()


def url(key: str) -> str:
    return f"s3://{BUCKET}/{key}"


@pytest.mark.agent_only  # an encrypted set of dozens of calls; verify's in-process door runs in test_verify_verb
def test_an_encrypted_set_verifies_clean_with_the_key(
    plugin: Plugin, encrypted_set: dict[str, int], keyed: Path
) -> None:
    for deep in ((), ("--deep",)):
        code, lines, stderr = verify(plugin, *deep, config=keyed)
        assert (code, stderr) == (0, ""), lines
        assert len(lines) == 1, lines  # the summary alone: config and TOC read, every segment authenticated
        counts = summary_counts(lines[0])
        assert counts == {"objects": len(encrypted_set), "bytes": sum(encrypted_set.values()),
                          "checked": len(encrypted_set), "unchecked": 0, "problems": 0}  # fmt: skip


@pytest.mark.agent_only  # an encrypted backup set of dozens of calls; verify's in-process door runs in test_verify_verb
def test_without_the_key_verify_says_what_it_could_not_check(
    plugin: Plugin, encrypted_set: dict[str, int], keyless: Path
) -> None:
    code, lines, stderr = verify(plugin, config=keyless)
    assert (code, stderr) == (0, ""), lines
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"NO-KEY     {url(prefix(plugin))}: its config file and TOC file are encrypted")
    assert "the backup's timestamp, status and restore plan" in lines[0]
    assert "which data files a restore needs" in lines[0]
    assert summary_counts(lines[1])["checked"] == len(encrypted_set)

    code, lines, stderr = verify(plugin, "--deep", config=keyless)
    assert (code, stderr) == (0, ""), lines
    assert lines[0].startswith(f"NO-KEY     {url(prefix(plugin))}: ")  # the config and TOC, as above
    assert sorted(lines[1:-1]) == sorted(
        f"NO-KEY     {url(key)}: encrypted, and no client_side_encryption key is configured: its stored bytes "
        "were checked, its authenticity was not"
        for key in encrypted_set
    )
    counts = summary_counts(lines[-1])
    assert (counts["checked"], counts["unchecked"], counts["problems"]) == (len(encrypted_set), 0, 0)


def tamper(s3: Any, key: str, *, keep_digests: bool) -> None:
    """Flip one bit of segment 0's ciphertext; keep the recorded digests, or record those of the altered bytes."""
    head = s3.head_object(Bucket=BUCKET, Key=key)
    body = bytearray(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    body[HEADER_SIZE + 10] ^= 0x01
    metadata = head["Metadata"] if keep_digests else digest_fields(crc32c.crc32c(body), len(body))
    s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(body), Metadata=metadata)


@pytest.mark.agent_only  # an encrypted backup set of dozens of calls; verify's in-process door runs in test_verify_verb
def test_a_tampered_encrypted_object_with_matching_digests_fails_authentication(
    plugin: Plugin, s3: Any, encrypted_set: dict[str, int], keyed: Path, keyless: Path
) -> None:
    victim = f"{prefix(plugin)}gpbackup_0_{TIMESTAMP}_16384"
    tamper(s3, victim, keep_digests=False)  # whoever altered it also recorded the altered bytes' digests
    code, lines, _ = verify(plugin, "--deep", config=keyed)
    assert code == 1
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"CORRUPT    {url(victim)}: encrypted segment 0 failed authentication"), lines[0]
    assert summary_counts(lines[1])["problems"] == 1
    # Without the key only the stored digests are there to check, and they match: nothing to catch.
    code, lines, _ = verify(plugin, "--deep", config=keyless)
    assert code == 0 and not any(line.startswith("CORRUPT") for line in lines)


@pytest.mark.agent_only  # an encrypted backup set of dozens of calls; verify's in-process door runs in test_verify_verb
def test_a_tampered_encrypted_object_is_caught_by_its_stored_digests_without_the_key(
    plugin: Plugin, s3: Any, encrypted_set: dict[str, int], keyed: Path, keyless: Path
) -> None:
    victim = f"{prefix(plugin)}gpbackup_0_{TIMESTAMP}_16384"
    tamper(s3, victim, keep_digests=True)
    for config in (keyless, keyed):
        code, lines, _ = verify(plugin, "--deep", config=config)
        assert code == 1
        corrupt = [line for line in lines if line.startswith("CORRUPT")]
        assert len(corrupt) == 1 and corrupt[0].startswith(f"CORRUPT    {url(victim)}: "), lines


@pytest.mark.agent_only  # an encrypted backup set of dozens of calls; verify's in-process door runs in test_verify_verb
def test_a_set_encrypted_under_another_key_is_named(
    plugin: Plugin, encrypted_set: dict[str, int], config_factory: Callable[..., Path]
) -> None:
    other = config_factory("other.yaml", client_side_encryption="aes-256-gcm", encryption_key="${GPS3_VERIFY_OTHER}")
    code, lines, stderr = verify(plugin, config=other)
    assert code == 1 and stderr.count("\n") == 1
    config_url = url(f"{prefix(plugin)}gpbackup_{TIMESTAMP}_config.yaml")
    assert any(line.startswith(f"UNREADABLE {config_url}: the config file: was encrypted with another key")
               for line in lines), lines  # fmt: skip
    code, lines, _ = verify(plugin, "--deep", config=other)
    unreadable = [line for line in lines if line.startswith("UNREADABLE")]
    assert code == 1 and len(unreadable) >= len(encrypted_set), lines
