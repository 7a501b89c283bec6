"""The ``verify`` verb: is a backup set in the bucket complete, and is every byte what was written?

The shallow pass (:mod:`.shallow`) lists the set, reads its config and TOCs and
checks each object's record; ``--deep`` (:mod:`.deep`) then reads every object
back through the restore path.  Findings are written to stdout as they are
made, one line each, then a summary; any problem makes the call fail.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import anyio

from ...core.errors import IntegrityError, UsageError
from ...core.verify.findings import Finding, Tally, failure_line
from ...transfer.encryption.keyfiles import load_keyring
from ...transfer.stdio import FdSink
from .deep import OBJECTS_AT_ONCE, read_all
from .shallow import SHALLOW_AT_ONCE, SetCheck

if TYPE_CHECKING:
    from ...core.config import PluginConfig
    from ..invocation import Invocation

__all__ = ["DEEP_FLAG", "verify"]

log = logging.getLogger("gps3async")

DEEP_FLAG = "--deep"


async def verify(inv: Invocation, config: PluginConfig, timestamp: str, flag: str | None) -> None:
    """Check backup ``timestamp``: every file a restore needs is there, and each object matches its record.

    :raises GpS3Error: one line, when anything is missing, different or unreadable.
    """
    if flag not in (None, DEEP_FLAG):
        raise UsageError(f"unknown verify option {flag!r}; usage: verify CONFIG TIMESTAMP [{DEEP_FLAG}]")
    deep = flag is not None
    started = time.monotonic()
    out = FdSink(inv.stdout, "stdout")
    writing = anyio.Lock()  # findings come from concurrent tasks; a line is written whole
    findings: list[Finding] = []
    tally = Tally()

    async def report(finding: Finding) -> None:
        findings.append(finding)
        (log.error if finding.problem else log.warning)("verify %s: %s", timestamp, finding.log_line())
        async with writing:
            await out.write(bytearray(finding.line() + "\n", "utf-8"))

    keyring = load_keyring(config.client_encryption)  # a key file that cannot be used: one line, before any read
    at_once = OBJECTS_AT_ONCE if deep else 1
    async with inv.stores(config, concurrency=max(SHALLOW_AT_ONCE, at_once * config.restore_concurrency)) as store:
        check = SetCheck(store, config, timestamp, report, deep=deep, keyring=keyring)
        objects = await check.shallow()
        for item in objects:
            tally.objects += 1
            tally.bytes += item.size
        if deep:
            await read_all(check, objects, inv.budget, tally)
    tally.count(findings, check.urls)
    summary = tally.summary(timestamp, time.monotonic() - started, deep=deep)
    log.info("%s", summary)
    await out.write(bytearray(summary + "\n", "utf-8"))
    if tally.problems:
        raise IntegrityError(failure_line(timestamp, tally.problems))
