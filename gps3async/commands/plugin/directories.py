"""The directory verbs: every file below a directory up, or every object under a prefix down, some at once."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from ...core import keys
from ...core.errors import LocalIOError, UsageError
from ...core.integrity.checksums import DIGEST_SUFFIX
from ...runtime.bandwidth import DOWNLOAD, UPLOAD
from ...runtime.groups import first_failure
from .files import _download_path, _upload_path
from .transfer import _backup_store, _paced, _restore_store, _summary

if TYPE_CHECKING:
    from collections.abc import Callable

    from ...core.config import PluginConfig
    from ..invocation import Invocation


#: Files moved at once by the ``*_directory_parallel`` verbs when not told.
DIRECTORY_PARALLEL = 5


def _is_bookkeeping(key: str) -> bool:
    """Directory markers and digest companions are not files to restore."""
    return key.endswith(("/", DIGEST_SUFFIX))


def _parallel(raw: str | None) -> int:
    if raw is None:
        return DIRECTORY_PARALLEL
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise UsageError(f"PARALLEL must be a positive integer, not {raw!r}")
    return value


async def _each(items: list[str], parallel: int, job: Callable[[str], object]) -> None:
    """Run ``job`` over ``items`` with at most ``parallel`` at once; the first failure cancels the rest."""
    limiter = anyio.CapacityLimiter(parallel)

    async def one(item: str) -> None:
        async with limiter:
            await job(item)  # type: ignore[misc]

    with first_failure():
        async with anyio.create_task_group() as tg:
            for item in items:
                tg.start_soon(one, item)


def _files_below(inv: Invocation, directory: str) -> list[str]:
    """Every file below ``directory``, spelt from ``directory`` as given (keys are built from that text)."""
    root = inv.local(directory)
    if not os.path.isdir(root):
        raise LocalIOError(f"{directory} is not a directory")
    found = (path.relative_to(root) for path in Path(root).rglob("*") if path.is_file())
    return sorted(str(Path(directory) / relative) for relative in found)


async def backup_directory(inv: Invocation, config: PluginConfig, directory: str, parallel: str | None) -> None:
    """Upload every file below ``directory``, each under its own path as key (see :func:`keys.directory_key`)."""
    files = await anyio.to_thread.run_sync(_files_below, inv, directory)
    started = time.monotonic()
    total = 0
    with _paced(inv, config, UPLOAD, _parallel(parallel)) as share:
        async with _backup_store(inv, config) as store:

            async def job(path: str) -> None:
                nonlocal total
                total += await _upload_path(inv, store, config, keys.directory_key(path), path, 1)

            await _each(files, _parallel(parallel), job)
    _summary("backup_directory", f"{directory} ({len(files)} files)", total, started, share)


async def restore_directory(inv: Invocation, config: PluginConfig, directory: str, parallel: str | None) -> None:
    """Download every object under the prefix ``directory`` into ``directory`` (by base name)."""
    started = time.monotonic()
    total = 0
    with _paced(inv, config, DOWNLOAD, _parallel(parallel)) as share:
        async with _restore_store(inv, config) as store:
            prefix = keys.directory_key(directory)
            found = [item.key async for item in store.list_objects(prefix) if not _is_bookkeeping(item.key)]

            async def job(key: str) -> None:
                nonlocal total
                total += await _download_path(inv, store, config, key, f"{directory}/{key.rsplit('/', 1)[-1]}", 1)

            await _each(found, _parallel(parallel), job)
    _summary("restore_directory", f"{directory} ({len(found)} files)", total, started, share)
