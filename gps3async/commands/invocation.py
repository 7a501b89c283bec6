"""One call of the plugin as the verbs see it, whichever front door it came through.

A call made in-process uses the process's own descriptors, working directory
and a fresh S3 client; a call served by the agent uses the descriptors the thin
client passed over its socket, the client's working directory, the agent's
warm S3 client and its host-wide memory budget.  :mod:`gps3async.commands.plugin`
only ever sees an :class:`Invocation`, so both paths run the same code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from ..core.config import PluginConfig
    from ..runtime.bandwidth import HostBandwidth
    from ..runtime.buffers import MemoryBudget
    from ..s3.storage import S3Store

__all__ = ["Invocation", "StoreOpener"]


class StoreOpener(Protocol):
    """Gives an :class:`S3Store` for a config, its connections sized for ``concurrency`` requests.

    ``uploads``: the store will upload data, so ``auto`` store modes must be
    chosen (:mod:`gps3async.s3.storemodes.probe`); restores and deletes never need that.
    """

    def __call__(
        self, config: PluginConfig, *, concurrency: int, uploads: bool = False
    ) -> AbstractAsyncContextManager[S3Store]: ...


@dataclass(frozen=True)
class Invocation:
    """Where one call's bytes come from and go, and how it reaches S3."""

    stdin: int
    stdout: int
    stderr: int
    #: The caller's working directory: relative local paths are opened against it.
    cwd: str
    stores: StoreOpener
    #: The agent's host-wide buffer budget; ``None`` in-process (the pool alone bounds memory).
    budget: MemoryBudget | None = None
    #: The agent's host-wide bandwidth budgets and back-off; ``None`` in-process (each call makes its own).
    bandwidth: HostBandwidth | None = None
    #: The caller's umask for files it restores; ``None``: this process's own applies.
    umask: int | None = None

    def local(self, path: str) -> str:
        """``path`` as the caller meant it (keys are still built from the text as given)."""
        return os.path.join(self.cwd, path)
