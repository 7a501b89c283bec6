"""Where digest work runs: in a worker thread, unless the bytes are so few that the hop costs more.

CRC-32C, MD5 and SHA-256 release the GIL over large buffers, so megabyte parts
are digested in a worker thread while the event loop keeps other transfers
moving.  A hop to a worker thread and back costs tens of microseconds of CPU
(two wake-ups and two GIL hand-overs) whatever the size; digesting
:data:`INLINE_BYTES` takes less than that, so small bodies (a 1 KiB table's
whole object) are digested on the loop, without the hop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import anyio

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["INLINE_BYTES", "digest_off_loop"]

T = TypeVar("T")

#: At most this many bytes are digested on the event loop (SHA-256 of 16 KiB: about 40 us).
INLINE_BYTES = 16 << 10


async def digest_off_loop(nbytes: int, work: Callable[..., T], *args: object) -> T:
    """``work(*args)``, which reads ``nbytes`` bytes: on the loop when they are few, else in a worker thread."""
    if nbytes <= INLINE_BYTES:
        await anyio.lowlevel.checkpoint()  # still a cancellation point, as the thread hop is
        return work(*args)
    return await anyio.to_thread.run_sync(work, *args)
