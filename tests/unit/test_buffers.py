from __future__ import annotations

import anyio
import pytest
from anyio.lowlevel import checkpoint

from gps3async.runtime.buffers import BudgetTooSmall, BufferPool, MemoryBudget, PoolBuffer, new_buffer


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


async def test_buffers_are_made_on_first_need() -> None:
    pool = BufferPool(5, 1 << 20)
    assert pool.statistics().allocated == 0
    buf = await pool.acquire()
    pool.release(buf)
    assert await pool.acquire() is buf  # reused, not a second allocation
    assert pool.statistics().allocated == 1


async def test_a_budget_admits_a_pool_only_when_two_buffers_fit() -> None:
    budget = MemoryBudget(40, keep_idle=40)
    first = BufferPool(4, 10, budget)
    second = BufferPool(4, 10, budget)
    admitted: list[str] = []
    async with first:
        a, b = await first.acquire(), await first.acquire()
        third = await first.acquire()  # the budget has room for a third buffer: it may grow
        assert budget.reserved == 30

        async def enter_second() -> None:
            async with second:
                admitted.append("second")
                await second.acquire()

        async with anyio.create_task_group() as tg:
            tg.start_soon(enter_second)
            for _ in range(10):
                await checkpoint()
            assert admitted == [], "10 bytes left cannot hold two buffers"
            # While a pool waits to be admitted, running pools take nothing more...
            with anyio.move_on_after(0.05):
                await first.acquire()
                raise AssertionError("the first pool grew past an admission that was waiting")
            # ...and once it gives a buffer back, the waiting pool gets in.
            first.release(third)
            first.close()
        assert admitted == ["second"]
    assert budget.peak_reserved <= 40
    assert budget.reserved == 0
    del a, b


async def test_a_budget_refuses_a_pool_it_can_never_admit() -> None:
    budget = MemoryBudget(15, keep_idle=15)
    with pytest.raises(BudgetTooSmall, match="host_memory_limit"):
        async with BufferPool(4, 10, budget):
            pass


async def test_memory_held_beside_a_pool_is_reserved_with_its_admission() -> None:
    """An encrypted stream's staging buffers (``extra``) count against the budget in the same step as
    the pool's two buffers, so two such streams cannot each hold theirs while waiting for the other."""
    budget = MemoryBudget(40, keep_idle=0)
    first = BufferPool(4, 10, budget, extra=15)
    second = BufferPool(4, 10, budget, extra=15)
    admitted: list[str] = []
    async with first:
        assert budget.reserved == 35  # two buffers and the extra
        await first.acquire()

        async def enter_second() -> None:
            async with second:
                admitted.append("second")

        async with anyio.create_task_group() as tg:
            tg.start_soon(enter_second)
            for _ in range(10):
                await checkpoint()
            assert admitted == [] and budget.reserved == 35, "nothing of the second stream is held while it waits"
            first.close()
    assert admitted == ["second"]
    assert budget.peak_reserved <= 40 and budget.reserved == 0
    with pytest.raises(BudgetTooSmall, match="fixed buffers"):
        async with BufferPool(4, 10, budget, extra=25):
            pass


async def test_a_budget_keeps_returned_buffers_for_the_next_pool_within_its_limit() -> None:
    budget = MemoryBudget(40, keep_idle=40)
    async with BufferPool(2, 10, budget) as pool:
        buf = await pool.acquire()
        pool.release(buf)
    assert budget.idle_bytes == 10
    async with BufferPool(2, 10, budget) as pool:
        assert await pool.acquire() is buf
    async with BufferPool(4, 20, budget) as big:  # 40 bytes reserved: kept small buffers are dropped
        assert budget.idle_bytes + budget.reserved <= 40
        await big.acquire()
    budget.trim()
    assert budget.idle_bytes == 0


def test_new_buffers_cost_no_memory_until_written() -> None:
    def resident() -> int:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * 4096

    before = resident()
    buf = new_buffer(64 << 20)
    assert len(buf) == 64 << 20 and isinstance(buf, PoolBuffer)
    memoryview(buf)[:4096] = b"x" * 4096  # a small call touches only what it fills
    assert resident() - before < 8 << 20, "a 64 MiB buffer was zero-filled"
    assert buf[:3] == memoryview(b"xxx")
