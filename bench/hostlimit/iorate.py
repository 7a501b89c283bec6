"""The rate a process moves bytes at, over sliding windows, from its ``/proc/PID/io`` counters.

The host bandwidth goal (issue 18) is about what the host puts on the link
over any 10 s window, not about a batch's average: a batch average hides a
burst at the start and dilutes the limit with process start-up and the tail
where streams end one by one.  So :class:`IoSampler` reads the agent's
``wchar`` (bytes it wrote: to sockets too, since the event loop writes
sockets with ``write``/``writev``) or ``rchar`` (bytes it read) a few times a
second while a batch runs, and :func:`window_rates` turns the samples into
the rate of every ``span``-second window starting at each sample.

For an upload through the agent, ``wchar`` is the bytes sent to the store
(plus log lines); for a download, ``rchar`` the bytes received from it (plus
the config it reads): the counters are what the host's link carries, which is
what the limit is about.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from pathlib import Path
from typing import NamedTuple

__all__ = ["IoSampler", "Sample", "window_rates"]

#: How often the sampler reads the counters.
EVERY = 0.1


class Sample(NamedTuple):
    """A counter's value (bytes) at a monotonic time (seconds)."""

    at: float
    nbytes: int


def io_counter(pid: int, field: str) -> int:
    """One field of ``/proc/<pid>/io`` (``wchar``, ``rchar``)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == field:
            return int(value)
    raise KeyError(f"/proc/{pid}/io has no {field}")


class IoSampler:
    """Samples one counter of one process in a thread for as long as the ``with`` block runs."""

    def __init__(self, pid: int, field: str, every: float = EVERY) -> None:
        self.pid, self.field, self.every = pid, field, every
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"io-sampler-{pid}", daemon=True)

    def _take(self) -> None:
        self.samples.append(Sample(time.perf_counter(), io_counter(self.pid, self.field)))

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._take()

    def __enter__(self) -> IoSampler:
        self._take()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._take()


def window_rates(samples: list[Sample], span: float, start: float, end: float) -> list[float]:
    """Bytes per second over every ``span``-second window that begins at a sample and lies within [start, end].

    The counter at a window's far edge is interpolated between the two
    samples around it.  No window fits: an empty list.
    """
    times = [sample.at for sample in samples]
    rates = []
    for sample in samples:
        edge = sample.at + span
        if sample.at < start or edge > end:
            continue
        after = bisect_left(times, edge)
        if after >= len(samples):
            break
        below, above = samples[after - 1], samples[after]
        fraction = (edge - below.at) / (above.at - below.at) if above.at > below.at else 1.0
        counter = below.nbytes + fraction * (above.nbytes - below.nbytes)
        rates.append((counter - sample.nbytes) / span)
    return rates
