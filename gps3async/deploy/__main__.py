"""``python3 -m gps3async.deploy``."""

import sys

from .cli import main

sys.exit(main())
