"""Fixtures for the fault suite: a :class:`FaultProxy` in front of the session S3 server, and a
plugin runner whose config talks to S3 through it with short timeouts.
"""

from __future__ import annotations

import random
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import BUCKET, Plugin, write_config
from tests.faults.proxy import FaultProxy
from tests.s3server import open_uploads

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.s3server import S3Server

#: The plugin options every fault test runs with (see docs/reliability.md).
FAULT_OPTIONS: dict[str, object] = {
    "read_timeout": 2,
    "connect_timeout": 2,
    "max_attempts": 5,
    "backup_multipart_chunksize": "5MB",
    "restore_multipart_chunksize": "1MB",
    "backup_max_concurrent_requests": 3,
    "restore_max_concurrent_requests": 3,
    # The fault tests script transport faults on the requests of a transfer; ``auto`` modes would add the
    # store-mode probes' requests in front of them.  tests/faults/test_verified_uploads.py tests ``auto``.
    "payload_signing": "unsigned",
    "upload_checksum": "crc32c",
}

MIB = 1024 * 1024


def random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


@dataclass
class FaultRunner(Plugin):
    """A :class:`Plugin` whose config points at ``proxy``; plus helpers the fault tests share."""

    proxy: FaultProxy = field(kw_only=True)
    tmp: Path = field(kw_only=True)

    def make_config(self, name: str, *, endpoint: str | None = None, **overrides: object) -> Path:
        """Another config file: the fault options, ``overrides`` on top (e.g. ``bucket=...``)."""
        return write_config(self.tmp / name, endpoint or self.proxy.endpoint, self.folder,
                            **{**FAULT_OPTIONS, **self.mode_options(), **overrides})  # fmt: skip

    def data_path(self, name: str, timestamp: str = "20261126101500") -> Path:
        """Where gpbackup would name a segment's data file (the key is its last four components)."""
        return self.backup_dir(timestamp) / name

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start the plugin without waiting: ``popen("backup_data", path, stdin=PIPE)``."""
        verb, *rest = args
        argv = [self.executable, verb, str(self.config), *rest]
        env = self.env()
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(argv, env=env, **kwargs)

    def uploads(self, s3: Any) -> list[dict[str, Any]]:
        """Multipart uploads still open under this runner's folder."""
        return open_uploads(s3, BUCKET, self.folder)


@pytest.fixture
def proxy(s3_server: S3Server) -> Iterator[FaultProxy]:
    with FaultProxy(s3_server.port, tls=s3_server.tls) as running:
        yield running


@pytest.fixture
def runner(plugin: Plugin, proxy: FaultProxy, tmp_path: Path) -> FaultRunner:
    config = write_config(tmp_path / "fault_config.yaml", proxy.endpoint, plugin.folder,
                          **{**FAULT_OPTIONS, **plugin.mode_options()})  # fmt: skip
    return FaultRunner(config, plugin.folder, plugin.home, plugin.workdir, plugin.mode, plugin.runtime,
                       plugin.ca_cert, proxy=proxy, tmp=tmp_path)  # fmt: skip
