"""``python -m gps3async.agent``: the per-host agent process (started by the thin client)."""

from __future__ import annotations

import sys

from .server import main

if __name__ == "__main__":
    sys.exit(main())
