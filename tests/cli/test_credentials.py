"""Credentials without a secret in the YAML: ``${NAME}`` references, ``aws_profile``, the default chain,
``aws_session_token``; and no secret in stderr, the log or a traceback whichever path is used."""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING, Any

import pytest

from gps3async.core.configcopy import REDACTED
from tests.cli.test_verbs import failed, ok
from tests.conftest import BUCKET
from tests.s3server import ACCESS_KEY, SECRET_KEY

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.conftest import Plugin
    from tests.s3server import S3Server

TOKEN = "gps3async-session-token-DO-NOT-LEAK"


def clean_env(plugin: Plugin, **extra: str) -> dict[str, str]:
    """The plugin's environment without any AWS variable of the machine, and never the instance metadata service."""
    env = {name: value for name, value in plugin.env().items() if not name.startswith("AWS_")}
    return {**env, "AWS_EC2_METADATA_DISABLED": "true", **extra}


def run(plugin: Plugin, config: Path, env: dict[str, str], verb: str, *args: str,
        stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:  # fmt: skip
    return subprocess.run(
        plugin.argv(verb, *args, config=config), input=stdin, capture_output=True, env=env, timeout=120, check=False
    )


def round_trip(plugin: Plugin, config: Path, env: dict[str, str], name: str) -> None:
    path = str(plugin.backup_dir() / name)
    payload = os.urandom(50_000)
    ok(run(plugin, config, env, "backup_data", path, stdin=payload))
    assert ok(run(plugin, config, env, "restore_data", path)) == payload


def test_environment_references_keep_the_secret_out_of_the_file(
    plugin: Plugin, config_factory: Callable[..., Path]
) -> None:
    config = config_factory(aws_access_key_id="${BACKUP_KEY_ID}", aws_secret_access_key="${BACKUP_SECRET}")
    assert SECRET_KEY not in config.read_text()
    env = clean_env(plugin, BACKUP_KEY_ID=ACCESS_KEY, BACKUP_SECRET=SECRET_KEY)
    round_trip(plugin, config, env, "from-env")
    copy = plugin.backup_dir() / "gpbackup_20261126101500_plugin_config.yaml"
    copy.write_bytes(config.read_bytes())
    ok(run(plugin, config, env, "backup_file", str(copy)))
    assert "literal" not in plugin.log_text() and "REDACTED" not in plugin.log_text()
    copy.unlink()
    ok(run(plugin, config, env, "restore_file", str(copy)))
    assert copy.read_bytes() == config.read_bytes(), "a config without literal secrets is stored as it is"


def test_an_unset_reference_is_one_line_naming_the_variable(
    plugin: Plugin, config_factory: Callable[..., Path]
) -> None:
    config = config_factory(aws_access_key_id="${BACKUP_KEY_ID}", aws_secret_access_key="${BACKUP_SECRET}")
    result = run(plugin, config, clean_env(plugin, BACKUP_KEY_ID=ACCESS_KEY), "backup_data",
                 str(plugin.backup_dir() / "f"), stdin=b"x")  # fmt: skip
    line = failed(result)
    assert "aws_secret_access_key refers to ${BACKUP_SECRET}, which is not set" in line
    assert ACCESS_KEY not in line


def test_no_keys_uses_the_default_chain(plugin: Plugin, config_factory: Callable[..., Path]) -> None:
    config = config_factory(aws_access_key_id=None, aws_secret_access_key=None)
    env = clean_env(plugin, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    round_trip(plugin, config, env, "from-chain")


def test_no_credentials_anywhere_is_one_line(plugin: Plugin, config_factory: Callable[..., Path]) -> None:
    config = config_factory(aws_access_key_id=None, aws_secret_access_key=None, max_attempts=1)
    result = run(plugin, config, clean_env(plugin), "backup_data", str(plugin.backup_dir() / "f"), stdin=b"x")
    assert "no AWS credentials" in failed(result)


def test_a_named_profile(plugin: Plugin, config_factory: Callable[..., Path], tmp_path: Path) -> None:
    shared = tmp_path / "aws-credentials"
    shared.write_text(f"[backup]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n")
    config = config_factory(aws_access_key_id=None, aws_secret_access_key=None, aws_profile="backup",
                            logger_verbosity="debug")  # fmt: skip
    env = clean_env(plugin, AWS_SHARED_CREDENTIALS_FILE=str(shared), AWS_CONFIG_FILE=os.devnull)
    round_trip(plugin, config, env, "from-profile")
    checked = run(plugin, config, env, "check")
    assert b"profile 'backup': the shared credentials file (~/.aws/credentials), access key ...-key" in ok(checked)
    assert "credentials from profile 'backup'" in plugin.log_text()  # the verbose settings line of each call
    assert b"secret in config" not in checked.stdout and "literal" not in plugin.log_text()
    assert SECRET_KEY not in plugin.log_text() and SECRET_KEY.encode() not in checked.stdout
    missing = config_factory("missing.yaml", aws_access_key_id=None, aws_secret_access_key=None, aws_profile="nope")
    line = failed(run(plugin, missing, env, "backup_data", str(plugin.backup_dir() / "f"), stdin=b"x"))
    assert "aws_profile 'nope' is in neither the AWS credentials nor the config file" in line


def test_session_token_is_sent_and_never_logged(
    plugin: Plugin, s3_server: S3Server, config_factory: Callable[..., Path]
) -> None:
    from tests.faults.proxy import FaultProxy

    with FaultProxy(s3_server.port) as proxy:
        config = config_factory(endpoint=proxy.endpoint, aws_session_token="${BACKUP_TOKEN}", logger_verbosity="debug")
        env = clean_env(plugin, BACKUP_TOKEN=TOKEN)
        round_trip(plugin, config, env, "with-token")
        tokens = {seen.header("x-amz-security-token") for seen in proxy.seen}
    assert tokens == {TOKEN}
    assert "request PUT " in plugin.log_text()  # debug logging was on, and still:
    assert TOKEN not in plugin.log_text() and SECRET_KEY not in plugin.log_text()


@pytest.mark.parametrize("verbosity", ["info", "debug"])
def test_a_rejected_secret_and_token_never_reach_stderr_log_or_traceback(
    plugin: Plugin, config_factory: Callable[..., Path], verbosity: str
) -> None:
    wrong = "wrong-Secret-From-Env-0123456789"
    config = config_factory(aws_secret_access_key="${BACKUP_SECRET}", aws_session_token="${BACKUP_TOKEN}",
                            max_attempts=1, logger_verbosity=verbosity)  # fmt: skip
    env = clean_env(plugin, BACKUP_SECRET=wrong, BACKUP_TOKEN=TOKEN)
    for verb, args in (("backup_data", ["f"]), ("restore_data", ["f"]), ("delete_backup", ["20261126101500"]),
                       ("list_directory", []), ("check", [])):  # fmt: skip
        paths = [str(plugin.backup_dir() / arg) if arg == "f" else arg for arg in args]
        result = run(plugin, config, env, verb, *paths, stdin=b"x")
        assert result.returncode != 0, verb
        for text in (result.stderr.decode(), result.stdout.decode(), plugin.log_text()):
            assert wrong not in text and TOKEN not in text and SECRET_KEY not in text, verb


def test_a_literal_secret_is_stored_redacted_and_said_once_in_the_log(plugin: Plugin, s3: Any) -> None:
    """gpbackup copies the config into the backup set through backup_file; the secret stays out of the bucket."""
    original = plugin.config.read_bytes()
    assert f"aws_secret_access_key: {SECRET_KEY}\n".encode() in original
    copy = plugin.backup_dir() / "gpbackup_20261126101500_plugin_config.yaml"
    copy.write_bytes(original)
    ok(plugin.run("backup_file", str(copy)))
    stored = s3.get_object(Bucket=BUCKET, Key=plugin.key(copy))["Body"].read()
    assert stored == original.replace(SECRET_KEY.encode(), f'"{REDACTED}"'.encode())
    assert copy.read_bytes() == original, "the local file is left as gpbackup wrote it"
    copy.unlink()
    ok(plugin.run("restore_file", str(copy)))  # what gpbackup --incremental does with its base's copy
    assert copy.read_bytes() == stored
    ok(plugin.run("backup_data", str(plugin.backup_dir() / "gpbackup_0_20261126101500"), stdin=b"rows\n" * 100))
    log = plugin.log_text()
    said = log.count("the config holds a literal aws_secret_access_key, which gpbackup copies into every backup")
    assert said == (1 if plugin.mode == "agent" else 2), "once per agent, or per in-process call"
    assert f"with its literal secrets replaced by {REDACTED}" in log
    assert SECRET_KEY not in log
