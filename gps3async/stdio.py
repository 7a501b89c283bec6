"""Local byte I/O: stdin, stdout and files, done in a worker thread off the event loop.

This module owns every blocking ``read``/``write`` syscall.  Each endpoint has
its own ``CapacityLimiter(1)`` so its operations run one at a time, in order,
without competing for anyio's shared thread pool.  ``readinto`` fills caller
buffers in place: no per-chunk allocation on the upload path.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat

import anyio

from .errors import BrokenOutput, LocalIOError

__all__ = ["FdSink", "FdSource", "grow_pipe"]


#: Linux's F_SETPIPE_SZ (not exported by the fcntl module before Python 3.10).
_F_SETPIPE_SZ = 1031
PIPE_SIZE = 1 << 20


def grow_pipe(fd: int, size: int = PIPE_SIZE) -> None:
    """Enlarge a pipe's kernel buffer (64 KiB by default) so each wake-up moves more bytes.

    Best effort: unprivileged processes may go up to /proc/sys/fs/pipe-max-size.
    """
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, _F_SETPIPE_SZ, size)
    except OSError:
        pass


def _fill(fd: int, view: memoryview) -> int:
    """Read until ``view`` is full or EOF; short pipe reads are normal."""
    filled = 0
    total = len(view)
    while filled < total:
        got = os.readv(fd, [view[filled:]])
        if got == 0:
            break
        filled += got
    return filled


def _drain(fd: int, view: memoryview) -> None:
    written = 0
    while written < len(view):
        written += os.write(fd, view[written:])


class FdSource:
    """Reads a file descriptor (stdin or a local file) into caller buffers."""

    def __init__(self, fd: int, name: str) -> None:
        self._fd = fd
        self.name = name
        self._limiter = anyio.CapacityLimiter(1)
        self.bytes_read = 0
        grow_pipe(fd)

    async def readinto(self, buf: bytearray | memoryview) -> int:
        """Fill ``buf`` completely unless the input ends; return the byte count.

        :raises LocalIOError: when the read fails.
        """
        try:
            got = await anyio.to_thread.run_sync(_fill, self._fd, memoryview(buf), limiter=self._limiter)
        except OSError as err:
            raise LocalIOError(f"reading {self.name} failed: {err.strerror}") from None
        self.bytes_read += got
        return got


class FdSink:
    """Writes bytes, in call order, to a file descriptor (stdout or a local file)."""

    def __init__(self, fd: int, name: str) -> None:
        self._fd = fd
        self.name = name
        self._limiter = anyio.CapacityLimiter(1)
        self.bytes_written = 0
        grow_pipe(fd)

    async def write(self, data: bytearray | memoryview) -> None:
        """Write all of ``data``.

        :raises BrokenOutput: when the reader closed the pipe (EPIPE).
        :raises LocalIOError: on any other failure, such as a full disk.
        """
        try:
            await anyio.to_thread.run_sync(_drain, self._fd, memoryview(data), limiter=self._limiter)
        except BrokenPipeError:
            raise BrokenOutput(f"{self.name} was closed by its reader") from None
        except OSError as err:
            if err.errno == errno.EPIPE:
                raise BrokenOutput(f"{self.name} was closed by its reader") from None
            raise LocalIOError(f"writing {self.name} failed: {err.strerror}") from None
        self.bytes_written += len(data)
