from __future__ import annotations

import textwrap
from typing import Any

import pytest

from gps3async.core.config import DEFAULT_CHUNKSIZE, DEFAULT_CONCURRENCY, MIB, parse_byte_size
from gps3async.core.configfile import load_config, parse_config
from gps3async.core.errors import ConfigError

BASE = """\
executablepath: /usr/local/greenplum-db/bin/gpbackup_s3_plugin
options:
  region: us-west-2
  aws_access_key_id: AKIAEXAMPLE
  aws_secret_access_key: sekrit-value-123
  bucket: gpdb-backup
  folder: test/backup3
"""


def config_with(**options: str) -> str:
    return BASE + "".join(f"  {key}: {value}\n" for key, value in options.items())


def problems(text: str, **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "cfg.yaml", **kwargs)
    return caught.value.problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5MB", 5 * MIB),
        ("500MB", 500 * MIB),
        ("5mb", 5 * MIB),
        ("1GB", 1024 * MIB),
        ("1.5GB", 1536 * MIB),
        ("64KB", 64 * 1024),
        ("2TB", 2 * 1024 * 1024 * MIB),
        ("100B", 100),
        ("4096", 4096),
        (" 16 MB ", 16 * MIB),
        ("8MiB", 8 * MIB),
    ],
)
def test_byte_sizes_use_binary_multiples(text: str, expected: int) -> None:
    assert parse_byte_size(text) == expected


@pytest.mark.parametrize("text", ["", "MB", "five MB", "5XB", "-5MB", "5 M B"])
def test_bad_byte_sizes_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="byte size"):
        parse_byte_size(text)


def test_minimal_config_gets_defaults() -> None:
    config = parse_config(BASE)
    assert config.bucket == "gpdb-backup"
    assert config.folder == "test/backup3"
    assert config.region == "us-west-2"
    assert config.encryption is True
    assert config.endpoint_url is None
    assert config.backup_chunksize == config.restore_chunksize == DEFAULT_CHUNKSIZE
    assert config.backup_concurrency == config.restore_concurrency == DEFAULT_CONCURRENCY
    assert config.remove_duplicate_bucket is False


def test_every_option_is_read() -> None:
    config = parse_config(
        config_with(
            endpoint="minio.local:9000",
            encryption="off",
            http_proxy="http://proxy:3128",
            backup_max_concurrent_requests="4",
            backup_multipart_chunksize="10MB",
            restore_max_concurrent_requests="8",
            restore_multipart_chunksize="1MB",
            remove_duplicate_bucket="true",
            max_attempts="7",
            connect_timeout="3",
            read_timeout="2.5",
        ),
        for_backup=True,
    )
    assert config.endpoint_url == "http://minio.local:9000"
    assert config.http_proxy == "http://proxy:3128"
    assert (config.backup_concurrency, config.backup_chunksize) == (4, 10 * MIB)
    assert (config.restore_concurrency, config.restore_chunksize) == (8, 1 * MIB)
    assert config.remove_duplicate_bucket is True
    assert (config.max_attempts, config.connect_timeout, config.read_timeout) == (7, 3.0, 2.5)


def test_yaml_on_off_stay_words_not_booleans() -> None:
    # YAML 1.1 reads bare on/off as booleans; the Go plugin reads the text.
    assert parse_config(config_with(encryption="on")).encryption is True
    assert parse_config(config_with(encryption="off")).encryption is False
    assert parse_config(config_with(encryption='"off"')).encryption is False


def test_endpoint_scheme_wins_over_encryption() -> None:
    assert parse_config(config_with(endpoint="https://s3.local", encryption="off")).endpoint_url == "https://s3.local"
    assert parse_config(config_with(endpoint="s3.local")).endpoint_url == "https://s3.local"


def test_every_problem_is_reported_at_once() -> None:
    text = textwrap.dedent(
        """\
        options:
          aws_access_key_id: only-half
          encryption: maybe
          backup_max_concurrent_requests: zero
          restore_multipart_chunksize: lots
        """
    )
    found = problems(text)
    assert len(found) == 8, found
    joined = "\n".join(found)
    for needle in (
        "executablepath",
        "bucket must be set",
        "folder must be set",
        "region or endpoint",
        "aws_secret_access_key must be set",
        "encryption must be on or off",
        "backup_max_concurrent_requests must be a positive integer",
        "restore_multipart_chunksize",
    ):
        assert needle in joined


def test_config_error_message_has_one_problem_per_line_and_names_the_file() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("options: {}\n", "/tmp/s3.yaml")
    assert caught.value.source == "/tmp/s3.yaml"
    assert all("\n" not in problem for problem in caught.value.problems)


def test_unknown_key_names_the_nearest_valid_key() -> None:
    found = problems(config_with(backup_multipart_chunksiz="10MB", ednpoint="x"))
    assert "unknown option 'backup_multipart_chunksiz' (did you mean backup_multipart_chunksize?)" in found
    assert "unknown option 'ednpoint' (did you mean endpoint?)" in found


def test_unknown_top_level_key() -> None:
    assert "unknown top-level key 'option' (did you mean options?)" in problems(BASE + "option: 1\n")


def test_keys_injected_by_gpbackup_and_forks_are_accepted() -> None:
    text = config_with(
        pgport="6000",
        backup_plugin_version='""',
        restore_subset='"on"',
        logger_verbosity="verbose",
        remove_duplicate_bucket="false",
        gpbackup_s3_plugin="x",
    )
    assert parse_config(text).restore_subset is True


def test_key_pair_is_all_or_nothing() -> None:
    no_keys = BASE.replace("  aws_access_key_id: AKIAEXAMPLE\n", "").replace(
        "  aws_secret_access_key: sekrit-value-123\n", ""
    )
    assert parse_config(no_keys).access_key_id == ""
    only_id = BASE.replace("  aws_secret_access_key: sekrit-value-123\n", "")
    assert problems(only_id) == ["aws_secret_access_key must be set when the other half of the key pair is"]
    only_secret = BASE.replace("  aws_access_key_id: AKIAEXAMPLE\n", "")
    assert problems(only_secret) == ["aws_access_key_id must be set when the other half of the key pair is"]


def test_region_or_endpoint_is_required() -> None:
    text = BASE.replace("  region: us-west-2\n", "")
    assert problems(text) == ["region or endpoint must be set"]
    assert parse_config(text + "  endpoint: http://127.0.0.1:9000\n").region == ""


def test_backup_chunk_below_the_s3_part_minimum_is_an_error_for_backup_only() -> None:
    text = config_with(backup_multipart_chunksize="4MB")
    assert parse_config(text).backup_chunksize == 4 * MIB  # restore never uses it
    (problem,) = problems(text, for_backup=True)
    assert "backup_multipart_chunksize is 4MB" in problem and "5MB" in problem


def test_chunk_above_the_s3_part_maximum_is_an_error() -> None:
    (problem,) = problems(config_with(restore_multipart_chunksize="6GB"))
    assert "restore_multipart_chunksize" in problem


def test_secret_never_appears_in_repr_or_errors() -> None:
    config = parse_config(BASE)
    assert "sekrit" not in repr(config)
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + "  encryption: bogus\n")
    assert "sekrit" not in str(caught.value)


def test_not_yaml_is_one_problem() -> None:
    (problem,) = problems("executablepath: [unclosed\n")
    assert problem.startswith("not valid YAML")


def test_missing_file_is_a_config_error(tmp_path: object) -> None:
    with pytest.raises(ConfigError, match="cannot read it"):
        load_config("/nonexistent/s3.yaml")


@pytest.mark.parametrize(
    ("options", "tls"),
    [
        ({"endpoint": "http://127.0.0.1:9000"}, False),
        ({"endpoint": "https://s3.local"}, True),
        ({"endpoint": "s3.local", "encryption": "off"}, False),
        ({"endpoint": "s3.local"}, True),
        ({}, True),  # AWS with encryption on
        ({"encryption": "off"}, False),
        ({"endpoint": "http://127.0.0.1:9000", "http_proxy": "https://proxy:3128"}, True),
    ],
)
def test_certificate_checks_are_skipped_only_where_no_connection_uses_tls(options: dict[str, str], tls: bool) -> None:
    from gps3async.s3.client import _uses_tls

    assert _uses_tls(parse_config(config_with(**options))) is tls


def test_every_yaml_example_in_the_readme_is_a_valid_config() -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    examples = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    assert len(examples) >= 2
    for example in examples:
        environ = dict.fromkeys(re.findall(r"\$\{(\w+)\}", example), "value-from-the-environment")
        parse_config(example, "README.md", for_backup=True, environ=environ)


NO_KEYS = "".join(line for line in BASE.splitlines(keepends=True) if "aws_" not in line)


def test_credentials_from_environment_references() -> None:
    text = NO_KEYS + "  aws_access_key_id: ${BACKUP_KEY_ID}\n  aws_secret_access_key: ${BACKUP_SECRET}\n"
    text += "  aws_session_token: ${BACKUP_TOKEN}\n"
    environ = {"BACKUP_KEY_ID": "AKIAFROMENV", "BACKUP_SECRET": "env-secret-xyz", "BACKUP_TOKEN": "env-token-xyz"}
    config = parse_config(text, environ=environ)
    assert (config.access_key_id, config.secret_access_key, config.session_token) == (
        "AKIAFROMENV", "env-secret-xyz", "env-token-xyz"
    )  # fmt: skip
    assert config.credential_source == "environment (${BACKUP_KEY_ID}, ${BACKUP_SECRET}, ${BACKUP_TOKEN})"
    assert "env-secret-xyz" not in repr(config) and "env-token-xyz" not in repr(config)


def test_unset_reference_names_the_variable_never_a_value() -> None:
    text = NO_KEYS + "  aws_access_key_id: ${BACKUP_KEY_ID}\n  aws_secret_access_key: ${BACKUP_SECRET}\n"
    found = problems(text, environ={"BACKUP_KEY_ID": "AKIAFROMENV-visible-nowhere"})
    assert found == ["aws_secret_access_key refers to ${BACKUP_SECRET}, which is not set (or empty) in the environment"]
    with pytest.raises(ConfigError) as caught:
        parse_config(text, environ={"BACKUP_KEY_ID": "AKIAFROMENV-visible-nowhere", "BACKUP_SECRET": ""})
    assert "visible-nowhere" not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "problem"),
    [("${1BAD}", "is not a valid environment variable reference"), ("${UNCLOSED", "without its closing")],
)
def test_malformed_references(value: str, problem: str) -> None:
    text = NO_KEYS + f"  aws_access_key_id: id\n  aws_secret_access_key: {value}\n"
    assert any(problem in found for found in problems(text, environ={}))


def test_session_token_and_profile_rules() -> None:
    assert parse_config(config_with(aws_session_token="tok")).session_token == "tok"
    assert parse_config(BASE).credential_source == "config file"
    assert problems(NO_KEYS + "  aws_session_token: tok\n") == [
        "aws_session_token needs aws_access_key_id and aws_secret_access_key"
    ]
    profiled = parse_config(NO_KEYS + "  aws_profile: backup\n")
    assert (profiled.profile, profiled.credential_source, profiled.access_key_id) == ("backup", "profile 'backup'", "")
    assert "exclude each other" in problems(config_with(aws_profile="backup"))[0]
    assert parse_config(NO_KEYS).credential_source == "default chain"


def test_s3_options_are_read() -> None:
    config = parse_config(
        config_with(server_side_encryption="aws:kms", sse_kms_key_id="alias/backup", storage_class="STANDARD_IA",
                    ca_cert="/etc/ssl/minio.pem", addressing_style="virtual", logger_verbosity="debug")
    )  # fmt: skip
    assert (config.server_side_encryption, config.sse_kms_key_id, config.storage_class) == (
        "aws:kms", "alias/backup", "STANDARD_IA"
    )  # fmt: skip
    assert (config.ca_cert, config.tls_verify, config.addressing_style, config.logger_verbosity) == (
        "/etc/ssl/minio.pem", True, "virtual", "debug"
    )  # fmt: skip
    defaults = parse_config(BASE)
    assert (defaults.server_side_encryption, defaults.storage_class, defaults.addressing_style) == ("", "", "path")
    assert (defaults.tls_verify, defaults.logger_verbosity) == (True, "info")
    assert parse_config(config_with(server_side_encryption="aes256")).server_side_encryption == "AES256"
    assert parse_config(config_with(tls_verify="false")).tls_verify is False
    assert parse_config(config_with(tls_verify="off")).tls_verify is False


def test_store_modes_are_read() -> None:
    defaults = parse_config(BASE)
    assert (defaults.payload_signing, defaults.upload_checksum) == ("auto", "auto") and defaults.auto_modes
    config = parse_config(config_with(payload_signing="Signed", upload_checksum="MD5"))
    assert not config.auto_modes
    assert (config.store_modes.payload_signing, config.store_modes.upload_checksum) == ("signed", "md5")
    assert config.store_modes.signed
    assert parse_config(config_with(upload_checksum="crc32c")).auto_modes  # payload_signing still auto
    assert parse_config(config_with(upload_checksum="none")).upload_checksum == "none"


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"server_side_encryption": "aws:kms:dsse"}, "server_side_encryption must be one of AES256, aws:kms"),
        ({"sse_kms_key_id": "k"}, "sse_kms_key_id needs server_side_encryption: aws:kms"),
        ({"server_side_encryption": "AES256", "sse_kms_key_id": "k"}, "sse_kms_key_id needs"),
        ({"storage_class": "glacier ir"}, "storage_class must be an S3 storage class"),
        ({"tls_verify": "maybe"}, "tls_verify must be true or false"),
        ({"tls_verify": "false", "ca_cert": "/x.pem"}, "ca_cert has no effect with tls_verify: false"),
        ({"ca_cert": "certs/ca.pem"}, "ca_cert must be an absolute path"),
        ({"addressing_style": "auto"}, "addressing_style must be one of path, virtual"),
        ({"logger_verbosity": "loud"}, "logger_verbosity must be one of error, info, verbose, debug"),
        ({"payload_signing": "yes"}, "payload_signing must be one of auto, unsigned, signed, not 'yes'"),
        ({"upload_checksum": "sha256"}, "upload_checksum must be one of auto, crc32c, md5, none, not 'sha256'"),
    ],
)
def test_bad_s3_options(options: dict[str, str], problem: str) -> None:
    assert any(problem in found for found in problems(config_with(**options)))
