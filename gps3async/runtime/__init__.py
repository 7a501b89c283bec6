"""Process-wide plumbing that every I/O layer shares: one owner per resource of the process.

:mod:`.logs` (the log file), :mod:`.buffers` (part buffers and the host's
memory budget), :mod:`.bandwidth` (the host's link budget and back-off),
:mod:`.offload` (digests in worker threads), :mod:`.groups` (a task group's
failure back to its cause) and :mod:`.malloc` (glibc allocator settings).
It sits on :mod:`gps3async.core` and under every other layer.
"""
