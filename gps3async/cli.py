"""The in-process front door: one plugin call run inside the calling process.

The thin client (:mod:`gps3async.agent.client`) runs a call here when no agent
may or can serve it (``agent: "off"``, an unusable socket directory, an agent
that did not come up) and for calls that cannot go wrong in a way the agent
would help with (usage errors, unreadable configs).  This module owns the
process's signals, log set-up and exit: SIGINT or SIGTERM cancels the verb, so
an upload in progress is aborted before the process exits.  It prints exactly
one thing on success (the verb's answer, if it has one) and one explanatory
line per problem on stderr on failure.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

from . import API_VERSION, __version__
from .execute import BROKEN_PIPE_EXIT, Interrupted, check_arguments, report, run_verb
from .logs import PROGRAM, setup_logging

__all__ = ["main", "main_exit"]

log = logging.getLogger("gps3async")


def _write_stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


async def _run(verb: str, args: list[str]) -> None:
    """Run one verb; SIGINT or SIGTERM cancels it (so uploads abort) and becomes :class:`Interrupted`."""
    import anyio

    from .invocation import Invocation
    from .modeprobe import open_call_store

    received: list[int] = []

    async def watch_signals(scope: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                received.append(signum)
                scope.cancel()
                return

    inv = Invocation(
        stdin=sys.stdin.fileno(), stdout=sys.stdout.fileno(), stderr=sys.stderr.fileno(), cwd="", stores=open_call_store
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(watch_signals, tg.cancel_scope)
        await run_verb(inv, verb, args)
        tg.cancel_scope.cancel()
    if received:
        raise Interrupted(received[0])


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so interpreter shutdown stays quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: list[str] | None = None, *, why: str | None = None) -> int:
    """Run one call in this process and return its exit code.

    ``why`` is the thin client's reason for not using an agent; it goes to the log.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    verb = args.pop(0) if args else ""
    try:
        if verb == "plugin_api_version" and not args:
            _write_stdout(f"{API_VERSION}\n")
            return 0
        if verb == "--version" and not args:
            _write_stdout(f"{PROGRAM} version {__version__}\n")
            return 0
        spec = check_arguments(verb, args)
        if not spec.needs_config:
            return 0
        setup_logging()
        if why:
            log.info("%s: running in-process: %s", verb, why)
        log.debug("%s %s", verb, " ".join(args))
        import anyio

        from ._malloc import tune_malloc

        tune_malloc()

        anyio.run(_run, verb, args, backend="asyncio", backend_options={"use_uvloop": True})
        return 0
    except BaseException as exc:  # noqa: BLE001 - the process boundary reports everything once
        code = report(exc, verb, sys.stderr.fileno())
        if code == BROKEN_PIPE_EXIT:
            _silence_stdout()
        return code


def main_exit() -> None:
    """Console-script wrapper: exit with :func:`main`'s code."""
    sys.exit(main())
