"""gpbackup's copy of the plugin config: which secrets are literal, and the copy stored without them."""

from __future__ import annotations

import pytest
import yaml

from gps3async.core.configcopy import (
    REDACTED,
    is_plugin_config_copy,
    literal_secret_options,
    literal_secret_warning,
    redacted_copy,
)
from gps3async.core.configfile import parse_config
from gps3async.core.errors import ConfigError
from tests.gpbackup_harness import go_yaml

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
OPTIONS = {"endpoint": "http://127.0.0.1:9000", "aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": SECRET,
           "bucket": "b", "folder": "prod/c1", "pgport": "5432", "backup_plugin_version": ""}  # fmt: skip


def options_of(data: bytes) -> dict[str, str]:
    return {key: str(value) for key, value in yaml.load(data, Loader=yaml.BaseLoader)["options"].items()}


@pytest.mark.parametrize(
    ("options", "literal"),
    [
        ({"aws_secret_access_key": SECRET}, ("aws_secret_access_key",)),
        ({"aws_secret_access_key": "${S}"}, ()),
        ({"aws_secret_access_key": "${S}${T}", "aws_session_token": "x${T}"}, ("aws_session_token",)),
        ({"aws_access_key_id": "AKIAEXAMPLE", "aws_profile": "p"}, ()),
        ({"aws_secret_access_key": REDACTED}, ()),
    ],
)
def test_which_secrets_are_literal(options: dict[str, str], literal: tuple[str, ...]) -> None:
    assert literal_secret_options(options) == literal


def test_the_copy_gpbackup_writes_is_stored_with_only_its_secret_replaced() -> None:
    copy = go_yaml("/usr/local/gps3async/bin/gpbackup_s3_plugin", OPTIONS).encode()
    redacted = redacted_copy(copy)
    assert redacted is not None and SECRET.encode() not in redacted
    assert options_of(redacted) == {**OPTIONS, "aws_secret_access_key": REDACTED}
    # byte for byte the rest: only the value's span changed
    assert redacted.replace(f'"{REDACTED}"'.encode(), SECRET.encode()) == copy
    # a session token too, and a block scalar (rewritten as a whole document, the same options)
    block = b"executablepath: /p\noptions:\n  aws_secret_access_key: |\n    " + SECRET.encode() + b"\n  bucket: b\n"
    token = b"executablepath: /p\noptions:\n  aws_secret_access_key: ${S}\n  aws_session_token: 'tok en'\n"
    assert options_of(redacted_copy(block) or b"") == {"aws_secret_access_key": REDACTED, "bucket": "b"}
    assert options_of(redacted_copy(token) or b"") == {"aws_secret_access_key": "${S}", "aws_session_token": REDACTED}


@pytest.mark.parametrize(
    "data",
    [
        b"executablepath: /p\noptions:\n  aws_secret_access_key: ${S}\n  bucket: b\n",  # nothing literal
        b"executablepath: /p\noptions:\n  aws_profile: backup\n",
        b"options: [\n",  # not YAML
        b"- a\n- b\n",
        b"\xff\xfe",
        b"executablepath: /p\noptions:\n  aws_secret_access_key: x\n" + b"#" * (2 << 20),  # too large to be a copy
    ],
)
def test_anything_else_is_stored_as_it_is(data: bytes) -> None:
    assert redacted_copy(data) is None


def test_only_gpbackups_copy_is_recognised_by_name() -> None:
    assert is_plugin_config_copy(
        "/data/gpseg-1/backups/20261126/20261126101500/gpbackup_20261126101500_plugin_config.yaml"
    )
    assert is_plugin_config_copy("gpbackup_20261126101500_plugin_config.yaml")
    for other in ("gpbackup_20261126101500_config.yaml", "/tmp/20261126101500_s3.yaml",
                  "gpbackup_2026_plugin_config.yaml", "x/gpbackup_20261126101500_plugin_config.yaml.bak"):  # fmt: skip
        assert not is_plugin_config_copy(other), other


def test_a_redacted_copy_used_as_a_config_says_so_in_one_problem() -> None:
    copy = redacted_copy(go_yaml("/p", OPTIONS).encode())
    assert copy is not None
    with pytest.raises(ConfigError) as caught:
        parse_config(copy.decode(), "copy.yaml", environ={})
    assert caught.value.problems == [
        f"aws_secret_access_key is {REDACTED}: this is the copy of a config stored in a backup set; use the original"
    ]
    assert parse_config(go_yaml("/p", OPTIONS), environ={}).literal_secrets == ("aws_secret_access_key",)


def test_the_warning_is_one_line_naming_what_keeps_the_secret_out() -> None:
    line = literal_secret_warning(("aws_secret_access_key",))
    assert "\n" not in line and "literal aws_secret_access_key" in line
    assert "${NAME} references" in line and "client_side_encryption" in line and "plugin_config.yaml" in line


def test_client_side_encryption_seals_the_copy_so_nothing_is_exposed() -> None:
    plain = go_yaml("/p", OPTIONS)
    sealed = go_yaml("/p", {**OPTIONS, "client_side_encryption": "aes-256-gcm", "encryption_key": "${K}"})
    assert parse_config(plain, environ={}).exposed_secrets == ("aws_secret_access_key",)
    config = parse_config(sealed, environ={"K": "ab" * 32})
    assert config.literal_secrets == ("aws_secret_access_key",) and config.exposed_secrets == ()
    referenced = go_yaml("/p", {**OPTIONS, "aws_secret_access_key": "${S}"})
    assert parse_config(referenced, environ={"S": SECRET}).exposed_secrets == ()
