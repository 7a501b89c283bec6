"""The plugin's log file, in Greenplum's log-line format.

Lines go to ``~/gpAdminLogs/gpbackup_s3_plugin_YYYYMMDD.log`` as
``YYYYMMDD:HH:MM:SS gpbackup_s3_plugin:<user>:<host>:<pid>-[INFO]:-<message>``,
the layout gpbackup's own logs use, so one ``grep`` covers both.  Logging never
writes to stderr and never fails a command: stderr is reserved for the one
line that explains a failure, because gprestore treats any stderr as an error.
"""

from __future__ import annotations

import contextvars
import getpass
import logging
import os
import socket
import time
from pathlib import Path
from typing import IO

__all__ = ["CALLER_PID", "PROGRAM", "DailyFileHandler", "GreenplumFormatter", "log_path", "setup_logging"]

PROGRAM = "gpbackup_s3_plugin"
#: The pid a log line is written for: the agent sets it to its client's pid
#: while serving a call, so each call's lines carry the pid gpbackup started.
CALLER_PID: contextvars.ContextVar[int | None] = contextvars.ContextVar("gps3async_caller_pid", default=None)

# The process decides where the log goes (setup_logging).  Until it has, and in
# library use, this keeps Python's last-resort handler from printing to stderr,
# which gprestore reads as a failure.
logging.getLogger("gps3async").addHandler(logging.NullHandler())


class GreenplumFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = str(os.getuid())
        self._prefix = f"{PROGRAM}:{user}:{socket.gethostname()}"

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y%m%d:%H:%M:%S", time.localtime(record.created))
        message = " ".join(record.getMessage().split("\n"))
        pid = CALLER_PID.get() or os.getpid()
        return f"{stamp} {self._prefix}:{pid:06d}-[{record.levelname}]:-{message}"


def log_path(now: float | None = None) -> Path:
    day = time.strftime("%Y%m%d", time.localtime(now))
    return Path.home() / "gpAdminLogs" / f"{PROGRAM}_{day}.log"


class DailyFileHandler(logging.Handler):
    """Appends to the log file of the day each record is written on.

    A plugin process lives for one call, but the agent may serve calls on both
    sides of midnight; gpbackup's own logs switch files by date, and so do these.
    A file that cannot be opened drops the record: logging never fails a call.
    """

    def __init__(self) -> None:
        super().__init__()
        self._path: Path | None = None
        self._stream: IO[str] | None = None

    def _stream_for(self, path: Path) -> IO[str] | None:
        if path != self._path:
            self.close_stream()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._stream = path.open("a", encoding="utf-8")
            except OSError:
                self._stream = None
            self._path = path
        return self._stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = self._stream_for(log_path(record.created))
            if stream is not None:
                stream.write(self.format(record) + "\n")
                stream.flush()
        except Exception:  # noqa: BLE001 - a log write must never fail the call
            self.handleError(record)

    def close_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def close(self) -> None:
        self.close_stream()
        super().close()


def setup_logging(level: int = logging.INFO) -> None:
    """Send the ``gps3async`` logger to the day's log file (written only if it can be opened)."""
    logging.raiseExceptions = False  # a failing log write must not print to stderr
    logger = logging.getLogger("gps3async")
    logger.setLevel(level)
    logger.propagate = False
    handler = DailyFileHandler()
    handler.setFormatter(GreenplumFormatter())
    logger.addHandler(handler)
