"""The command line: argv to verb, config loading, signals, exit codes and stderr.

This module owns the process boundary.  It prints exactly one thing on
success (the verb's answer, if it has one) and exactly one explanatory line
per problem on stderr on failure, then exits non-zero.  Everything else goes
to the log file.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import API_VERSION, __version__
from ._groups import first_leaf
from .errors import BrokenOutput, ConfigError, GpS3Error, UsageError, first_plugin_error
from .logs import PROGRAM, setup_logging

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["main"]

log = logging.getLogger("gps3async")
_SCOPES = ("coordinator", "master", "segment_host", "segment")
_SCOPED = "CONFIG LOCAL_BACKUP_DIR SCOPE [CONTENT_ID]"


@dataclass(frozen=True)
class _Verb:
    usage: str
    min_args: int
    max_args: int
    for_backup: bool = False
    needs_config: bool = True


VERBS: dict[str, _Verb] = {
    "setup_plugin_for_backup": _Verb(_SCOPED, 3, 4, for_backup=True),
    "setup_plugin_for_restore": _Verb(_SCOPED, 3, 4),
    "cleanup_plugin_for_backup": _Verb(_SCOPED, 3, 4, needs_config=False),
    "cleanup_plugin_for_restore": _Verb(_SCOPED, 3, 4, needs_config=False),
    "backup_file": _Verb("CONFIG FILE", 2, 2, for_backup=True),
    "restore_file": _Verb("CONFIG FILE", 2, 2),
    "backup_data": _Verb("CONFIG DATA_FILE < data", 2, 2, for_backup=True),
    "restore_data": _Verb("CONFIG DATA_FILE > data", 2, 2),
    "restore_data_subset": _Verb("CONFIG DATA_FILE OFFSETS_FILE > data", 3, 3),
    "delete_backup": _Verb("CONFIG TIMESTAMP", 2, 2),
    "list_directory": _Verb("CONFIG [PREFIX]", 1, 2),
    "delete_directory": _Verb("CONFIG PREFIX", 2, 2),
    "backup_directory": _Verb("CONFIG DIRECTORY [PARALLEL]", 2, 3, for_backup=True),
    "backup_directory_parallel": _Verb("CONFIG DIRECTORY [PARALLEL]", 2, 3, for_backup=True),
    "restore_directory": _Verb("CONFIG DIRECTORY [PARALLEL]", 2, 3),
    "restore_directory_parallel": _Verb("CONFIG DIRECTORY [PARALLEL]", 2, 3),
}


class Interrupted(GpS3Error):
    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.exit_code = 128 + signum


def _usage() -> str:
    verbs = ", ".join(["plugin_api_version", "--version", *VERBS])
    return f"usage: {PROGRAM} VERB ARGS... where VERB is one of {verbs}"


def _check_arguments(verb: str, args: list[str]) -> _Verb:
    spec = VERBS.get(verb)
    if spec is None:
        raise UsageError(f"unknown command {verb!r}; {_usage()}")
    if not spec.min_args <= len(args) <= spec.max_args:
        raise UsageError(f"wrong number of arguments; usage: {PROGRAM} {verb} {spec.usage}")
    if spec.usage == _SCOPED:
        if args[2] not in _SCOPES:
            raise UsageError(f"unknown scope {args[2]!r}; expected one of {', '.join(_SCOPES)}")
        if len(args) == 4:
            from .keys import content_id

            content_id(args[3])
    return spec


def _write_stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _dispatch(verb: str, args: list[str], config: object) -> Callable[[], Awaitable[None]]:
    from . import commands as c
    from .config import PluginConfig

    assert isinstance(config, PluginConfig)
    table: dict[str, Callable[[], Awaitable[None]]] = {
        "setup_plugin_for_backup": lambda: c.setup_plugin_for_backup(config, args[1], args[2]),
        "setup_plugin_for_restore": lambda: c.setup_plugin_for_restore(config, args[1], args[2]),
        "backup_file": lambda: c.backup_file(config, args[1]),
        "restore_file": lambda: c.restore_file(config, args[1]),
        "backup_data": lambda: c.backup_data(config, args[1]),
        "restore_data": lambda: c.restore_data(config, args[1]),
        "restore_data_subset": lambda: c.restore_data_subset(config, args[1], args[2]),
        "delete_backup": lambda: c.delete_backup(config, args[1]),
        "list_directory": lambda: c.list_directory(config, args[1] if len(args) > 1 else None, _write_stdout),
        "delete_directory": lambda: c.delete_directory(config, args[1]),
        "backup_directory": lambda: c.backup_directory(config, args[1], args[2] if len(args) > 2 else None),
        "restore_directory": lambda: c.restore_directory(config, args[1], args[2] if len(args) > 2 else None),
    }
    table["backup_directory_parallel"] = table["backup_directory"]
    table["restore_directory_parallel"] = table["restore_directory"]
    return table[verb]


async def _run(verb: str, args: list[str]) -> None:
    """Run one verb; SIGINT or SIGTERM cancels it (so uploads abort) and becomes :class:`Interrupted`."""
    import anyio

    from .config import load_config
    from .keys import validate_timestamp

    spec = VERBS[verb]
    if verb == "delete_backup":
        validate_timestamp(args[1])
    config = load_config(args[0], for_backup=spec.for_backup)
    received: list[int] = []

    async def watch_signals(scope: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                received.append(signum)
                scope.cancel()
                return

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch_signals, tg.cancel_scope)
        await _dispatch(verb, args, config)()
        tg.cancel_scope.cancel()
    if received:
        raise Interrupted(received[0])


def _fail(err: GpS3Error) -> int:
    lines = [f"{err.source}: {p}" for p in err.problems] if isinstance(err, ConfigError) else [str(err)]
    for line in lines:
        log.error("%s", line)
    sys.stderr.write("".join(f"{PROGRAM}: {line}\n" for line in lines))
    sys.stderr.flush()
    return err.exit_code


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so interpreter shutdown stays quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``gpbackup_s3_plugin`` and ``python -m gps3async``; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    verb = args.pop(0) if args else ""
    try:
        if verb == "plugin_api_version" and not args:
            _write_stdout(f"{API_VERSION}\n")
            return 0
        if verb == "--version" and not args:
            _write_stdout(f"{PROGRAM} version {__version__}\n")
            return 0
        spec = _check_arguments(verb, args)
        if not spec.needs_config:
            return 0
        setup_logging()
        log.debug("%s %s", verb, " ".join(args))
        import anyio

        from ._malloc import tune_malloc

        tune_malloc()

        anyio.run(_run, verb, args, backend="asyncio", backend_options={"use_uvloop": True})
        return 0
    except BrokenPipeError:
        _silence_stdout()
        return 141
    except BaseException as exc:  # noqa: BLE001 - the process boundary reports everything once
        found = first_plugin_error(exc)
        if isinstance(found, BrokenOutput):
            log.info("%s: %s; stopping", verb, found)
            _silence_stdout()
            return 141
        if found is not None:
            return _fail(found)
        if isinstance(exc, KeyboardInterrupt):
            return _fail(Interrupted(signal.SIGINT))
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        log.error("%s failed unexpectedly:\n%s", verb, trace)
        cause = first_leaf(exc)
        return _fail(GpS3Error(f"{verb} failed: {type(cause).__name__}: {cause}"))


def main_exit() -> None:
    """Console-script wrapper: exit with :func:`main`'s code."""
    sys.exit(main())
