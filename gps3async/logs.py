"""The plugin's log file, in Greenplum's log-line format.

Lines go to ``~/gpAdminLogs/gpbackup_s3_plugin_YYYYMMDD.log`` as
``YYYYMMDD:HH:MM:SS gpbackup_s3_plugin:<user>:<host>:<pid>-[INFO]:-<message>``,
the layout gpbackup's own logs use, so one ``grep`` covers both.  Logging never
writes to stderr and never fails a command: stderr is reserved for the one
line that explains a failure, because gprestore treats any stderr as an error.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import time
from pathlib import Path

__all__ = ["PROGRAM", "GreenplumFormatter", "log_path", "setup_logging"]

PROGRAM = "gpbackup_s3_plugin"


class GreenplumFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = str(os.getuid())
        self._prefix = f"{PROGRAM}:{user}:{socket.gethostname()}:{os.getpid():06d}"

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y%m%d:%H:%M:%S", time.localtime(record.created))
        message = " ".join(record.getMessage().split("\n"))
        return f"{stamp} {self._prefix}-[{record.levelname}]:-{message}"


def log_path(now: float | None = None) -> Path:
    day = time.strftime("%Y%m%d", time.localtime(now))
    return Path.home() / "gpAdminLogs" / f"{PROGRAM}_{day}.log"


def setup_logging(level: int = logging.INFO) -> None:
    """Send the ``gps3async`` logger to today's log file, or nowhere if it cannot be opened."""
    logging.raiseExceptions = False  # a failing log write must not print to stderr
    logger = logging.getLogger("gps3async")
    logger.setLevel(level)
    logger.propagate = False
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(GreenplumFormatter())
    logger.addHandler(handler)
