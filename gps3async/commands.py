"""One coroutine per plugin verb: orchestration of config, keys, pipelines and S3.

Verbs get a validated :class:`~gps3async.config.PluginConfig` and their
positional arguments from :mod:`gps3async.cli`; they log one summary line per
transfer and raise :mod:`gps3async.errors` exceptions on failure.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from . import keys
from ._groups import first_failure
from .bandwidth import DOWNLOAD, UPLOAD, HostBandwidth, StreamShare, shared_backoff
from .buffers import BufferPool
from .checksums import DIGEST_SUFFIX
from .download import DownloadStats, download_ranges, restore_object
from .encryption import OpeningSink, load_keyring, object_name, sealing_source
from .encryption.restore import is_encrypted, read_head, restore_encrypted_ranges
from .errors import AccessDenied, IntegrityError, LocalIOError, UsageError
from .integrity.blocks import align_down
from .plan import SUBSET_MAX_GAP, parse_offsets, plan_fetches
from .restorecheck import read_record
from .stdio import FdSink, FdSource
from .upload import ByteSource, upload_stream

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    from .config import PluginConfig
    from .encryption.keys import Keyring
    from .invocation import Invocation
    from .storage import S3Store

__all__ = [
    "DIRECTORY_PARALLEL",
    "backup_data",
    "backup_directory",
    "backup_file",
    "delete_backup",
    "delete_directory",
    "list_directory",
    "restore_data",
    "restore_data_subset",
    "restore_directory",
    "restore_file",
    "setup_plugin_for_backup",
    "setup_plugin_for_restore",
]

log = logging.getLogger("gps3async")
#: Files moved at once by the ``*_directory_parallel`` verbs when not told.
DIRECTORY_PARALLEL = 5
_WRITE_SCOPES = ("coordinator", "master", "segment_host")


def _summary(verb: str, where: str, size: int, started: float, share: StreamShare) -> None:
    seconds = max(time.monotonic() - started, 1e-9)
    log.info("%s %s: %d bytes in %.3f s (%.2f MB/s); %s", verb, where, size, seconds, size / seconds / 1e6,
             share.describe())  # fmt: skip


@contextmanager
def _paced(inv: Invocation, config: PluginConfig, direction: str, concurrency: int) -> Iterator[StreamShare]:
    """The transfer's share of the host's bandwidth budget and back-off (:mod:`gps3async.bandwidth`).

    The agent's is shared by every stream it serves; in-process the call makes
    its own, so a limit applies to this one stream, and the log says so.
    """
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


def _url(config: PluginConfig, key: str) -> str:
    return f"s3://{config.bucket}/{key}"


def _keyring(config: PluginConfig) -> Keyring | None:
    """The client-side encryption keys, key files read now (a file replaced under a live agent counts)."""
    return load_keyring(config.client_encryption)


class _NoBytes:
    """An empty :class:`~gps3async.upload.ByteSource` (the placeholder report, encrypted like the rest)."""

    async def readinto(self, buf: bytearray) -> int:
        return 0


@asynccontextmanager
async def _backup_store(inv: Invocation, config: PluginConfig, *, uploads: bool = True) -> AsyncIterator[S3Store]:
    async with inv.stores(config, concurrency=config.backup_concurrency, uploads=uploads) as store:
        yield store


@asynccontextmanager
async def _restore_store(inv: Invocation, config: PluginConfig) -> AsyncIterator[S3Store]:
    async with inv.stores(config, concurrency=config.restore_concurrency) as store:
        yield store


async def setup_plugin_for_backup(inv: Invocation, config: PluginConfig, local_dir: str, scope: str) -> None:
    """Prove write access by writing the backup's (still empty) report object."""
    if scope not in _WRITE_SCOPES:
        return
    key = keys.report_key(config.folder, local_dir)
    keyring = _keyring(config)
    async with _backup_store(inv, config) as store:
        if keyring is None:
            await store.put_object(key, b"", metadata={})
        else:
            source = sealing_source(_NoBytes(), keyring, object_name(config.folder, key), store.url(key))
            await upload_stream(store, key, source, chunksize=config.backup_chunksize, concurrency=1)
    log.info("setup_plugin_for_backup %s: write access confirmed with %s", scope, _url(config, key))


async def setup_plugin_for_restore(inv: Invocation, config: PluginConfig, local_dir: str, scope: str) -> None:
    """Prove the bucket exists and the folder can be read."""
    if scope not in _WRITE_SCOPES:
        return
    _keyring(config)  # a key file that cannot be used fails the restore here, before any data moves
    async with _restore_store(inv, config) as store:
        await store.probe_read(f"{config.folder}/")
    log.info("setup_plugin_for_restore %s: read access confirmed for %s", scope, _url(config, config.folder))


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
    )  # fmt: skip
    return stats.size if sealed is None else sealed.plain_bytes


async def _restore_fd(
    inv: Invocation, store: S3Store, config: PluginConfig, key: str, fd: int, name: str, concurrency: int
) -> int:
    """Restore a whole object to ``fd``: a plain one as it is, an encrypted one opened (never its ciphertext)."""
    sink = OpeningSink(FdSink(fd, name), _keyring(config), object_name(config.folder, key), store.url(key))
    await restore_object(
        store, key, sink, chunksize=config.restore_chunksize, concurrency=concurrency, memory=inv.budget
    )
    await sink.finish()
    return sink.plain_bytes


async def backup_data(inv: Invocation, config: PluginConfig, data_path: str) -> None:
    key = keys.object_key(config.folder, data_path)
    started = time.monotonic()
    with _paced(inv, config, UPLOAD, config.backup_concurrency) as share:
        async with _backup_store(inv, config) as store:
            size = await _upload_fd(inv, store, config, key, inv.stdin, "stdin", config.backup_concurrency)
    _summary("backup_data", _url(config, key), size, started, share)


async def restore_data(inv: Invocation, config: PluginConfig, data_path: str) -> None:
    key = keys.object_key(config.folder, data_path)
    started = time.monotonic()
    with _paced(inv, config, DOWNLOAD, config.restore_concurrency) as share:
        async with _restore_store(inv, config) as store:
            size = await _restore_fd(inv, store, config, key, inv.stdout, "stdout", config.restore_concurrency)
    _summary("restore_data", _url(config, key), size, started, share)


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


async def _upload_path(
    inv: Invocation, store: S3Store, config: PluginConfig, key: str, path: str, concurrency: int
) -> int:
    try:
        fd = os.open(inv.local(path), os.O_RDONLY)
    except OSError as err:
        raise LocalIOError(f"cannot open {path}: {err.strerror}") from None
    try:
        return await _upload_fd(inv, store, config, key, fd, path, concurrency)
    finally:
        os.close(fd)


async def backup_file(inv: Invocation, config: PluginConfig, path: str) -> None:
    """Upload a local file; the file itself stays where it is."""
    key = keys.object_key(config.folder, path)
    started = time.monotonic()
    with _paced(inv, config, UPLOAD, config.backup_concurrency) as share:
        async with _backup_store(inv, config) as store:
            size = await _upload_path(inv, store, config, key, path, config.backup_concurrency)
    _summary("backup_file", _url(config, key), size, started, share)


@contextmanager
def _atomic_file(path: str, *, shown_as: str, umask: int | None) -> Iterator[int]:
    """A temporary file beside ``path`` that replaces it only after a complete, synced write."""
    target = Path(path)
    path = shown_as
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.gps3async-{os.getpid()}.part")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        if umask is not None:  # the caller's umask, not the agent's
            os.fchmod(fd, 0o644 & ~umask)
    except OSError as err:
        raise LocalIOError(f"cannot create {path}: {err.strerror}") from None
    try:
        yield fd
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(temp, target)
    except BaseException as err:
        if fd >= 0:
            os.close(fd)
        temp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise LocalIOError(f"writing {path} failed: {err.strerror}") from None
        raise


async def _download_path(
    inv: Invocation, store: S3Store, config: PluginConfig, key: str, path: str, concurrency: int
) -> int:
    with _atomic_file(inv.local(path), shown_as=path, umask=inv.umask) as fd:
        return await _restore_fd(inv, store, config, key, fd, path, concurrency)


async def restore_file(inv: Invocation, config: PluginConfig, path: str) -> None:
    """Download to ``path``; on any failure no file (and no temporary) is left."""
    key = keys.object_key(config.folder, path)
    started = time.monotonic()
    with _paced(inv, config, DOWNLOAD, config.restore_concurrency) as share:
        async with _restore_store(inv, config) as store:
            size = await _download_path(inv, store, config, key, path, config.restore_concurrency)
    _summary("restore_file", _url(config, key), size, started, share)


async def _delete_prefix(store: S3Store, config: PluginConfig, prefix: str) -> int:
    doomed = [item.key async for item in store.list_objects(prefix)]
    await store.delete_objects(doomed)
    log.info("deleted %d objects under %s", len(doomed), _url(config, prefix))
    return len(doomed)


async def delete_backup(inv: Invocation, config: PluginConfig, timestamp: str) -> None:
    """Delete every object of backup ``timestamp`` and nothing else, and abort its unfinished uploads.

    An upload left open by a backup that died (killed host, lost network) is
    invisible to listings but billed; it belongs to the backup being deleted.
    """
    prefix = keys.backup_prefix(config.folder, timestamp)
    async with _backup_store(inv, config, uploads=False) as store:
        try:
            uploads = await store.list_uploads(prefix)
        except AccessDenied as err:  # the objects can still go; say what is left
            log.warning("%s; unfinished uploads under %s are not aborted", err, _url(config, prefix))
            uploads = []
        for upload in uploads:
            await store.abort_multipart_upload(upload.key, upload.upload_id)
            where = _url(config, upload.key)
            log.info("aborted unfinished multipart upload of %s (started %s)", where, upload.initiated)
        await _delete_prefix(store, config, prefix)


async def delete_directory(inv: Invocation, config: PluginConfig, prefix: str) -> None:
    """Delete every object under ``prefix``, which must lie inside the configured folder."""
    scoped = keys.scoped_delete_prefix(config.folder, prefix)
    async with _backup_store(inv, config, uploads=False) as store:
        await _delete_prefix(store, config, scoped)


async def list_directory(inv: Invocation, config: PluginConfig, prefix: str | None) -> None:
    """Write a two-column table (key, size in bytes) of every object under ``prefix`` to stdout."""
    async with _restore_store(inv, config) as store:
        rows = [(item.key, str(item.size)) async for item in store.list_objects(prefix or config.folder)]
    rows = [row for row in rows if not row[0].endswith("/")]
    width = max([len("NAME"), *(len(name) for name, _ in rows)])
    lines = [f"{'NAME':<{width}}  SIZE(bytes)\n", *(f"{name:<{width}}  {size}\n" for name, size in rows)]
    await FdSink(inv.stdout, "stdout").write(bytearray("".join(lines), "utf-8"))


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
