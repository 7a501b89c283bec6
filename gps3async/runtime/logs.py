"""The plugin's log file, in Greenplum's log-line format.

Lines go to ``~/gpAdminLogs/gpbackup_s3_plugin_YYYYMMDD.log`` as
``YYYYMMDD:HH:MM:SS gpbackup_s3_plugin:<user>:<host>:<pid>-[INFO]:-<message>``,
the layout gpbackup's own logs use, so one ``grep`` covers both.  Logging never
writes to stderr and never fails a command: stderr is reserved for the one
line that explains a failure, because gprestore treats any stderr as an error.

How much is written follows the config's ``logger_verbosity`` per call
(:func:`log_level`, :func:`use_level`): ``error`` only failures, ``info`` one
summary per transfer and every retry, ``verbose`` also each call's S3
settings and credential source, ``debug`` also every S3 request line.  The
level lives in a context variable, so an agent serving calls with different
configs at once gives each call its own.
"""

from __future__ import annotations

import contextvars
import getpass
import logging
import os
import socket
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from ..core.config import PluginConfig

__all__ = [
    "CALLER_PID",
    "PROGRAM",
    "VERBOSE",
    "DailyFileHandler",
    "GreenplumFormatter",
    "enabled",
    "log_level",
    "log_path",
    "setup_logging",
    "use_level",
]

PROGRAM = "gpbackup_s3_plugin"
#: The pid a log line is written for: the agent sets it to its client's pid
#: while serving a call, so each call's lines carry the pid gpbackup started.
CALLER_PID: contextvars.ContextVar[int | None] = contextvars.ContextVar("gps3async_caller_pid", default=None)
#: Between INFO and DEBUG, as gplog's "verbose" is; written with gplog's [INFO] label.
VERBOSE = 15
_LEVELS = {"error": logging.ERROR, "info": logging.INFO, "verbose": VERBOSE, "debug": logging.DEBUG}
#: The level of the call in progress (its config's ``logger_verbosity``).
_CALL_LEVEL: contextvars.ContextVar[int] = contextvars.ContextVar("gps3async_call_level", default=logging.INFO)


def log_level(config: PluginConfig) -> int:
    """The :mod:`logging` level ``config.logger_verbosity`` asks for (pure)."""
    return _LEVELS[config.logger_verbosity]


def use_level(level: int) -> None:
    """Log at ``level`` for the rest of the current call (its context)."""
    _CALL_LEVEL.set(level)


def enabled(level: int) -> bool:
    """Whether a record at ``level`` would be written in this call; for lines costly to build."""
    return level >= _CALL_LEVEL.get()


def _at_call_level(record: logging.LogRecord) -> bool:
    return record.levelno >= _CALL_LEVEL.get()


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
        label = "INFO" if record.levelno == VERBOSE else record.levelname
        return f"{stamp} {self._prefix}:{pid:06d}-[{label}]:-{message}"


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
        #: The day (``YYYYMMDD``) of the open file: the path is rebuilt only when it changes.
        self._day = ""

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
            day = time.strftime("%Y%m%d", time.localtime(record.created))
            if day != self._day:  # building the path (HOME, pathlib) was most of a record's cost
                self._stream_for(log_path(record.created))
                self._day = day
            stream = self._stream
            if stream is not None:
                stream.write(self.format(record) + "\n")
                stream.flush()
        except Exception:  # noqa: BLE001 - a log write must never fail the call
            self.handleError(record)

    def close_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self._path, self._day = None, ""

    def close(self) -> None:
        self.close_stream()
        super().close()


def setup_logging(level: int = logging.INFO) -> None:
    """Send the ``gps3async`` logger to the day's log file (written only if it can be opened).

    ``level`` applies until a call sets its own with :func:`use_level`; the
    logger itself passes everything down to DEBUG and the handler keeps what
    the call's level allows.
    """
    logging.raiseExceptions = False  # a failing log write must not print to stderr
    logger = logging.getLogger("gps3async")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    use_level(level)
    handler = DailyFileHandler()
    handler.setFormatter(GreenplumFormatter())
    handler.addFilter(_at_call_level)
    logger.addHandler(handler)
