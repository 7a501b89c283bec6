"""Install the plugin at the same absolute path on every host of a cluster (standard library only).

::

    python3 -m gps3async.deploy build   --prefix P [--wheels DIR] [--python PY] --output BUNDLE
    python3 -m gps3async.deploy push    BUNDLE [--host H ...] [--hosts-file F]
    python3 -m gps3async.deploy install --prefix P [--wheels DIR] [--python PY] [--host H ...] [--hosts-file F]

``build`` makes a virtual environment for ``P`` in a scratch directory, installs
the plugin and its dependencies into it (offline from a directory of wheels, or
from this source tree), rewrites every path that names the scratch directory
to ``P`` and packs the result into one bundle (a ``.tar.gz``).  ``push`` checks
each host's interpreter, copies the bundle to every host (``gpsync``, else
``gpscp``, else ``rsync``, else ``scp``), unpacks it beside ``P``, swaps it into
place, and runs ``--version`` there.  ``install`` does both.

Why a virtual environment and not a zipapp: uvloop, httptools, crc32c and
aiohttp's and yarl's speed-ups are compiled extensions, which Python cannot import from
inside a zip file, and the thin client starts once per table per segment: a
venv's interpreter starts as fast as a bare one.  The cost is that a venv
points at its base interpreter, so every host needs the same Python at the
same path (cluster hosts are built alike; ``push`` checks it).

The plugin's launcher (``scripts/gpbackup_s3_plugin``) gets the first line
``#!PREFIX/bin/python -IS``: the kernel starts the interpreter directly (no
shell in between), isolated (``-I``: ``greenplum_path.sh``, which gpbackup
sources before calling the plugin, exports ``PYTHONPATH`` and on Greenplum 6
``PYTHONHOME`` for Greenplum's own Python, and either would break or hijack the
plugin's interpreter) and without ``site`` (``-S``: half of the interpreter's
start-up, which the thin client does not need).  Linux passes everything after
the interpreter as one argument, and ``-IS`` is one.

Hosts come from ``--host``/``--hosts-file``, else from ``gp_segment_configuration``
through ``psql``.  A host given as an absolute directory stands in for a host
(tests, staging): the install lands in ``<directory><prefix>``, and commands run
locally instead of over ssh.
"""

from __future__ import annotations

from .build import LAUNCHER_LINE, build
from .bundle import Bundle
from .cli import main
from .common import DeployError
from .hosts import cluster_hosts, read_hosts_file
from .push import push

__all__ = ["LAUNCHER_LINE", "Bundle", "DeployError", "build", "cluster_hosts", "main", "push", "read_hosts_file"]
