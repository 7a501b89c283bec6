"""``python -m gps3async <verb> ...``: the same entry point as ``gpbackup_s3_plugin`` (the thin client)."""

from __future__ import annotations

import sys

from .agent.client import main

if __name__ == "__main__":
    sys.exit(main())
