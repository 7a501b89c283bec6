"""The agent's S3 clients: one per store mode, shared by every call the agent serves."""

from __future__ import annotations

import gc
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from ..core.config import PluginConfig
    from ..core.storemodes.settings import StoreModes
    from ..runtime.journal import UploadJournal
    from ..s3.storage import S3Store

__all__ = ["AGENT_CONNECTIONS", "SharedStores"]

#: Connections the shared S3 client may open (calls x requests in flight, made only as needed).
AGENT_CONNECTIONS = 128


class SharedStores:
    """The agent's S3 clients, each made on first use from the first call's config.

    Every call of an agent has the same identity, so the same endpoint,
    credentials, proxy and timeouts: one client per store mode serves them all
    (with ``auto`` modes, one for uploads, in the mode the agent's
    :class:`~gps3async.s3.storemodes.probe.ModeChooser` picked once, and one for restores
    and deletes, which never probe).
    """

    def __init__(self, journal: UploadJournal | None = None) -> None:
        from ..s3.storemodes.probe import ModeChooser

        #: Where every store records the multipart uploads it opens (:mod:`gps3async.runtime.journal`).
        self.journal = journal
        self._stack = AsyncExitStack()
        self._stores: dict[StoreModes, S3Store] = {}
        self._lock = anyio.Lock()
        #: What each store verifies, probed once per agent (``auto`` modes).
        self.chooser = ModeChooser()

    @asynccontextmanager
    async def __call__(
        self, config: PluginConfig, *, concurrency: int, uploads: bool = False
    ) -> AsyncIterator[S3Store]:
        modes = await self.chooser.modes_for(config, uploads=uploads)
        store = self._stores.get(modes)
        if store is None:
            from ..s3.client import open_store

            async with self._lock:
                store = self._stores.get(modes)
                if store is None:
                    opened = open_store(config, concurrency=max(concurrency, AGENT_CONNECTIONS), modes=modes)
                    store = self._stores[modes] = await self._stack.enter_async_context(opened)
                    store.journal = self.journal
                    # botocore's service model and the imports are hundreds of thousands of objects
                    # that live as long as the agent: keep the collector from re-scanning them.
                    gc.freeze()
        yield store

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            await self._stack.aclose()
