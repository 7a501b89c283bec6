"""gps3async: an asyncio S3 storage plugin for Greenplum's gpbackup and gprestore.

This module stays free of imports: the thin client that starts every plugin
call imports it, and its start-up is part of each call's cost.
"""

__all__ = ["API_VERSION", "__version__"]

__version__ = "0.2.0"
#: The plugin API level gpbackup checks (it needs at least 0.3.0); the Go plugin's.
API_VERSION = "0.5.0"
