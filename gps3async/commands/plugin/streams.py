"""The data-stream verbs: a segment's backup data from stdin, and all or some byte ranges of it to stdout."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anyio

from ...core import keys
from ...core.encryption.format import object_name
from ...core.errors import IntegrityError, LocalIOError
from ...core.integrity.blocks import align_down
from ...core.plan import SUBSET_MAX_GAP, parse_offsets, plan_fetches
from ...runtime.bandwidth import DOWNLOAD, UPLOAD
from ...runtime.buffers import BufferPool
from ...transfer.download import DownloadStats, download_ranges
from ...transfer.encryption.restore import is_encrypted, read_head, restore_encrypted_ranges
from ...transfer.restorecheck import read_record
from ...transfer.stdio import FdSink
from .transfer import _keyring, _one_object, _paced, _restore_fd, _restore_store, _summary, _upload_fd, _url

if TYPE_CHECKING:
    from ...core.config import PluginConfig
    from ...s3.storage import S3Store
    from ..invocation import Invocation


async def backup_data(inv: Invocation, config: PluginConfig, data_path: str) -> None:
    key = keys.object_key(config.folder, data_path)

    async def move(store: S3Store, concurrency: int) -> int:
        return await _upload_fd(inv, store, config, key, inv.stdin, "stdin", concurrency)

    await _one_object(inv, config, "backup_data", key, UPLOAD, move)


async def restore_data(inv: Invocation, config: PluginConfig, data_path: str) -> None:
    key = keys.object_key(config.folder, data_path)

    async def move(store: S3Store, concurrency: int) -> int:
        return await _restore_fd(inv, store, config, key, inv.stdout, "stdout", concurrency)

    await _one_object(inv, config, "restore_data", key, DOWNLOAD, move)


async def restore_data_subset(inv: Invocation, config: PluginConfig, data_path: str, offsets_path: str) -> None:
    """Stream the byte ranges listed in ``offsets_path``, in the order listed."""
    key = keys.object_key(config.folder, data_path)
    try:
        wanted = parse_offsets(await anyio.Path(inv.local(offsets_path)).read_text(encoding="ascii"))
    except (OSError, UnicodeDecodeError) as err:
        raise LocalIOError(f"cannot read offsets file {offsets_path}: {err}") from None
    started = time.monotonic()
    stats = DownloadStats()
    with _paced(inv, config, DOWNLOAD, config.restore_concurrency) as share:
        async with _restore_store(inv, config) as store:
            info, opening = await read_head(store, key)  # one GET: size, ETag and whether it is encrypted
            if is_encrypted(opening):
                size = await restore_encrypted_ranges(
                    store, key, info, opening, wanted, FdSink(inv.stdout, "stdout"), keyring=_keyring(config),
                    name=object_name(config.folder, key), chunksize=config.restore_chunksize,
                    concurrency=config.restore_concurrency, memory=inv.budget, stats=stats,
                )  # fmt: skip
                _summary("restore_data_subset", _url(config, key), size, started, share)
                return
            beyond = [rng for rng in wanted if rng.end > info.object_size]
            if beyond:
                first = beyond[0]
                raise IntegrityError(
                    f"{_url(config, key)} has {info.object_size} bytes; offsets ask for [{first.start}, {first.end})"
                )
            # Every block a GET reads whole is checked before it is written; GETs are widened to whole blocks.
            record = await read_record(store, key, info, fits_first=False, whole=False)
            record.check_size()
            block_size = record.blocks.block_size if record.blocks is not None else 1
            chunksize = align_down(config.restore_chunksize, block_size)
            fetches = plan_fetches(
                wanted, chunksize=chunksize, max_gap=SUBSET_MAX_GAP, block_size=block_size, object_size=info.object_size
            )
            async with BufferPool(config.restore_concurrency + 1, chunksize, inv.budget) as pool:
                await download_ranges(
                    store, key, fetches, FdSink(inv.stdout, "stdout"),
                    pool=pool, concurrency=config.restore_concurrency, etag=info.etag or None, stats=stats,
                    blocks=record.blocks,
                )  # fmt: skip
    _summary("restore_data_subset", _url(config, key), stats.size, started, share)
