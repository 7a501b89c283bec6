"""``--help``, ``-h`` and ``help`` through the installed ``gpbackup_s3_plugin``: a page on stdout, exit 0.

No config and no S3: the thin client answers them itself, so no agent starts.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from gps3async.usage import SUMMARIES
from gps3async.verbs import VERBS
from tests.conftest import plugin_executable


def run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(home / "run")}
    return subprocess.run([plugin_executable(), *args], capture_output=True, text=True, env=env, timeout=60,
                          check=False)  # fmt: skip


def test_help_prints_every_verb_and_where_the_options_are(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    pages = set()
    for asked in ("--help", "-h", "help"):
        result = run(asked, home=tmp_path)
        assert (result.returncode, result.stderr) == (0, ""), result.stderr
        pages.add(result.stdout)
    (page,) = pages
    assert page.startswith("usage: gpbackup_s3_plugin VERB")
    for verb, summary in SUMMARIES.items():
        assert f"  {verb}" in page and summary.splitlines()[0] in page
    assert len(SUMMARIES) == len(VERBS) + 2
    assert "aws_secret_access_key" in page and "docs/operators-guide.md" in page and "'Config options'" in page
    assert list((tmp_path / "run").iterdir()) == [], "help starts no agent"
    assert not (tmp_path / "gpAdminLogs").exists(), "help writes no log"


def test_unknown_verbs_still_fail_in_one_line(tmp_path: Path) -> None:
    for args in (["--helpme"], ["help", "backup_data"], ["-H"]):
        result = run(*args, home=tmp_path)
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.count("\n") == 1 and "unknown command" in result.stderr, result.stderr
        assert "--help says more" in result.stderr
