"""A built bundle: its archive and what its metadata says."""

from __future__ import annotations

import json
import tarfile
from typing import TYPE_CHECKING

from .common import BUNDLE_META, PLUGIN, PROGRAM, DeployError

if TYPE_CHECKING:
    from pathlib import Path


class Bundle:
    """A built, relocated virtual environment packed for one prefix."""

    def __init__(self, path: Path, prefix: str, version: str, python: str, python_version: str) -> None:
        self.path = path
        self.prefix = prefix
        self.version = version
        #: The base interpreter the venv points at; every host needs it at this path.
        self.python = python
        self.python_version = python_version

    @classmethod
    def open(cls, path: Path) -> Bundle:
        try:
            with tarfile.open(path, "r:gz") as archive:
                member = archive.extractfile(f"./{BUNDLE_META}")
                meta = json.loads(member.read()) if member else {}
            fields = [str(meta[name]) for name in ("prefix", "version", "python", "python_version")]
        except (OSError, tarfile.TarError, KeyError, TypeError, ValueError) as err:
            raise DeployError(f"{path} is not a bundle made by '{PROGRAM} build': {err}") from None
        return cls(path, *fields)

    @property
    def version_line(self) -> str:
        """What ``--version`` must print on every host."""
        return f"{PLUGIN} version {self.version}"
