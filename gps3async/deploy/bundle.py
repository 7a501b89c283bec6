"""A built bundle: its archive and what its metadata says."""

from __future__ import annotations

import json
import tarfile
from typing import TYPE_CHECKING

from .common import BUNDLE_META, PLUGIN, PROGRAM, DeployError
from .elf import parse_glibc_version

if TYPE_CHECKING:
    from pathlib import Path


class Bundle:
    """A built bundle for one prefix: an interpreter, its libraries and the plugin, packed in one archive."""

    #: The metadata's fields, as ``gps3async-bundle.json`` at the bundle's root names them.
    FIELDS = ("prefix", "version", "python_version", "glibc")

    def __init__(self, path: Path, prefix: str, version: str, python_version: str, glibc: str,
                 client: str = "") -> None:  # fmt: skip
        self.path = path
        self.prefix = prefix
        self.version = version
        self.python_version = python_version
        #: The newest glibc symbol version any of its ELF files needs: the oldest glibc a host may have.
        self.glibc = glibc
        #: Which ``gpbackup_s3_plugin`` it carries, in one line ("" in bundles from before the native client).
        self.client = client

    @classmethod
    def open(cls, path: Path) -> Bundle:
        try:
            with tarfile.open(path, "r:gz") as archive:
                member = archive.extractfile(f"./{BUNDLE_META}")
                meta = json.loads(member.read()) if member else {}
            fields = [str(meta[name]) for name in cls.FIELDS]
            parse_glibc_version(fields[-1])
        except (OSError, tarfile.TarError, KeyError, TypeError, ValueError) as err:
            raise DeployError(f"{path} is not a bundle made by '{PROGRAM} build': {err}") from None
        prefix, version, python_version, glibc = fields
        return cls(path, prefix, version, python_version, glibc, client=str(meta.get("client", "")))

    def meta(self) -> dict[str, str]:
        return {"prefix": self.prefix, "version": self.version, "python_version": self.python_version,
                "glibc": self.glibc, "client": self.client}  # fmt: skip

    @property
    def version_line(self) -> str:
        """What ``--version`` must print on every host."""
        return f"{PLUGIN} version {self.version}"
