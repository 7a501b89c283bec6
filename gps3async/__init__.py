"""gps3async: an asyncio S3 storage plugin for Greenplum's gpbackup and gprestore."""

from __future__ import annotations

import logging

__all__ = ["API_VERSION", "__version__"]

__version__ = "0.1.0"
#: The plugin API level gpbackup checks (it needs at least 0.3.0); the Go plugin's.
API_VERSION = "0.5.0"

# A library logs; the process decides where.  Without this, Python's last-resort
# handler would print to stderr, which gprestore reads as a failure.
logging.getLogger("gps3async").addHandler(logging.NullHandler())
