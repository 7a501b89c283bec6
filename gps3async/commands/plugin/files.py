"""The file verbs: one local file up or down; a download replaces its file only after a complete, synced write."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from ...core import keys
from ...core.configcopy import MAX_COPY_BYTES, REDACTED, is_plugin_config_copy, redacted_copy
from ...core.errors import LocalIOError
from ...runtime.bandwidth import DOWNLOAD, UPLOAD
from .transfer import _one_object, _restore_fd, _upload_fd, _url

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ...core.config import PluginConfig
    from ...s3.storage import S3Store
    from ..invocation import Invocation

log = logging.getLogger("gps3async")


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


async def _upload_bytes(
    inv: Invocation, store: S3Store, config: PluginConfig, key: str, data: bytes, path: str, concurrency: int
) -> int:
    """Upload ``data`` (a few hundred bytes) through the same path as a file's, from an anonymous file."""
    fd = os.memfd_create("gps3async-upload", os.MFD_CLOEXEC)
    try:
        if os.write(fd, data) != len(data):
            raise LocalIOError(f"cannot stage {path} for upload: short write")
        os.lseek(fd, 0, os.SEEK_SET)
        return await _upload_fd(inv, store, config, key, fd, path, concurrency)
    finally:
        os.close(fd)


def _redacted_config_copy(local: str) -> bytes | None:
    """gpbackup's copy of the plugin config with its literal secrets redacted; ``None``: upload the file as it is."""
    try:
        with open(local, "rb") as handle:
            data = handle.read(MAX_COPY_BYTES + 1)
    except OSError:
        return None  # the upload reports why it cannot be opened
    return redacted_copy(data)


async def backup_file(inv: Invocation, config: PluginConfig, path: str) -> None:
    """Upload a local file; the file itself stays where it is.

    gpbackup's copy of the plugin config is stored with its literal secrets
    redacted (:mod:`gps3async.core.configcopy`: nothing reads them back).
    """
    key = keys.object_key(config.folder, path)
    redacted = None
    if is_plugin_config_copy(path):
        redacted = await anyio.to_thread.run_sync(_redacted_config_copy, inv.local(path))
        if redacted is not None:
            log.info("backup_file: %s is stored with its literal secrets replaced by %s", _url(config, key), REDACTED)

    async def move(store: S3Store, concurrency: int) -> int:
        if redacted is not None:
            return await _upload_bytes(inv, store, config, key, redacted, path, concurrency)
        return await _upload_path(inv, store, config, key, path, concurrency)

    await _one_object(inv, config, "backup_file", key, UPLOAD, move)


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

    async def move(store: S3Store, concurrency: int) -> int:
        return await _download_path(inv, store, config, key, path, concurrency)

    await _one_object(inv, config, "restore_file", key, DOWNLOAD, move)
