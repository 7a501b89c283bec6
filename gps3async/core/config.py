"""The plugin's settings: what a config says, once read and checked (pure, no I/O).

:class:`PluginConfig` holds every option with its default; sizes use binary
multiples (``5MB`` is 5 MiB, :func:`parse_byte_size`).  Reading and checking
the YAML file is :mod:`gps3async.core.configfile`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .objectlock import LockSettings
from .storemodes.settings import StoreModes

if TYPE_CHECKING:
    from .encryption.keys import EncryptionSettings

__all__ = [
    "DEFAULT_AGENT_IDLE_TIMEOUT",
    "DEFAULT_CHUNKSIZE",
    "DEFAULT_CONCURRENCY",
    "LOGGER_VERBOSITIES",
    "MIN_PART_SIZE",
    "PluginConfig",
    "parse_byte_size",
]

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
#: S3 refuses non-final multipart parts smaller than this.
MIN_PART_SIZE = 5 * MIB
#: S3 refuses parts larger than this.
MAX_PART_SIZE = 5 * GIB
#: Per-process defaults, sized for a host running 8+ segment processes at once
#: (see README "Choosing chunk size and concurrency").
DEFAULT_CHUNKSIZE = 16 * MIB
DEFAULT_CONCURRENCY = 4
DEFAULT_AGENT_IDLE_TIMEOUT = 30.0
#: The lowest host_upload_limit / host_download_limit: below it a 5 MiB part takes over a minute.
MIN_RATE = 64 * KIB

_UNITS = {
    "": 1, "B": 1,
    "K": KIB, "KB": KIB, "KIB": KIB,
    "M": MIB, "MB": MIB, "MIB": MIB,
    "G": GIB, "GB": GIB, "GIB": GIB,
    "T": 1024 * GIB, "TB": 1024 * GIB, "TIB": 1024 * GIB,
}  # fmt: skip
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
#: ``logger_verbosity`` values, as the Greengage fork of the Go plugin defines them.
LOGGER_VERBOSITIES = ("error", "info", "verbose", "debug")


def parse_byte_size(text: str) -> int:
    """``"500MB"`` -> 524288000.  Units are binary multiples, case-insensitive.

    :raises ValueError: on anything that is not a number with an optional unit.
    """
    match = _SIZE_RE.match(text)
    if match is None or match.group(2).upper() not in _UNITS:
        raise ValueError(f"{text!r} is not a byte size such as 16MB or 1GB")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


@dataclass(frozen=True)
class PluginConfig:
    """A validated config.  ``secret_access_key`` never appears in ``repr``."""

    executable_path: str
    bucket: str
    folder: str
    region: str = ""
    endpoint: str = ""
    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)
    session_token: str = field(default="", repr=False)
    #: A named profile of the AWS shared files (``aws_profile``); empty: static keys or the default chain.
    profile: str = ""
    #: Where the credentials come from, for people (never a value): see :mod:`gps3async.core.credentials`.
    credential_source: str = "default chain"
    #: Secret options written in the config, not referenced: gpbackup copies them (:mod:`gps3async.core.configcopy`).
    literal_secrets: tuple[str, ...] = ()
    encryption: bool = True
    http_proxy: str = ""
    remove_duplicate_bucket: bool = False
    restore_subset: bool = False
    backup_chunksize: int = DEFAULT_CHUNKSIZE
    backup_concurrency: int = DEFAULT_CONCURRENCY
    restore_chunksize: int = DEFAULT_CHUNKSIZE
    restore_concurrency: int = DEFAULT_CONCURRENCY
    max_attempts: int = 5
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    #: Serve calls from a per-host agent process (see :mod:`gps3async.agent`).
    agent: bool = True
    #: Seconds an agent with no call in progress waits for the next one before it exits.
    agent_idle_timeout: float = DEFAULT_AGENT_IDLE_TIMEOUT
    #: Bytes of part buffers all streams of one agent may hold together; ``None``: no host-wide limit.
    host_memory_limit: int | None = None
    #: Bytes per second all uploads of one agent may send together (``None``: no limit); in-process, one stream's.
    host_upload_limit: int | None = None
    #: Bytes per second all downloads of one agent may receive together (``None``: no limit).
    host_download_limit: int | None = None
    #: ``AES256``, ``aws:kms`` or empty (the bucket's default encryption applies).
    server_side_encryption: str = ""
    sse_kms_key_id: str = ""
    #: S3 storage class of data objects; empty: the bucket's default (STANDARD on AWS).
    storage_class: str = ""
    #: A PEM bundle of CA certificates to verify the endpoint's TLS certificate with.
    ca_cert: str = ""
    tls_verify: bool = True
    #: ``path`` (like the Go plugin) or ``virtual`` (bucket in the host name).
    addressing_style: str = "path"
    #: One of :data:`LOGGER_VERBOSITIES`; see :func:`gps3async.runtime.logs.log_level`.
    logger_verbosity: str = "info"
    #: ``auto``, ``unsigned`` or ``signed``: see :mod:`gps3async.core.storemodes`.
    payload_signing: str = "auto"
    #: ``auto``, ``crc32c``, ``md5`` or ``none``: see :mod:`gps3async.core.storemodes`.
    upload_checksum: str = "auto"
    #: Client-side encryption (``client_side_encryption``); ``None``: off. See :mod:`gps3async.core.encryption`.
    client_encryption: EncryptionSettings | None = field(default=None, repr=False)
    #: S3 Object Lock of every object a backup writes, and deletes past governance: :mod:`gps3async.core.objectlock`.
    object_lock: LockSettings = field(default_factory=LockSettings)

    @property
    def store_modes(self) -> StoreModes:
        """The configured modes, ``auto`` included (the client's own, chosen: :mod:`gps3async.s3.storemodes.probe`)."""
        return StoreModes(self.payload_signing, self.upload_checksum)

    @property
    def exposed_secrets(self) -> tuple[str, ...]:
        """Literal secrets gpbackup's copies of this config carry readable (client-side encryption seals them)."""
        return self.literal_secrets if self.client_encryption is None else ()

    @property
    def auto_modes(self) -> bool:
        """Whether the plugin picks a mode (either option ``auto``)."""
        return "auto" in (self.payload_signing, self.upload_checksum)

    @property
    def endpoint_url(self) -> str | None:
        """The endpoint with a scheme; ``encryption`` picks one only when it is missing."""
        if not self.endpoint:
            return None
        if "://" in self.endpoint:
            return self.endpoint
        return ("https://" if self.encryption else "http://") + self.endpoint
