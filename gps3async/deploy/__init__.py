"""Install the plugin at the same absolute path on every host of a cluster (standard library only).

::

    python3 -m gps3async.deploy wheels  --output DIR [--glibc 2.17] [--python PY]
    python3 -m gps3async.deploy build   --prefix P [--wheels DIR] [--python PY] --output BUNDLE
    python3 -m gps3async.deploy push    BUNDLE [--host H ...] [--hosts-file F]
    python3 -m gps3async.deploy install --prefix P [--wheels DIR] [--python PY] [--host H ...] [--hosts-file F]

``wheels`` downloads every wheel the plugin needs for the oldest glibc of the
cluster (:mod:`.wheels`).  ``build`` installs the plugin and its dependencies
(offline from a directory of wheels, or from this source tree) and packs them
with the interpreter ``PY`` itself, its standard library and every shared
library it loads but the C library's, each ELF file given a run path relative
to itself (:mod:`.interpreter`), into one bundle (a ``.tar.gz``) for ``P``
that runs on any host of the same architecture with no Python at all, and
records the newest glibc symbol version it needs (:mod:`.elf`).  ``push``
reads each host's glibc (refusing, before anything is copied, a host too
old), copies the bundle to every host (``gpsync``, else ``gpscp``, else
``rsync``, else ``scp``), unpacks it beside ``P``, swaps it into place, and
runs ``--version`` there.  ``install`` does both.

Why a directory and not a zipapp: uvloop, httptools, crc32c, cryptography and
aiohttp's and yarl's speed-ups are compiled extensions, which Python cannot
import from inside a zip file, and the thin client starts once per table per
segment: an interpreter run from its own tree starts as fast as any.

The bundle's ``gpbackup_s3_plugin`` is the native client, compiled for the
bundle's interpreter, prefix and glibc floor (:mod:`.native`).  The Python
launcher (``scripts/gpbackup_s3_plugin_python``), which it execs for every
call it cannot hand over, gets the first line
``#!PREFIX/bin/python3 -IS``: the kernel starts the interpreter directly (no
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
