"""Run one command and report its wall time, CPU time and peak RSS, free of the harness's own memory.

A child's ``ru_maxrss`` starts from its parent's high-water mark: fork copies the
parent's pages and vfork shares them until exec, and Linux folds the old image's
peak into the process's maxrss at exec.  The harness holds boto3 and 64 MiB read
buffers, so every tool it spawned directly would report at least its ~180 MiB.
This launcher runs as a bare ``python -I -S`` (about 8 MiB), spawns the tool,
reaps it with ``os.wait4`` and writes ``wall cpu maxrss_kib exitcode`` to the
file descriptor it was given.  The tool inherits stdin, stdout and stderr; the
launcher closes its own copies of stdin and stdout so EOF follows the tool.

Usage: ``python -I -S launch.py FD COMMAND [ARG...]``; exits with the tool's code.
"""

from __future__ import annotations

import os
import sys
import time


def main(args: list[str]) -> int:
    report, argv = int(args[0]), args[1:]
    os.set_inheritable(report, False)
    started = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ)
    os.close(0)
    os.close(1)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    os.write(report, f"{wall:.6f} {usage.ru_utime + usage.ru_stime:.6f} {usage.ru_maxrss} {code}\n".encode())
    os.close(report)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
