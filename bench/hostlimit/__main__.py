"""``python -m bench.hostlimit``: just the host-limit measurements, at a size of one's choosing.

The full run (``make bench``) does them at 256 MiB a stream.  This entry point
sits apart from :mod:`.bandwidth` so that the measuring module never imports
its renderer (which imports the measurement types).
"""

from __future__ import annotations

import argparse
import sys

from bench.harness.common import SEGMENTS, BenchError, human, progress
from bench.harness.data import ensure_data
from bench.harness.server import running_server
from bench.hostlimit.bandwidth import run_bandwidth
from bench.hostlimit.report_bandwidth import bandwidth_lines
from bench.options import parse_args
from gps3async.core.config import parse_byte_size


def main(argv: list[str] | None = None) -> int:
    """Measure 8 streams at ``--stream-size`` each and print the section's tables."""
    parser = argparse.ArgumentParser(prog="python -m bench.hostlimit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stream-size", default="256MiB", help="bytes per stream (default 256MiB)")
    args = parser.parse_args(argv)
    stream_size = parse_byte_size(args.stream_size)
    options = parse_args(["--size", human(stream_size * SEGMENTS), "--invocations-only"])
    data = ensure_data(options.size)
    try:
        with running_server(options) as bench:
            result = run_bandwidth(bench, data, stream_size)
    except BenchError as err:
        progress(f"benchmark failed: {err}")
        return 1
    print("\n".join(bandwidth_lines(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
