from __future__ import annotations

import anyio
import pytest
from anyio.lowlevel import checkpoint

from gps3async.buffers import BufferPool


async def test_pool_lends_at_most_count_buffers() -> None:
    pool = BufferPool(2, 16)
    first, second = await pool.acquire(), await pool.acquire()
    assert pool.statistics().in_use == 2
    got: list[bytearray] = []

    async def borrower() -> None:
        got.append(await pool.acquire())

    async with anyio.create_task_group() as tg:
        tg.start_soon(borrower)
        for _ in range(10):
            await checkpoint()
        assert got == []  # waits while both are out
        pool.release(first)
    assert got == [first]
    assert pool.statistics().peak_in_use == 2
    pool.release(second)


async def test_foreign_buffers_are_refused() -> None:
    pool = BufferPool(1, 8)
    with pytest.raises(ValueError):
        pool.release(bytearray(8))
    with pytest.raises(ValueError):
        pool.release(bytearray(4))
