"""The plugin config file: reading and checking it (pure, no I/O but one read).

Rules follow the Go ``gpbackup_s3_plugin`` so the same YAML works with both:
``executablepath``, ``bucket`` and ``folder`` are required; ``region`` or
``endpoint`` is required; the key pair is all-or-nothing; ``encryption`` is
``on``/``off``; sizes use binary multiples (``5MB`` is 5 MiB).  Every problem
in a file is collected and reported together.  Credentials may be
``${NAME}`` references to the environment (:mod:`gps3async.core.credentials`).

Scalars are read as strings, as the Go plugin's ``map[string]string`` does, so
``encryption: on`` means the text ``on`` and not YAML 1.1's boolean.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .config import (
    DEFAULT_AGENT_IDLE_TIMEOUT,
    DEFAULT_CHUNKSIZE,
    DEFAULT_CONCURRENCY,
    LOGGER_VERBOSITIES,
    MAX_PART_SIZE,
    MIB,
    MIN_PART_SIZE,
    MIN_RATE,
    PluginConfig,
    parse_byte_size,
)
from .configcopy import literal_secret_options
from .credentials import resolve_credentials
from .encryption.keys import ENCRYPTION_KEYS, parse_encryption_options
from .errors import ConfigError
from .objectlock import LOCK_KEYS, parse_lock_options
from .storemodes.settings import PAYLOAD_SIGNINGS, UPLOAD_CHECKSUMS

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["load_config", "parse_config"]

_TOP_KEYS = ("executablepath", "options")
_PLUGIN_KEYS = (
    "region", "endpoint", "aws_access_key_id", "aws_secret_access_key", "bucket",
    "folder", "encryption", "http_proxy", "remove_duplicate_bucket",
    "backup_max_concurrent_requests", "backup_multipart_chunksize",
    "restore_max_concurrent_requests", "restore_multipart_chunksize",
    "max_attempts", "connect_timeout", "read_timeout",
    "agent", "agent_idle_timeout", "host_memory_limit", "host_upload_limit", "host_download_limit",
    "aws_session_token", "aws_profile", "server_side_encryption", "sse_kms_key_id", "storage_class",
    "ca_cert", "tls_verify", "addressing_style", "logger_verbosity",
    "payload_signing", "upload_checksum",
    *ENCRYPTION_KEYS, *LOCK_KEYS,
)  # fmt: skip
#: Keys gpbackup, gprestore or their forks add to the copy of the config.
_INJECTED_KEYS = (
    "pgport", "backup_plugin_version", "restore_subset",
    "gpbackup_s3_plugin", "s3_plugin",
)  # fmt: skip
_SSE_MODES = ("AES256", "aws:kms")
#: A storage class is an S3 enum; S3-compatible stores add their own (Ceph), so only the spelling is checked.
_STORAGE_CLASS = re.compile(r"^[A-Z][A-Z0-9_]*$")


class _StringLoader(yaml.SafeLoader):
    """A safe loader that keeps every scalar as text, as the Go plugin does."""


_StringLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag == "tag:yaml.org,2002:null"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _nearest(key: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.5)
    return f" (did you mean {close[0]}?)" if close else ""


class _Checker:
    """Collects problems while converting option strings to typed values."""

    def __init__(self, options: dict[str, str]) -> None:
        self.options = options
        self.problems: list[str] = []

    def text(self, key: str) -> str:
        return self.options.get(key, "")

    def choice(self, key: str, default: str, allowed: tuple[str, str]) -> bool:
        value = self.text(key) or default
        if value.lower() not in allowed:
            self.problems.append(f"{key} must be {allowed[0]} or {allowed[1]}, not {value!r}")
        return value.lower() == allowed[0]

    def flag(self, key: str, default: bool) -> bool:
        """A yes/no option spelt ``true``/``false`` or ``on``/``off``."""
        value = self.text(key).lower()
        if not value:
            return default
        if value not in ("true", "false", "on", "off"):
            self.problems.append(f"{key} must be true or false, not {self.text(key)!r}")
            return default
        return value in ("true", "on")

    def one_of(self, key: str, default: str, allowed: tuple[str, ...]) -> str:
        """A value from ``allowed`` (matched without regard to case), spelt as in ``allowed``."""
        value = self.text(key)
        if not value:
            return default
        for spelling in allowed:
            if value.lower() == spelling.lower():
                return spelling
        self.problems.append(f"{key} must be one of {', '.join(allowed)}, not {value!r}")
        return default

    def _byte_size(self, key: str) -> int | None:
        """The option as a byte count; ``None`` when unset or not a size (the latter recorded)."""
        raw = self.text(key)
        if not raw:
            return None
        try:
            return parse_byte_size(raw)
        except ValueError as err:
            self.problems.append(f"{key}: {err}")
            return None

    def memory_limit(self, key: str) -> int | None:
        value = self._byte_size(key)
        if value is not None and value < 2 * MIN_PART_SIZE:
            self.problems.append(f"{key} is {self.text(key)}; it must be at least 10MB (two parts of S3's 5MB minimum)")
        return value

    def rate_limit(self, key: str) -> int | None:
        """A byte rate (bytes per second, in the units of sizes); ``None`` when unset or invalid (recorded)."""
        raw = self.text(key)
        if not raw:
            return None
        try:
            value = parse_byte_size(raw)
        except ValueError:
            value = 0
        if value < MIN_RATE:
            self.problems.append(f"{key} must be a rate of at least 64KB (bytes per second) such as 200MB, not {raw!r}")
            return None
        return value

    def size(self, key: str, default: int, minimum: int) -> int:
        value = self._byte_size(key)
        if value is None:
            return default
        raw = self.text(key)
        if not minimum <= value <= MAX_PART_SIZE:
            self.problems.append(
                f"{key} is {raw}; it must be between {_human(minimum)} and 5GB"
                + (" (S3's multipart part limits)" if minimum == MIN_PART_SIZE else "")
            )
        return value

    def number(self, key: str, default: float, *, integer: bool) -> Any:
        raw = self.text(key)
        if not raw:
            return default
        try:
            value = int(raw) if integer else float(raw)
        except ValueError:
            value = 0
        if value <= 0:
            kind = "a positive integer" if integer else "a positive number"
            self.problems.append(f"{key} must be {kind}, not {raw!r}")
            return default
        return value


def _human(size: int) -> str:
    return f"{size // MIB}MB" if size >= MIB and size % MIB == 0 else f"{size}B"


def _as_options(document: Any, problems: list[str]) -> tuple[str, dict[str, str]]:
    if not isinstance(document, dict):
        problems.append("the file must be a YAML mapping with executablepath and options")
        return "", {}
    for key in document:
        if key not in _TOP_KEYS:
            problems.append(f"unknown top-level key {key!r}{_nearest(str(key), _TOP_KEYS)}")
    raw = document.get("options") or {}
    if not isinstance(raw, dict):
        problems.append("options must be a mapping of option names to values")
        raw = {}
    options: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, (dict, list)):
            problems.append(f"option {key} must be a single value")
            continue
        options[str(key)] = "" if value is None else str(value).strip()
    return str(document.get("executablepath") or ""), options


def _s3_options(check: _Checker) -> dict[str, Any]:
    """The S3 request options: encryption at rest, storage class, TLS, addressing, log verbosity, store modes."""
    sse = check.one_of("server_side_encryption", "", _SSE_MODES)
    kms_key = check.text("sse_kms_key_id")
    if kms_key and sse != "aws:kms":
        check.problems.append("sse_kms_key_id needs server_side_encryption: aws:kms")
    storage_class = check.text("storage_class")
    if storage_class and not _STORAGE_CLASS.match(storage_class):
        check.problems.append(f"storage_class must be an S3 storage class such as STANDARD_IA, not {storage_class!r}")
    tls_verify = check.flag("tls_verify", True)
    if check.text("ca_cert") and not check.text("ca_cert").startswith("/"):
        check.problems.append("ca_cert must be an absolute path: gpbackup runs the plugin from other directories")
    if check.text("ca_cert") and not tls_verify:
        check.problems.append("ca_cert has no effect with tls_verify: false; remove one of them")
    return {
        "server_side_encryption": sse,
        "sse_kms_key_id": kms_key,
        "storage_class": storage_class,
        "ca_cert": check.text("ca_cert"),
        "tls_verify": tls_verify,
        "addressing_style": check.one_of("addressing_style", "path", ("path", "virtual")),
        "logger_verbosity": check.one_of("logger_verbosity", "info", LOGGER_VERBOSITIES),
        "payload_signing": check.one_of("payload_signing", "auto", ("auto", *PAYLOAD_SIGNINGS)),
        "upload_checksum": check.one_of("upload_checksum", "auto", ("auto", *UPLOAD_CHECKSUMS)),
    }


def parse_config(
    text: str, source: str = "<config>", *, for_backup: bool = False, environ: Mapping[str, str] | None = None
) -> PluginConfig:
    """Validate config ``text``; ``for_backup`` also enforces S3's 5 MiB part minimum.

    ``${NAME}`` in credential values is expanded from ``environ`` (default: this
    process's environment; the agent passes its caller's).

    :raises ConfigError: listing every problem found.
    """
    problems: list[str] = []
    try:
        document = yaml.load(text, Loader=_StringLoader)
    except yaml.YAMLError as err:
        raise ConfigError(source, [f"not valid YAML: {' '.join(str(err).split())}"]) from None
    executable, options = _as_options(document, problems)
    for key in options:
        if key not in _PLUGIN_KEYS and key not in _INJECTED_KEYS:
            problems.append(f"unknown option {key!r}{_nearest(key, _PLUGIN_KEYS)}")
    check = _Checker(options)
    if not executable:
        problems.append("executablepath must be set to the plugin's absolute path")
    for required in ("bucket", "folder"):
        if not check.text(required):
            problems.append(f"{required} must be set and not empty")
    if not check.text("region") and not check.text("endpoint"):
        problems.append("region or endpoint must be set")
    credentials = resolve_credentials(options, os.environ if environ is None else environ, problems)
    config = PluginConfig(
        executable_path=executable,
        bucket=check.text("bucket"),
        folder=check.text("folder"),  # verbatim, as the Go plugin builds keys
        region=check.text("region"),
        endpoint=check.text("endpoint").rstrip("/"),
        access_key_id=credentials.access_key_id,
        secret_access_key=credentials.secret_access_key,
        session_token=credentials.session_token,
        profile=credentials.profile,
        credential_source=credentials.source,
        literal_secrets=literal_secret_options(options),
        encryption=check.choice("encryption", "on", ("on", "off")),
        http_proxy=check.text("http_proxy"),
        remove_duplicate_bucket=check.choice("remove_duplicate_bucket", "false", ("true", "false")),
        restore_subset=check.choice("restore_subset", "off", ("on", "off")),
        backup_chunksize=check.size(
            "backup_multipart_chunksize", DEFAULT_CHUNKSIZE, MIN_PART_SIZE if for_backup else 1
        ),
        backup_concurrency=check.number("backup_max_concurrent_requests", DEFAULT_CONCURRENCY, integer=True),
        restore_chunksize=check.size("restore_multipart_chunksize", DEFAULT_CHUNKSIZE, 1),
        restore_concurrency=check.number("restore_max_concurrent_requests", DEFAULT_CONCURRENCY, integer=True),
        max_attempts=check.number("max_attempts", 5, integer=True),
        connect_timeout=check.number("connect_timeout", 10.0, integer=False),
        read_timeout=check.number("read_timeout", 60.0, integer=False),
        agent=check.choice("agent", "on", ("on", "off")),
        agent_idle_timeout=check.number("agent_idle_timeout", DEFAULT_AGENT_IDLE_TIMEOUT, integer=False),
        host_memory_limit=check.memory_limit("host_memory_limit"),
        client_encryption=parse_encryption_options(options, os.environ if environ is None else environ, problems),
        host_upload_limit=check.rate_limit("host_upload_limit"),
        host_download_limit=check.rate_limit("host_download_limit"),
        object_lock=parse_lock_options(options, problems),
        **_s3_options(check),
    )
    problems.extend(check.problems)
    if problems:
        raise ConfigError(source, problems)
    return config


def load_config(
    path: str, *, for_backup: bool = False, source: str | None = None, environ: Mapping[str, str] | None = None
) -> PluginConfig:
    """Read and validate the config file at ``path`` (named ``source`` in messages, default ``path``).

    :raises ConfigError: when the file cannot be read or is invalid.
    """
    source = source or path
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(source, [f"cannot read it: {err.strerror or err}"]) from None
    except UnicodeDecodeError:
        raise ConfigError(source, ["cannot read it: not UTF-8 text"]) from None
    return parse_config(text, source, for_backup=for_backup, environ=environ)
