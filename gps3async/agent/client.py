"""The Python thin client: ``gpbackup_s3_plugin_python`` (standard library only on the fast path).

Where the install compiled it, ``gpbackup_s3_plugin`` is the native client
(``gps3async/native/client.c``), which does this module's fast path in C and
execs this client for every call it cannot hand over; elsewhere this is
``gpbackup_s3_plugin`` itself.

Each plugin call gpbackup makes starts this module.  It answers the two
constant verbs and the usage page (``--help``) itself; for the others it finds
the agent for the call's config (:mod:`.place`), starting one if none answers,
hands it argv, the working directory and its stdin, stdout and stderr
descriptors (:mod:`.wire`), forwards SIGINT and SIGTERM, and exits with the
agent's exit code.  The agent writes the call's data and its one stderr line
to those descriptors itself.

When no agent may or can serve the call, and nothing has been touched yet, the
call runs in this process instead (:func:`gps3async.cli.main`), as before the
agent existed, and the log says why.  Once the agent has accepted a call, the
client never runs it again: stdin may already be consumed, so an agent that
dies mid-call is a failure, reported in one line.

Every import here is paid by every call.  The launcher
(``scripts/gpbackup_s3_plugin_python``) starts the interpreter with ``-I -S``, so
nothing beyond the interpreter's own bootstrap is loaded when this module
starts: ``socket`` would cost several milliseconds (it pulls in ``enum`` and
``selectors``) where the built-in ``_socket`` has all this needs, and ``os``
(``_collections_abc``, ``stat``, ``posixpath``) about as much as the rest of the
call, where the built-in ``posix`` has every function this uses.  Check with
``python -I -S -X importtime``.  A call that runs in-process first runs the
``site`` the launcher skipped, and pays the full start-up.
"""

from __future__ import annotations

import _socket
import posix
import sys
import time

from .. import API_VERSION, __version__
from ..verbs import HELP, VERBS
from . import wire
from .place import PROTOCOL, Place, PlaceRefused, agent_setting, environment, place_for

__all__ = ["main", "main_exit"]

PROGRAM = "gpbackup_s3_plugin"
#: How long a new agent may take to import, listen and say it is ready.
START_TIMEOUT = 20.0
#: How long to wait for another client that is starting the same agent.
LOCK_TIMEOUT = 30.0
_SIGINT, _SIGTERM = 2, 15
_FORWARDED = (_SIGINT, _SIGTERM)


class _RunHere(Exception):
    """The call must run in-process; ``str()`` is the reason for the log ("" when there is none worth logging)."""


def _write(fd: int, text: str) -> None:
    data = text.encode()
    while data:
        data = data[posix.write(fd, data) :]


def _in_process(argv: list[str], why: str) -> int:
    if "site" not in sys.modules:  # started with -S by the launcher: the full plugin needs site-packages
        import site

        site.main()
    from ..cli import main as run_here

    return run_here(argv, why=why or None)


def _read_config(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        raise _RunHere("") from None  # the in-process path reports the config error properly


def _umask() -> int:
    mask = posix.umask(0o022)  # reading the umask means setting it
    posix.umask(mask)
    return mask


def _route(verb: str, args: list[str]) -> tuple[Place, bytes]:
    """The agent place and the request for this call, or :class:`_RunHere`."""
    spec = VERBS.get(verb)
    if spec is None or not spec.accepts(args):
        raise _RunHere("")  # a usage error, reported in-process
    text = _read_config(args[0])
    setting = agent_setting(text)
    if setting == "off":
        raise _RunHere("")
    if setting not in ("", "on"):
        raise _RunHere("")  # an invalid value, reported in-process
    try:
        place = place_for(text, environment())
    except PlaceRefused as refused:
        raise _RunHere(f"no agent: {refused}") from None
    request = wire.encode_request(
        {
            "protocol": PROTOCOL,
            "identity": place.identity,
            "argv": [verb, *args],
            "cwd": posix.getcwd(),
            "pid": posix.getpid(),
            "umask": _umask(),
            "config": text,
            "client": "Python",
        }
    )
    return place, request


def _connect(path: str) -> _socket.socket | None:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:  # missing (no agent), refused (a stale socket of a dead one), ...
        sock.close()
        return None
    return sock


def _standard_fds() -> list[int]:
    """stdin, stdout and stderr as the agent should see them; a closed one becomes /dev/null."""
    fds = []
    for fd, mode in ((0, posix.O_RDONLY), (1, posix.O_WRONLY), (2, posix.O_WRONLY)):
        try:
            posix.fstat(fd)
        except OSError:
            fd = posix.open("/dev/null", mode | posix.O_CLOEXEC)
        fds.append(fd)
    return fds


def _receive_exactly(sock: _socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        piece = sock.recv(count - len(data))
        if not piece:
            raise EOFError
        data += piece
    return data


def _try_lock(fd: int) -> bool:
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _lock(path: str) -> int:
    """Take the starters' lock for one agent; another client may be starting it right now."""
    fd = posix.open(path, posix.O_RDWR | posix.O_CREAT | posix.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + LOCK_TIMEOUT
    while not _try_lock(fd):
        if time.monotonic() > deadline:
            posix.close(fd)
            raise _RunHere(f"no agent: another call held {path} for {LOCK_TIMEOUT:.0f} s")
        time.sleep(0.01)
    return fd


def _spawn(place: Place) -> int:
    """Start the agent fully detached; return the read end of the pipe it reports readiness on.

    Double fork and ``setsid``: the agent is nobody's child and has no
    controlling terminal.  Its stdio is /dev/null and every other inherited
    descriptor is closed, above all this call's stdout and stderr: gpbackup and
    gpbackup_helper wait for EOF on the plugin's pipes, and one stray copy kept
    by the agent would hang a backup.
    """
    ready_read, ready_write = posix.pipe()
    # An isolated client (the deployed launcher runs ``python -I``, see gps3async.deploy) starts an
    # isolated agent: the PYTHONHOME/PYTHONPATH greenplum_path.sh exports would break or hijack it.
    isolation = ["-I"] if sys.flags.isolated else []
    argv = [sys.executable, *isolation, "-m", "gps3async.agent", "--socket", place.socket, "--identity", place.identity,
            "--ready-fd", str(ready_write)]  # fmt: skip
    pid = posix.fork()
    if pid == 0:  # pragma: no cover - runs in the forked child
        try:
            posix.setsid()
            if posix.fork() != 0:
                posix._exit(0)
            null = posix.open("/dev/null", posix.O_RDWR)
            for fd in (0, 1, 2):
                posix.dup2(null, fd)
            posix.set_inheritable(ready_write, True)
            posix.closerange(3, ready_write)
            posix.closerange(ready_write + 1, 1 << 20)
            posix.chdir("/")
            posix.execv(sys.executable, argv)
        finally:
            posix._exit(127)
    posix.close(ready_write)
    posix.waitpid(pid, 0)
    return ready_read


def _wait_ready(ready: int) -> bool:
    """Whether the agent said it is listening before :data:`START_TIMEOUT` (EOF means it died)."""
    import select

    try:
        readable, _, _ = select.select([ready], [], [], START_TIMEOUT)
        return bool(readable) and posix.read(ready, 1) == b"1"
    finally:
        posix.close(ready)


def _start_agent(place: Place) -> _socket.socket:
    lock = _lock(place.lock)
    try:
        sock = _connect(place.socket)  # another caller may have started it while we waited
        if sock is not None:
            return sock
        if not _wait_ready(_spawn(place)):
            raise _RunHere(f"no agent: a new agent did not report ready within {START_TIMEOUT:.0f} s")
        sock = _connect(place.socket)
        if sock is None:
            raise _RunHere("no agent: the new agent's socket did not answer")
        return sock
    finally:
        posix.close(lock)


def _hand_over(sock: _socket.socket, request: bytes) -> bool:
    """Send the call; True once the agent accepted it, False if it closed first (nothing touched).

    :raises _RunHere: when the agent refused the call.
    """
    fds = _standard_fds()
    rights = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)
    try:
        sock.sendmsg([request], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
        answer = _receive_exactly(sock, 1)
        if answer == wire.REFUSED:
            length = int.from_bytes(_receive_exactly(sock, 2), "big")
            reason = _receive_exactly(sock, length).decode("utf-8", "replace")
            raise _RunHere(f"the agent refused the call: {reason}")
    except (OSError, EOFError):
        return False
    return answer == wire.ACCEPTED


def _await_exit(sock: _socket.socket, verb: str) -> int:
    """Forward SIGINT/SIGTERM while the agent works; return its exit code."""
    import _signal

    def forward(signum: int, _frame: object) -> None:
        try:
            sock.send(wire.SIGNAL + bytes((signum,)))
        except OSError:
            pass

    for signum in _FORWARDED:
        _signal.signal(signum, forward)
    try:
        tag = _receive_exactly(sock, 1)
        if tag == wire.EXIT:
            return int.from_bytes(_receive_exactly(sock, 4), "big", signed=True)
    except (OSError, EOFError):
        pass
    _write(2, f"{PROGRAM}: the gps3async agent stopped before {verb} finished; the call failed and was not retried\n")
    return 1


def _through_agent(verb: str, args: list[str]) -> int:
    place, request = _route(verb, args)
    needs_config = VERBS[verb].needs_config
    for _ in range(2):  # an agent may close a connection it accepted while it was shutting down
        sock = _connect(place.socket)
        if sock is None:
            if not needs_config:
                raise _RunHere("")  # a cleanup hook with no agent running: nothing to tell
            sock = _start_agent(place)
        try:
            if _hand_over(sock, request):
                return _await_exit(sock, verb)
        finally:
            sock.close()
    raise _RunHere("no agent: the agent closed the connection twice before accepting the call")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``gpbackup_s3_plugin``: run one call through the agent or in-process."""
    args = list(sys.argv[1:] if argv is None else argv)
    verb = args[0] if args else ""
    if args == ["plugin_api_version"]:
        _write(1, f"{API_VERSION}\n")
        return 0
    if args == ["--version"]:
        _write(1, f"{PROGRAM} version {__version__}\n")
        return 0
    if len(args) == 1 and verb in HELP:  # imported here: no other call pays for the page's text
        from ..usage import usage_page

        _write(1, usage_page(PROGRAM))
        return 0
    try:
        return _through_agent(verb, args[1:])
    except _RunHere as why:
        return _in_process(args, str(why))


def main_exit() -> None:
    """Console-script wrapper: exit with :func:`main`'s code."""
    sys.exit(main())
