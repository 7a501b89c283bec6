"""Plugin calls as gprestore makes them: ``bash -c "source $GPHOME/greenplum_path.sh && <plugin> ..."``.

gpbackup and gprestore do not exec the plugin: each call is a shell command
line that first sources ``greenplum_path.sh``.  With ``--greenplum-path FILE``
the per-invocation series wrap every argv this way (``exec``, so the plugin
replaces bash and the launcher still reaps the call itself); without it the
argv is exec'd directly.  Pure: no process is started here.
"""

from __future__ import annotations

import shlex

#: The shell gprestore's command lines run in (posix_spawn needs its path: it does not search PATH).
BASH = "/bin/bash"


def through_greenplum_path(greenplum_path: str, argv: list[str]) -> list[str]:
    """``argv`` as gprestore would run it after sourcing ``greenplum_path``; ``argv`` itself when that is empty."""
    if not greenplum_path:
        return argv
    return [BASH, "-c", f"source {shlex.quote(greenplum_path)} && exec {shlex.join(argv)}"]


def greenplum_path_alone(greenplum_path: str) -> list[str]:
    """What every call through ``greenplum_path`` costs before the plugin starts: bash sourcing it, then nothing."""
    return [BASH, "-c", f"source {shlex.quote(greenplum_path)} && true"]
