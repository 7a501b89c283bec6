"""What every transfer verb shares: its store, its share of the host's bandwidth, its summary line, the
client-side encryption keys, and moving one descriptor's bytes to or from an object (sealed or opened)."""

from __future__ import annotations

import logging
import os
import time
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING

from ...core.encryption.format import object_name
from ...runtime.bandwidth import UPLOAD, HostBandwidth, StreamShare, shared_backoff
from ...s3.storage.reads import breaks_survived, count_breaks
from ...transfer.download import restore_object
from ...transfer.encryption.keyfiles import load_keyring
from ...transfer.encryption.streams import CIPHER_STREAM_BYTES, OpeningSink, sealing_source
from ...transfer.stdio import FdSink, FdSource
from ...transfer.upload import ByteSource, upload_stream

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

    from ...core.config import PluginConfig
    from ...core.encryption.keys import Keyring
    from ...s3.storage import S3Store
    from ..invocation import Invocation

log = logging.getLogger("gps3async")


def _summary(verb: str, where: str, size: int, started: float, share: StreamShare) -> None:
    seconds = max(time.monotonic() - started, 1e-9)
    survived = breaks_survived()
    broken = f"; survived {survived} broken bodies (resumed)" if survived else ""
    log.info("%s %s: %d bytes in %.3f s (%.2f MB/s); %s%s", verb, where, size, seconds, size / seconds / 1e6,
             share.describe(), broken)  # fmt: skip


@contextmanager
def _paced(inv: Invocation, config: PluginConfig, direction: str, concurrency: int) -> Iterator[StreamShare]:
    """The transfer's share of the host's bandwidth budget and back-off (:mod:`gps3async.runtime.bandwidth`).

    The agent's is shared by every stream it serves; in-process the call makes
    its own, so a limit applies to this one stream, and the log says so.
    """
    count_breaks()  # the summary line says how many broken bodies the transfer's reads resumed
    host = inv.bandwidth
    if host is None:
        host = HostBandwidth(
            config.host_upload_limit,
            config.host_download_limit,
            shared_backoff=shared_backoff(os.environ),
            max_attempts=config.max_attempts,
        )
        option = "host_upload_limit" if direction == UPLOAD else "host_download_limit"
        limit = config.host_upload_limit if direction == UPLOAD else config.host_download_limit
        if limit:
            log.info("running in-process: %s of %d bytes/s applies to this stream alone", option, limit)
    with host.stream(direction, concurrency) as share:
        yield share


async def _one_object(
    inv: Invocation,
    config: PluginConfig,
    verb: str,
    key: str,
    direction: str,
    move: Callable[[S3Store, int], Awaitable[int]],
) -> None:
    """One whole-object transfer: its bandwidth share, its store, ``move(store, concurrency)``, its summary line."""
    upload = direction == UPLOAD
    concurrency = config.backup_concurrency if upload else config.restore_concurrency
    started = time.monotonic()
    with _paced(inv, config, direction, concurrency) as share:
        async with _backup_store(inv, config) if upload else _restore_store(inv, config) as store:
            size = await move(store, concurrency)
    _summary(verb, _url(config, key), size, started, share)


def _url(config: PluginConfig, key: str) -> str:
    return f"s3://{config.bucket}/{key}"


def _keyring(config: PluginConfig) -> Keyring | None:
    """The client-side encryption keys, key files read now (a file replaced under a live agent counts)."""
    return load_keyring(config.client_encryption)


@asynccontextmanager
async def _backup_store(inv: Invocation, config: PluginConfig, *, uploads: bool = True) -> AsyncIterator[S3Store]:
    async with inv.stores(config, concurrency=config.backup_concurrency, uploads=uploads) as store:
        yield store


@asynccontextmanager
async def _restore_store(inv: Invocation, config: PluginConfig) -> AsyncIterator[S3Store]:
    async with inv.stores(config, concurrency=config.restore_concurrency) as store:
        yield store


async def _upload_fd(
    inv: Invocation, store: S3Store, config: PluginConfig, key: str, fd: int, name: str, concurrency: int
) -> int:
    """Upload ``fd`` to ``key``, sealed when client-side encryption is on; return the bytes read from ``fd``."""
    source: ByteSource = FdSource(fd, name)
    keyring = _keyring(config)
    sealed = None
    if keyring is not None:
        source = sealed = sealing_source(source, keyring, object_name(config.folder, key), store.url(key))
    stats = await upload_stream(
        store, key, source, chunksize=config.backup_chunksize, concurrency=concurrency, memory=inv.budget,
        extra_memory=CIPHER_STREAM_BYTES if sealed is not None else 0,
    )  # fmt: skip
    return stats.size if sealed is None else sealed.plain_bytes


async def _restore_fd(
    inv: Invocation, store: S3Store, config: PluginConfig, key: str, fd: int, name: str, concurrency: int
) -> int:
    """Restore a whole object to ``fd``: a plain one as it is, an encrypted one opened (never its ciphertext)."""
    keyring = _keyring(config)
    sink = OpeningSink(FdSink(fd, name), keyring, object_name(config.folder, key), store.url(key))
    await restore_object(
        store, key, sink, chunksize=config.restore_chunksize, concurrency=concurrency, memory=inv.budget,
        extra_memory=CIPHER_STREAM_BYTES if keyring is not None else 0,  # only a keyring's sink opens segments
    )  # fmt: skip
    await sink.finish()
    return sink.plain_bytes
