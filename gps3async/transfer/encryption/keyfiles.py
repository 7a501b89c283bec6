"""Reading key files (I/O): the part of a keyring that is not in the config.

Key files are read on every call that needs a key, never cached with the
parsed config: an agent stays up between calls, and a key file replaced while
it runs must take effect at the next call, like a changed config would.
Reading 65 bytes costs microseconds.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from ...core.encryption.keys import Keyring, SecretKey, keyring_of, parse_key_text
from ...core.errors import EncryptionKeyError

if TYPE_CHECKING:
    from ...core.encryption.keys import EncryptionSettings, KeySource

__all__ = ["load_keyring", "read_key_file"]

#: A key file holds 64 hex digits and a newline; anything much longer is not a key file.
_MAX_KEY_FILE = 4096


def read_key_file(path: str, option: str) -> SecretKey:
    """The key in ``path``, which must be a regular file only its owner may read or write.

    :raises EncryptionKeyError: naming the file and what is wrong, never its content.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        raise EncryptionKeyError(f"{option} {path}: cannot open it: {err.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise EncryptionKeyError(f"{option} {path} is not a regular file")
        if info.st_mode & 0o077:
            raise EncryptionKeyError(
                f"{option} {path} has mode {stat.S_IMODE(info.st_mode):04o}; it must be readable by its owner "
                "only (chmod 600)"
            )
        if info.st_uid != os.getuid():
            raise EncryptionKeyError(f"{option} {path} belongs to uid {info.st_uid}, not to this user")
        data = os.read(fd, _MAX_KEY_FILE + 1)
    except OSError as err:
        raise EncryptionKeyError(f"{option} {path}: cannot read it: {err.strerror}") from None
    finally:
        os.close(fd)
    key = parse_key_text(data.decode("ascii", "replace")) if len(data) <= _MAX_KEY_FILE else None
    if key is None:
        raise EncryptionKeyError(f"{option} {path} must hold 64 hexadecimal digits (a 256-bit key)")
    return key


def _key_of(source: KeySource, option: str) -> SecretKey:
    if source.key is not None:
        return source.key
    return read_key_file(source.path, option)


def load_keyring(settings: EncryptionSettings | None) -> Keyring | None:
    """The keys of ``settings`` (``None`` when encryption is off), key files read now.

    :raises EncryptionKeyError: when a key file cannot be used.
    """
    if settings is None:
        return None
    option = "encryption_key_file" if settings.current.path else "encryption_key"
    current = _key_of(settings.current, option)
    previous = [_key_of(source, "encryption_previous_keys") for source in settings.previous]
    return keyring_of(current, previous)
