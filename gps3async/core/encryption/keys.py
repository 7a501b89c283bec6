"""Client-side encryption options and keys (pure: the key files are read by :mod:`.keyfiles`).

Rules: ``client_side_encryption: aes-256-gcm`` turns encryption on; its key is
``encryption_key: ${NAME}`` (an environment variable) or ``encryption_key_file:
/abs/path`` (a file only its owner may read), never the key itself, because
gpbackup copies the config into the bucket.  ``encryption_previous_keys`` lists
older keys (references or absolute paths, separated by commas or spaces) that
restores may still use after a rotation.  A key is 64 hexadecimal digits.

No message here ever holds a key: problems name the option and the variable.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..credentials import expand_references
from ..errors import EncryptionKeyError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CIPHERS",
    "ENCRYPTION_KEYS",
    "EncryptionSettings",
    "KeySource",
    "Keyring",
    "SecretKey",
    "fingerprint_of",
    "parse_encryption_options",
    "parse_key_text",
]

#: ``client_side_encryption`` values; ``off`` (the default) writes plaintext as before.
CIPHERS = ("off", "aes-256-gcm")
#: The options this module reads.
ENCRYPTION_KEYS = ("client_side_encryption", "encryption_key", "encryption_key_file", "encryption_previous_keys")
_HEX_KEY = re.compile(r"[0-9A-Fa-f]{64}")
_ONE_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
FINGERPRINT_SIZE = 16
_FINGERPRINT_INFO = b"gps3async/aes-256-gcm/v1/key-fingerprint"


def fingerprint_of(key: bytes) -> bytes:
    """A key's 16-byte fingerprint: HMAC-SHA256 of a fixed label under the key (reveals nothing of it)."""
    return hmac.digest(key, _FINGERPRINT_INFO, "sha256")[:FINGERPRINT_SIZE]


class SecretKey:
    """256 bits of key; ``repr`` and ``str`` show its fingerprint only."""

    __slots__ = ("fingerprint", "material")

    def __init__(self, material: bytes) -> None:
        self.material = material
        self.fingerprint = fingerprint_of(material)

    def __repr__(self) -> str:
        return f"SecretKey(fingerprint={self.fingerprint.hex()})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretKey) and other.fingerprint == self.fingerprint

    def __hash__(self) -> int:
        return hash(self.fingerprint)


def parse_key_text(text: str) -> SecretKey | None:
    """A key from its 64 hex digits (surrounding white space ignored); ``None`` if it is not that."""
    stripped = text.strip()
    return SecretKey(bytes.fromhex(stripped)) if _HEX_KEY.fullmatch(stripped) else None


@dataclass(frozen=True)
class KeySource:
    """Where one key comes from: an environment variable (resolved when the config is read) or a file."""

    #: For people: ``${NAME}`` or the file's path.
    label: str
    key: SecretKey | None = field(default=None, repr=False)
    path: str = ""


@dataclass(frozen=True)
class EncryptionSettings:
    """What the config says about client-side encryption (key files not yet read)."""

    current: KeySource
    previous: tuple[KeySource, ...] = ()
    cipher: str = "aes-256-gcm"


@dataclass(frozen=True)
class Keyring:
    """The key new objects are sealed with, and every key a restore may open objects with."""

    current: SecretKey | None
    known: tuple[SecretKey, ...] = ()

    def find(self, fingerprint: bytes) -> SecretKey | None:
        for key in self.known:
            if key.fingerprint == fingerprint:
                return key
        return None

    def describe(self) -> str:
        """The fingerprints it holds, for a wrong-key message (never the keys)."""
        return ", ".join(short(key.fingerprint) for key in self.known) or "none"


def short(fingerprint: bytes) -> str:
    """A fingerprint as people see it: the first 8 bytes in hex."""
    return fingerprint[:8].hex()


def _source(option: str, text: str, environ: Mapping[str, str], problems: list[str]) -> KeySource | None:
    """One key entry: a single ``${NAME}`` reference, or an absolute path when ``option`` allows files."""
    if _ONE_REFERENCE.fullmatch(text):
        expanded, _ = expand_references(option, text, environ, problems)
        if not expanded:
            return None
        key = parse_key_text(expanded)
        if key is None:
            problems.append(f"{option}: {text} must hold 64 hexadecimal digits (a 256-bit key)")
            return None
        return KeySource(text, key)
    if option != "encryption_key" and text.startswith("/"):
        return KeySource(text, path=text)
    if option == "encryption_key":
        problems.append(
            "encryption_key must be a ${NAME} reference to an environment variable, never the key itself "
            "(gpbackup copies this file into the bucket); or use encryption_key_file"
        )
    elif option == "encryption_key_file":
        problems.append("encryption_key_file must be an absolute path")
    else:
        problems.append(
            f"{option}: each entry must be a ${{NAME}} reference or an absolute path to a key file "
            "(never a key itself: gpbackup copies this file into the bucket)"
        )
    return None


def parse_encryption_options(
    options: Mapping[str, str], environ: Mapping[str, str], problems: list[str]
) -> EncryptionSettings | None:
    """The encryption settings ``options`` ask for (``None``: off); problems go to ``problems``."""
    cipher = options.get("client_side_encryption", "").strip().lower() or "off"
    if cipher not in CIPHERS:
        problems.append(f"client_side_encryption must be one of {', '.join(CIPHERS)}, not {cipher!r}")
        return None
    given = [key for key in ENCRYPTION_KEYS[1:] if options.get(key, "").strip()]
    if cipher == "off":
        for key in given:
            problems.append(f"{key} needs client_side_encryption: aes-256-gcm")
        return None
    inline, path = options.get("encryption_key", "").strip(), options.get("encryption_key_file", "").strip()
    if bool(inline) == bool(path):
        problems.append("client_side_encryption needs exactly one of encryption_key (${NAME}) or encryption_key_file")
        return None
    current = _source("encryption_key" if inline else "encryption_key_file", inline or path, environ, problems)
    previous: list[KeySource] = []
    for entry in re.split(r"[\s,]+", options.get("encryption_previous_keys", "").strip()):
        if entry:
            found = _source("encryption_previous_keys", entry, environ, problems)
            if found is not None:
                previous.append(found)
    if current is None:
        return None
    return EncryptionSettings(current, tuple(previous), cipher)


def keyring_of(current: SecretKey, previous: list[SecretKey]) -> Keyring:
    """The keyring of a current key and its predecessors (the current one is tried first)."""
    return Keyring(current, (current, *previous))


def no_key(where: str, fingerprint: bytes, keyring: Keyring | None) -> EncryptionKeyError:
    """The one line for an object no configured key opens."""
    if keyring is None:
        return EncryptionKeyError(
            f"{where} is encrypted (key fingerprint {short(fingerprint)}) and this config sets no "
            "client_side_encryption key; configure the key it was written with"
        )
    return EncryptionKeyError(
        f"{where} was encrypted with another key (fingerprint {short(fingerprint)}); the configured keys have "
        f"fingerprints {keyring.describe()} (add the old key to encryption_previous_keys after a rotation)"
    )
