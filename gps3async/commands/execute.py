"""One plugin call, from argv to exit code: the part both front doors share.

The in-process command line (:mod:`gps3async.cli`) and the agent
(:mod:`gps3async.agent.server`) each own their process, their signals and
where cancellation comes from; both hand the verb's arguments and an
:class:`~gps3async.commands.invocation.Invocation` to :func:`run_verb`, and both turn
whatever it raised into one stderr line and an exit code with :func:`report`.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import traceback
from typing import TYPE_CHECKING

from ..core.errors import BrokenOutput, ConfigError, GpS3Error, UsageError, first_plugin_error
from ..runtime.groups import first_leaf
from ..runtime.logs import PROGRAM, VERBOSE, enabled, log_level, use_level
from ..verbs import ANSWER_ONLY, SCOPED_USAGE, SCOPES, VERBS, Verb

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ..core.config import PluginConfig
    from .invocation import Invocation

__all__ = ["BROKEN_PIPE_EXIT", "Interrupted", "check_arguments", "report", "run_verb"]

log = logging.getLogger("gps3async")
#: What a process killed by SIGPIPE would exit with; gpbackup_helper expects a quiet stop.
BROKEN_PIPE_EXIT = 141


class Interrupted(GpS3Error):
    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.exit_code = 128 + signum


def _usage() -> str:
    verbs = ", ".join([*ANSWER_ONLY, *VERBS])
    return f"usage: {PROGRAM} VERB ARGS... where VERB is one of {verbs} ({PROGRAM} --help says more)"


def check_arguments(verb: str, args: list[str]) -> Verb:
    """:raises UsageError: for an unknown verb, a wrong argument count, scope or content id."""
    spec = VERBS.get(verb)
    if spec is None:
        raise UsageError(f"unknown command {verb!r}; {_usage()}")
    if not spec.accepts(args):
        raise UsageError(f"wrong number of arguments; usage: {PROGRAM} {verb} {spec.usage}")
    if verb == "check" and len(args) == 2 and args[1] != "--abort-uploads":
        raise UsageError(f"unknown check option {args[1]!r}; usage: {PROGRAM} check {spec.usage}")
    if verb == "verify" and len(args) == 3 and args[2] != "--deep":
        raise UsageError(f"unknown verify option {args[2]!r}; usage: {PROGRAM} verify {spec.usage}")
    if spec.usage == SCOPED_USAGE:
        if args[2] not in SCOPES:
            raise UsageError(f"unknown scope {args[2]!r}; expected one of {', '.join(SCOPES)}")
        if len(args) == 4:
            from ..core.keys import content_id

            content_id(args[3])
    return spec


#: Warnings this process (an agent, or one in-process call) has logged once already.
_said_once: set[str] = set()


def _say_literal_secret_once(config: PluginConfig) -> None:
    """Log, once per process, that gpbackup copies a literal secret of the config (never on stderr)."""
    if config.exposed_secrets and "literal secret" not in _said_once:
        _said_once.add("literal secret")
        from ..core.configcopy import literal_secret_warning

        log.warning("%s", literal_secret_warning(config.exposed_secrets))


def _dispatch(inv: Invocation, verb: str, args: list[str], config: PluginConfig) -> Callable[[], Awaitable[None]]:
    from . import plugin as c
    from .check import check
    from .verify.run import verify

    def opt(index: int) -> str | None:
        return args[index] if len(args) > index else None

    table: dict[str, Callable[[], Awaitable[None]]] = {
        "setup_plugin_for_backup": lambda: c.setup_plugin_for_backup(inv, config, args[1], args[2]),
        "setup_plugin_for_restore": lambda: c.setup_plugin_for_restore(inv, config, args[1], args[2]),
        "backup_file": lambda: c.backup_file(inv, config, args[1]),
        "restore_file": lambda: c.restore_file(inv, config, args[1]),
        "backup_data": lambda: c.backup_data(inv, config, args[1]),
        "restore_data": lambda: c.restore_data(inv, config, args[1]),
        "restore_data_subset": lambda: c.restore_data_subset(inv, config, args[1], args[2]),
        "delete_backup": lambda: c.delete_backup(inv, config, args[1]),
        "list_directory": lambda: c.list_directory(inv, config, opt(1)),
        "delete_directory": lambda: c.delete_directory(inv, config, args[1]),
        "backup_directory": lambda: c.backup_directory(inv, config, args[1], opt(2)),
        "restore_directory": lambda: c.restore_directory(inv, config, args[1], opt(2)),
        "check": lambda: check(inv, config, args[0], opt(1)),
        "verify": lambda: verify(inv, config, args[1], opt(2)),
    }
    table["backup_directory_parallel"] = table["backup_directory"]
    table["restore_directory_parallel"] = table["restore_directory"]
    return table[verb]


async def run_verb(inv: Invocation, verb: str, args: list[str], *, config_text: str | None = None) -> None:
    """Validate and run one verb (its arguments already checked by :func:`check_arguments`).

    ``config_text`` is the config file's content when the caller already read
    it (the thin client sends it to the agent); otherwise the file is read.
    """
    from ..core.configfile import load_config
    from ..core.keys import validate_timestamp

    spec = VERBS[verb]
    if verb in ("delete_backup", "verify"):
        validate_timestamp(args[1])
    if config_text is None:
        config = load_config(inv.local(args[0]), for_backup=spec.for_backup, source=args[0])
    else:
        config = _parsed(config_text, args[0], for_backup=spec.for_backup)
    use_level(log_level(config))
    if spec.for_backup and verb != "check":  # check prints it on stdout instead
        _say_literal_secret_once(config)
    if enabled(VERBOSE):
        from ..s3.client import describe_settings

        log.log(VERBOSE, "%s: %s", verb, describe_settings(config))
    await _dispatch(inv, verb, args, config)()


@functools.lru_cache(maxsize=16)
def _parsed(text: str, source: str, *, for_backup: bool) -> PluginConfig:
    """The agent parses each distinct config once (about 0.4 ms of YAML per call otherwise).

    Safe to cache: a config's meaning depends only on its text and the process
    environment, and an agent's environment is part of its identity.  Errors
    are not cached; an invalid config is reported on every call.
    """
    from ..core.configfile import parse_config

    return parse_config(text, source, for_backup=for_backup)


def _write_line(fd: int, text: str) -> None:
    data = text.encode("utf-8", "replace")
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:
        pass  # nobody left to read it; the exit code still says it failed


def fail(err: GpS3Error, stderr: int) -> int:
    """Log ``err`` and write its line(s) to ``stderr``; return its exit code."""
    lines = [f"{err.source}: {p}" for p in err.problems] if isinstance(err, ConfigError) else [str(err)]
    for line in lines:
        log.error("%s", line)
    _write_line(stderr, "".join(f"{PROGRAM}: {line}\n" for line in lines))
    return err.exit_code


def report(exc: BaseException, verb: str, stderr: int) -> int:
    """The exit code for a call that raised ``exc``, after its one explanatory stderr line.

    A reader that closed stdout is not an error worth a line: the call stops
    quietly with :data:`BROKEN_PIPE_EXIT`, as a process killed by SIGPIPE would.
    """
    if isinstance(exc, BrokenPipeError):
        return BROKEN_PIPE_EXIT
    found = first_plugin_error(exc)
    if isinstance(found, BrokenOutput):
        log.info("%s: %s; stopping", verb, found)
        return BROKEN_PIPE_EXIT
    if found is not None:
        return fail(found, stderr)
    if isinstance(exc, KeyboardInterrupt):
        return fail(Interrupted(signal.SIGINT), stderr)
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    log.error("%s failed unexpectedly:\n%s", verb, trace)
    cause = first_leaf(exc)
    return fail(GpS3Error(f"{verb} failed: {type(cause).__name__}: {cause}"), stderr)
