"""Local byte I/O: stdin, stdout and files, done in a worker thread off the event loop.

This module owns every blocking ``read``/``write`` syscall.  Each endpoint has
its own ``CapacityLimiter(1)`` so its operations run one at a time, in order,
without competing for anyio's shared thread pool.  ``readinto`` fills caller
buffers in place: no per-chunk allocation on the upload path.

Every operation can be cancelled, even while its peer is silent: on a pipe or
socket the worker thread waits with ``poll`` in short slices and looks at a
stop flag between them, and writes to a pipe never exceed the room left in it,
so no syscall can block for long.  That matters in the agent, which serves
descriptors passed by another process: when that client is killed, the stream
must be cancelled (and its multipart upload aborted) even if whoever feeds its
stdin stays quiet with the pipe open.  A cancelled operation returns only once
its thread has stopped touching the caller's buffer, because pool buffers are
handed to the next borrower.

What a pipe can take or give at once, without blocking, is moved on the event
loop first (at most :data:`INLINE_BYTES` per operation, checked with a
zero-timeout ``poll``); only the rest goes to the worker thread.  A tiny call's
whole stream (a 1 KiB table) then costs no thread hop at all.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import stat
import struct
import termios
import threading
from typing import TYPE_CHECKING, TypeVar

import anyio

from ..core.errors import BrokenOutput, LocalIOError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["FdSink", "FdSource", "grow_pipe"]

T = TypeVar("T")

#: Linux's F_SETPIPE_SZ / F_GETPIPE_SZ (not exported by the fcntl module before Python 3.10).
_F_SETPIPE_SZ = 1031
_F_GETPIPE_SZ = 1032
PIPE_SIZE = 1 << 20
#: How long a worker waits on a silent pipe before it looks at its stop flag again.
_POLL_SLICE_MS = 100
#: At most this much of one operation is moved on the event loop, when the pipe is ready now.
INLINE_BYTES = 64 << 10


def grow_pipe(fd: int, size: int = PIPE_SIZE) -> None:
    """Enlarge a pipe's kernel buffer (64 KiB by default) so each wake-up moves more bytes.

    Best effort: unprivileged processes may go up to /proc/sys/fs/pipe-max-size.
    """
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, _F_SETPIPE_SZ, size)
    except OSError:
        pass


class _Stopped(Exception):
    """The operation was asked to stop (its task was cancelled)."""


class _Endpoint:
    """One descriptor and the worker-thread machinery its operations share."""

    def __init__(self, fd: int, name: str) -> None:
        self._fd = fd
        self.name = name
        self._limiter = anyio.CapacityLimiter(1)
        grow_pipe(fd)
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            mode = 0
        # Regular files and block devices are always "ready": poll tells nothing, and reads never hang.
        self._fifo = stat.S_ISFIFO(mode)
        self._pollable = self._fifo or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)

    def _ready(self, events: int) -> bool:
        """Whether ``events`` are ready on the pipe or socket now (a zero-timeout ``poll``: never blocks)."""
        poller = select.poll()
        poller.register(self._fd, events)
        return bool(poller.poll(0))

    def _wait(self, events: int, stop: threading.Event) -> None:
        """Block until ``events`` are ready on the descriptor, or raise :class:`_Stopped`."""
        if not self._pollable:
            if stop.is_set():
                raise _Stopped
            return
        poller = select.poll()
        poller.register(self._fd, events)
        while not poller.poll(_POLL_SLICE_MS):
            if stop.is_set():
                raise _Stopped
        if stop.is_set():
            raise _Stopped

    async def _in_thread(self, work: Callable[[threading.Event], T]) -> T:
        """Run ``work(stop)`` in a worker thread; on cancellation, stop it and wait until it has."""
        stop, started, done = threading.Event(), threading.Event(), threading.Event()

        def run() -> T:
            started.set()
            try:
                if stop.is_set():
                    raise _Stopped
                return work(stop)
            finally:
                done.set()

        try:
            return await anyio.to_thread.run_sync(run, limiter=self._limiter, abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            stop.set()
            # A thread that starts after this sees ``stop`` first and never touches the buffer.
            if started.is_set():
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(done.wait)
            raise


class FdSource(_Endpoint):
    """Reads a file descriptor (stdin or a local file) into caller buffers."""

    def __init__(self, fd: int, name: str) -> None:
        super().__init__(fd, name)
        self.bytes_read = 0

    def _fill(self, view: memoryview, stop: threading.Event) -> int:
        """Read until ``view`` is full or EOF; short pipe reads are normal."""
        filled, total = 0, len(view)
        while filled < total:
            self._wait(select.POLLIN, stop)
            got = os.readv(self._fd, [view[filled:]])
            if got == 0:
                break
            filled += got
        return filled

    def _fill_ready(self, view: memoryview) -> tuple[int, bool]:
        """Read what the pipe holds now, up to :data:`INLINE_BYTES`: the byte count, and whether the input ended."""
        filled = 0
        while self._pollable and filled < min(len(view), INLINE_BYTES) and self._ready(select.POLLIN):
            got = os.readv(self._fd, [view[filled:]])
            if got == 0:
                return filled, True
            filled += got
        return filled, False

    async def readinto(self, buf: bytearray | memoryview) -> int:
        """Fill ``buf`` completely unless the input ends; return the byte count.

        :raises LocalIOError: when the read fails.
        """
        view = memoryview(buf)
        try:
            await anyio.lowlevel.checkpoint_if_cancelled()
            got, ended = self._fill_ready(view)
            if not ended and got < len(view):
                rest = view[got:]
                got += await self._in_thread(lambda stop: self._fill(rest, stop))
        except OSError as err:
            raise LocalIOError(f"reading {self.name} failed: {err.strerror}") from None
        self.bytes_read += got
        return got


class FdSink(_Endpoint):
    """Writes bytes, in call order, to a file descriptor (stdout or a local file)."""

    def __init__(self, fd: int, name: str) -> None:
        super().__init__(fd, name)
        self.bytes_written = 0
        self._capacity = 0
        if self._fifo:
            try:
                self._capacity = fcntl.fcntl(fd, _F_GETPIPE_SZ)
            except OSError:
                self._capacity = 0

    def _room(self) -> int:
        """Bytes a write to the pipe can take now without blocking (its capacity less what is unread)."""
        (unread,) = struct.unpack("i", fcntl.ioctl(self._fd, termios.FIONREAD, b"\0\0\0\0"))
        return max(self._capacity - int(unread), 1)

    def _drain_ready(self, view: memoryview) -> int:
        """Write what the pipe has room for now, up to :data:`INLINE_BYTES`; the byte count written."""
        written = 0
        limit = min(len(view), INLINE_BYTES)
        while self._capacity and written < limit and self._ready(select.POLLOUT):
            written += os.write(self._fd, view[written:limit][: self._room()])
        return written

    def _drain(self, view: memoryview, stop: threading.Event) -> None:
        written = 0
        while written < len(view):
            self._wait(select.POLLOUT, stop)
            piece = view[written:]
            if self._capacity:
                piece = piece[: self._room()]
            written += os.write(self._fd, piece)

    async def write(self, data: bytearray | memoryview) -> None:
        """Write all of ``data``.

        :raises BrokenOutput: when the reader closed the pipe (EPIPE).
        :raises LocalIOError: on any other failure, such as a full disk.
        """
        view = memoryview(data)
        try:
            await anyio.lowlevel.checkpoint_if_cancelled()
            written = self._drain_ready(view)
            if written < len(view):
                rest = view[written:]
                await self._in_thread(lambda stop: self._drain(rest, stop))
        except BrokenPipeError:
            raise BrokenOutput(f"{self.name} was closed by its reader") from None
        except OSError as err:
            if err.errno == errno.EPIPE:
                raise BrokenOutput(f"{self.name} was closed by its reader") from None
            raise LocalIOError(f"writing {self.name} failed: {err.strerror}") from None
        self.bytes_written += len(data)
