"""The ``check`` verb's report: one line per operation on stdout, with what failed and what succeeded."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TypeVar

from ...core.checkadvice import likely_fix
from ...core.errors import GpS3Error
from ...runtime.groups import first_failure
from ...transfer.stdio import FdSink

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ...core.config import PluginConfig
    from ..invocation import Invocation

T = TypeVar("T")


class Report:
    """The lines on stdout and what failed."""

    def __init__(self, inv: Invocation, config: PluginConfig) -> None:
        self._out = FdSink(inv.stdout, "stdout")
        self._config = config
        self.failed: dict[str, GpS3Error] = {}
        #: Operations that succeeded: a step runs only when everything it needs is here.
        self.done: set[str] = set()

    async def line(self, label: str, status: str, detail: str) -> None:
        await self._out.write(bytearray(f"{label:<24} {status:<7} {detail}\n", "utf-8"))

    async def step(
        self, op: str, action: Callable[[], Awaitable[T]], *, needs: tuple[str, ...] = (),
        describe: Callable[[T], str] | None = None,
    ) -> T | None:  # fmt: skip
        """Run ``action``; one line: ok with its time (and ``describe(value)``), skipped for a failed
        prerequisite, or the failure and its likely fix."""
        missing = [name for name in needs if name not in self.done]
        if missing:
            await self.line(op, "skipped", f"needs {', '.join(missing)}")
            return None
        started = time.monotonic()
        try:
            with first_failure():
                value = await action()
        except GpS3Error as err:
            self.failed[op] = err
            config = self._config
            fix = likely_fix(op, err, bucket=config.bucket, folder=config.folder.rstrip("/"),
                             kms=config.server_side_encryption == "aws:kms")  # fmt: skip
            await self.line(op, "FAILED", f"{err}; likely fix: {fix}")
            return None
        self.done.add(op)
        took = f"{(time.monotonic() - started) * 1000:.0f} ms"
        await self.line(op, "ok", f"{describe(value)} ({took})" if describe else took)
        return value
