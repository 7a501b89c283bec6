"""The host limiter's waiting (:mod:`gps3async.bandwidth.host`) on a real event loop, without S3.

What these check is structural (who waits, who holds what at the moment a
stream ends), so no assertion depends on how fast a loaded machine runs.
"""

from __future__ import annotations

import anyio

from gps3async.bandwidth import DOWNLOAD, UPLOAD, HostBandwidth, StreamShare, note_answer, paced_request

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
        for _ in range(3):
            note_answer(200, "")
        assert host.window.aimd.limit == 3


async def test_per_stream_backoff_never_cuts_the_window() -> None:
    host = HostBandwidth(None, None, shared_backoff=False)
    with host.stream(UPLOAD, 4):
        async with paced_request(MIB):
            note_answer(503, "SlowDown")
    assert host.window.aimd.limit is None
    assert host.window.throttled_answers == 1


async def test_outside_a_transfer_the_hooks_do_nothing() -> None:
    async with paced_request(10 * MIB):
        note_answer(503, "SlowDown")
