"""The host limiter's waiting (:mod:`gps3async.runtime.bandwidth`) on a real event loop, without S3.

What these check is structural (who waits, who holds what at the moment a
stream ends), so no assertion depends on how fast a loaded machine runs.
"""

from __future__ import annotations

import anyio
import pytest

from gps3async.runtime.bandwidth import DOWNLOAD, UPLOAD, HostBandwidth, StreamShare, note_answer, paced, paced_request

MIB = 1024 * 1024


async def test_a_cancelled_stream_gives_its_turn_and_its_window_place_back_at_once() -> None:
    host = HostBandwidth(MIB, None)
    gate = host.upload
    assert gate is not None
    entered = anyio.Event()

    async def doomed() -> None:
        with host.stream(UPLOAD, 3):
            async with paced_request(MIB):  # the first demand: granted at once, one second of debt
                entered.set()
                async with paced_request(MIB):  # waits for the debt to be paid
                    raise AssertionError("never granted: cancelled first")

    async with anyio.create_task_group() as tg:
        tg.start_soon(doomed)
        await entered.wait()
        await anyio.sleep(0.05)
        assert gate.share.waiting_streams() == 1
        assert host.window.in_flight == 2
        tg.cancel_scope.cancel()
    assert gate.share.waiting_streams() == 0
    assert host.window.in_flight == 0
    assert host.streams == 0
    assert host.window.aimd.ceiling == 0


async def test_a_failing_stream_gives_its_share_back_and_the_others_carry_on() -> None:
    host = HostBandwidth(8 * MIB, None)
    gate = host.upload
    assert gate is not None
    order: list[str] = []
    failed: list[BaseException] = []
    gone: list[StreamShare] = []

    async def stream(name: str, fail_after: int | None) -> None:
        try:
            with host.stream(UPLOAD, 1) as share:
                if fail_after is not None:
                    gone.append(share)
                for number in range(4):
                    if number == fail_after:
                        raise OSError("the source broke")
                    async with paced_request(MIB):
                        order.append(name)
        except OSError as err:
            failed.append(err)
            assert gate.share.waiting_streams() <= 1  # only "lives" may still wait: nothing of ours is left
            assert not any(gate.share.knows(share) for share in gone)

    async with anyio.create_task_group() as tg:
        tg.start_soon(stream, "fails", 1)
        tg.start_soon(stream, "lives", None)
    assert len(failed) == 1
    assert order.count("fails") == 1
    assert order.count("lives") == 4
    assert gate.share.waiting_streams() == 0
    assert host.window.in_flight == 0


async def test_throttling_answers_cut_the_window_once_for_every_stream_and_success_grows_it() -> None:
    host = HostBandwidth(None, None)
    with host.stream(DOWNLOAD, 4), host.stream(DOWNLOAD, 4):
        async with paced_request(MIB), paced_request(MIB), paced_request(MIB), paced_request(MIB):
            for _ in range(4):
                note_answer(503, "SlowDown")
            assert host.window.aimd.limit == 2
            assert host.window.aimd.cuts == 1
            assert host.window.throttled_answers == 4
        note_answer(200, "")  # a small request's success (not paced) does not count
        assert host.window.aimd.limit == 2

        async def stored() -> None:
            note_answer(200, "")

        for _ in range(3):  # 2 + 1/2 + 1/2.5 + 1/2.9: a whole request more
            await paced(MIB, stored)
        assert host.window.aimd.limit == 3


async def test_the_host_retries_a_throttled_attempt_in_its_own_turn_up_to_max_attempts() -> None:
    host = HostBandwidth(None, None, max_attempts=3)
    calls: list[int] = []

    async def throttled_twice() -> str:
        calls.append(host.window.in_flight)
        if len(calls) < 3:
            assert note_answer(503, "SlowDown") is False  # botocore must not retry: the host does
            raise OSError("503 SlowDown")
        note_answer(200, "")
        return "stored"

    with host.stream(UPLOAD, 4):
        assert await paced(MIB, throttled_twice) == "stored"
        assert calls == [1, 1, 1]  # each attempt held one place, given back before the next waited
        assert host.window.in_flight == 0

        async def always_throttled() -> str:
            note_answer(503, "SlowDown")
            raise OSError("503 SlowDown")

        attempts_before = host.window.throttled_answers
        with pytest.raises(OSError):
            await paced(MIB, always_throttled)
        assert host.window.throttled_answers - attempts_before == 3


async def test_per_stream_backoff_leaves_retries_to_botocore_and_never_cuts_the_window() -> None:
    host = HostBandwidth(None, None, shared_backoff=False)
    calls = 0

    async def throttled() -> None:
        nonlocal calls
        calls += 1
        assert note_answer(503, "SlowDown") is None  # botocore's own back-off decides
        raise OSError("503 SlowDown")

    with host.stream(UPLOAD, 4), pytest.raises(OSError):
        await paced(MIB, throttled)
    assert calls == 1
    assert host.window.aimd.limit is None
    assert host.window.throttled_answers == 1


async def test_outside_a_transfer_the_hooks_do_nothing() -> None:
    async with paced_request(10 * MIB):
        note_answer(503, "SlowDown")


async def test_a_request_cancelled_while_waiting_for_its_turn_gives_its_place_back() -> None:
    host = HostBandwidth(None, None)
    with host.stream(UPLOAD, 4):
        async with paced_request(MIB), paced_request(MIB), paced_request(MIB), paced_request(MIB):
            note_answer(503, "SlowDown")  # cut to 2: the host backs off, and requests wait for slots
        assert host.window.backing_off
        assert host.window.aimd.limit == 2
        async with anyio.create_task_group() as tg:

            async def waits() -> None:
                async with paced_request(MIB), paced_request(MIB):  # the second waits for its slot
                    raise AssertionError("not reached: cancelled while waiting")

            tg.start_soon(waits)
            await anyio.sleep(0.1)
            assert host.window.in_flight == 2  # both entered the window; the second waits for its slot
            tg.cancel_scope.cancel()
        assert host.window.in_flight == 0
