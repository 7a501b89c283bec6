"""Where an agent lives and which agent a call belongs to (standard library only).

An agent is shared by the calls of one user on one host that would behave the
same: same plugin version and interpreter, same config file content, same
environment variables that can change the outcome (the AWS credential chain's,
HOME, TZ, proxies, CA bundles, Python's own).  All of that goes into one
digest, the agent's *identity*, which names its socket.  Two configs never
share an agent, and an upgraded plugin never talks to an old one.

Two keys gpbackup writes into its per-host copy of the config, ``pgport`` and
``backup_plugin_version``, change nothing the agent keeps (the S3 client), so
they are left out of the digest: otherwise every segment of a host would start
its own agent.  Each call still sends its whole config, and the agent parses
that, so those keys still reach the verbs.

The native client (``gps3async/native/place.c``) computes the identity and
checks the directory the same way, byte for byte: a change here is a change
there (tests/agent/test_native_client.py holds the two together).

The socket sits in a directory only the user can enter: ``$XDG_RUNTIME_DIR/
gps3async`` or else ``<tmp>/gps3async-<uid>``, created with mode 0700, and its
owner and mode are checked before every use.

This module uses the built-in ``posix`` and never ``os``: with ``python -S``
(the launcher, ``scripts/gpbackup_s3_plugin_python``) nothing has imported ``os`` yet,
and importing it (``_collections_abc``, ``stat``, ``posixpath``) would cost the
thin client about as many instructions as all the rest of its work.
"""

from __future__ import annotations

import posix
import sys

from .. import __version__

TYPE_CHECKING = False  # typing itself costs the thin client milliseconds at start-up
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["IDENTITY_ENV", "Place", "PlaceRefused", "agent_setting", "environment", "identity", "place_for"]

#: Bumped whenever the bytes between client and agent change.
PROTOCOL = 1
#: Environment variables whose value can change what a call does (prefixes end with ``_``).
IDENTITY_ENV = (
    "AWS_", "HOME", "TZ", "PYTHON",
    "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
)  # fmt: skip
#: Config keys gpbackup injects per segment that the agent's shared state does not depend on.
_PER_SEGMENT_KEYS = ("pgport:", "backup_plugin_version:")
#: sun_path is 108 bytes on Linux, including the terminating NUL.
_MAX_SOCKET_PATH = 107
#: ``stat.S_IFMT`` and ``stat.S_IFDIR``, without importing ``stat``.
_FILE_TYPE, _DIRECTORY = 0o170000, 0o040000


class PlaceRefused(Exception):
    """The socket directory cannot be trusted or used; the call runs in-process instead."""


class Place:
    """The files of one agent: its socket, the lock racing starters take, and its pid file."""

    __slots__ = ("directory", "identity", "lock", "pidfile", "socket")

    def __init__(self, directory: str, digest: str) -> None:
        self.directory = directory
        self.identity = digest
        stem = f"{directory}/{digest[:32]}"
        self.socket = stem + ".sock"
        self.lock = stem + ".lock"
        self.pidfile = stem + ".pid"


def relevant_environment(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    return sorted((name, value) for name, value in environ.items() if name.startswith(IDENTITY_ENV))


def referenced_variables(config_text: str) -> list[str]:
    """The names of the config's ``${NAME}`` references (credentials from the environment), without ``re``."""
    names: list[str] = []
    start = config_text.find("${")
    while start >= 0:
        end = config_text.find("}", start + 2)
        if end < 0:
            break
        names.append(config_text[start + 2 : end])
        start = config_text.find("${", end + 1)
    return sorted(set(names))


def identity(config_text: str, environ: Mapping[str, str]) -> str:
    """The hex digest naming the agent for this config content and environment."""
    try:
        from _blake2 import blake2b  # the C module: hashlib would load OpenSSL, about 14 ms
    except ImportError:  # pragma: no cover - interpreters built without it
        from hashlib import blake2b
    shared = "\n".join(line for line in config_text.splitlines() if not line.strip().startswith(_PER_SEGMENT_KEYS))
    material = [str(PROTOCOL), __version__, sys.executable, sys.version, str(posix.getuid()), shared]
    material += [f"{name}={value}" for name, value in relevant_environment(environ)]
    # An agent expands ${NAME} from the environment it was started in: another value needs another agent.
    material += [f"${{{name}}}={environ.get(name, '')}" for name in referenced_variables(shared)]
    return blake2b("\0".join(material).encode("utf-8", "surrogateescape"), digest_size=20).hexdigest()


def agent_setting(config_text: str) -> str:
    """The config's ``agent`` option as written (``""`` when absent), read without a YAML parser.

    The thin client cannot afford PyYAML at start-up.  Anything it cannot read
    plainly as ``on``/``off`` is returned as is, and the caller runs the call
    in-process, where the full parser reports a bad value.
    """
    for line in config_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("agent:"):
            value = stripped[len("agent:") :].split(" #", 1)[0].strip()
            return value.strip("\"'").lower()
    return ""


def environment() -> dict[str, str]:
    """This process's environment as text, as ``os.environ`` would give it, without importing ``os``."""
    encoding = sys.getfilesystemencoding()
    return {
        name.decode(encoding, "surrogateescape"): value.decode(encoding, "surrogateescape")
        for name, value in posix.environ.items()
    }


def _is_directory(path: str) -> bool:
    try:
        return posix.stat(path).st_mode & _FILE_TYPE == _DIRECTORY
    except (OSError, ValueError):
        return False


def _checked_directory(path: str) -> str:
    uid = posix.getuid()
    try:
        posix.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as err:
        raise PlaceRefused(f"cannot create {path}: {err.strerror}") from None
    try:
        info = posix.lstat(path)
    except OSError as err:
        raise PlaceRefused(f"cannot inspect {path}: {err.strerror}") from None
    if info.st_mode & _FILE_TYPE != _DIRECTORY:
        raise PlaceRefused(f"{path} is not a directory")
    if info.st_uid != uid:
        raise PlaceRefused(f"{path} belongs to uid {info.st_uid}, not to this user (uid {uid})")
    if info.st_mode & 0o077:
        raise PlaceRefused(f"{path} has mode {info.st_mode & 0o7777:o}; only its owner may enter it (0700)")
    return path


def socket_directory(environ: Mapping[str, str]) -> str:
    """The directory for this user's agent sockets, created 0700 and checked.

    :raises PlaceRefused: when it exists with another owner or a looser mode.
    """
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    if runtime.startswith("/") and _is_directory(runtime):
        return _checked_directory(runtime.rstrip("/") + "/gps3async")
    temp = environ.get("TMPDIR", "")
    base = temp.rstrip("/") if temp.startswith("/") and _is_directory(temp) else "/tmp"
    return _checked_directory(f"{base}/gps3async-{posix.getuid()}")


def place_for(config_text: str, environ: Mapping[str, str]) -> Place:
    """The agent place of a call with this config content in this environment.

    :raises PlaceRefused: when the directory is unusable or the socket path too long.
    """
    place = Place(socket_directory(environ), identity(config_text, environ))
    if len(place.socket.encode()) > _MAX_SOCKET_PATH:
        raise PlaceRefused(f"socket path {place.socket} is longer than a Unix socket allows")
    return place
