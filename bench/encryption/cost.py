"""What client-side encryption costs: plugin CPU seconds per GiB, with and without it, in one run.

``python -m bench.encryption.cost --size-mib 256 --runs 3`` starts a local
``rclone serve s3`` (fast mode), then runs ``backup_data`` and ``restore_data``
of the same random bytes in-process (``agent: "off"``, so the plugin's CPU is
its own process's), alternating plain and encrypted calls, and prints the
least CPU time of each and the difference per GiB.  Start-up costs the same
either way and cancels out of the difference; on a loaded machine prefer the
minimum over more runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import tempfile
from pathlib import Path

from bench.harness.common import BIN
from tests.s3server import ACCESS_KEY, SECRET_KEY, make_client, start_rclone

GIB = 1 << 30


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _config(path: Path, endpoint: str, encrypted: bool) -> Path:
    lines = [
        f"executablepath: {BIN}/gpbackup_s3_plugin", "options:", f"  endpoint: {endpoint}",
        f"  aws_access_key_id: {ACCESS_KEY}", f"  aws_secret_access_key: {SECRET_KEY}",
        "  bucket: bench", "  folder: encryption", '  encryption: "off"', '  agent: "off"',
    ]  # fmt: skip
    if encrypted:
        lines += ["  client_side_encryption: aes-256-gcm", "  encryption_key: ${GPS3_BENCH_KEY}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _timed(argv: list[str], stdin: Path | None, stdout: Path) -> float:
    before = _cpu_of_children()
    with open(stdin or os.devnull, "rb") as source, open(stdout, "wb") as sink:
        subprocess.run(argv, stdin=source, stdout=sink, check=True, env=os.environ)
    return _cpu_of_children() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    os.environ["GPS3_BENCH_KEY"] = os.urandom(32).hex()
    with tempfile.TemporaryDirectory(prefix="gps3-enc-bench-") as scratch:
        work = Path(scratch)
        os.environ["HOME"] = str(work)
        server = start_rclone(work / "s3", fast=True)
        try:
            make_client(server.endpoint).create_bucket(Bucket="bench")
            data = work / "data"
            with open(data, "wb") as out:
                for _ in range(options.size_mib):
                    out.write(os.urandom(1 << 20))
            tiny = work / "tiny"
            tiny.write_bytes(b"x")
            path = str(work / "seg" / "backups" / "20261126" / "20261126101500" / "gpbackup_0_20261126101500")
            best: dict[tuple[str, str, bool], float] = {}
            for _ in range(options.runs):
                for source in (data, tiny):
                    for encrypted in (False, True):
                        config = str(_config(work / f"{encrypted}.yaml", server.endpoint, encrypted))
                        argv = [f"{BIN}/gpbackup_s3_plugin", "backup_data", config, path]
                        up = _timed(argv, source, work / "out")
                        argv[1] = "restore_data"
                        down = _timed(argv, None, work / "out")
                        if (work / "out").read_bytes()[:64] != source.read_bytes()[:64]:
                            raise SystemExit("restore_data returned other bytes")
                        for direction, cpu in (("backup_data", up), ("restore_data", down)):
                            key = (source.name, direction, encrypted)
                            best[key] = min(best.get(key, cpu), cpu)
        finally:
            server.stop()
    scale = GIB / (options.size_mib << 20)
    print(f"{options.size_mib} MiB, least CPU of {options.runs} runs, plugin process (in-process calls)")
    for direction in ("backup_data", "restore_data"):
        plain, sealed = best[("data", direction, False)], best[("data", direction, True)]
        fixed = best[("tiny", direction, True)] - best[("tiny", direction, False)]
        print(
            f"{direction:13} plain {plain:.3f} s, encrypted {sealed:.3f} s: +{(sealed - plain) * scale:.3f} CPU s "
            f"per GiB; per call (a 1-byte object) +{fixed:.3f} s, so +{(sealed - plain - fixed) * scale:.3f} "
            "CPU s per GiB streamed"
        )


if __name__ == "__main__":
    main()
