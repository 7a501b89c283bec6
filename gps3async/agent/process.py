"""What the agent process does for itself: its name, its pid file, and who is at the other end of a call."""

from __future__ import annotations

import contextlib
import os
import socket
import struct

__all__ = ["PROCESS_NAME", "name_process", "peer_uid", "write_pidfile"]

PROCESS_NAME = b"gps3async-agent"


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a Unix socket (``SO_PEERCRED``)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def name_process() -> None:
    """Show as ``gps3async-agent`` in ``ps -e``/``top`` (the full command line names the module too)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.prctl(15, PROCESS_NAME, 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def write_pidfile(path: str) -> None:
    """Beside the socket, for operators and tests that want to find or stop the agent."""
    with contextlib.suppress(OSError), open(path, "w", encoding="ascii") as handle:
        handle.write(f"{os.getpid()}\n")
