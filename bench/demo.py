"""``make demo``: one gpbackup-style backup and restore through the plugin, on an embedded S3 server.

It starts ``rclone serve s3`` on 127.0.0.1, writes a plugin config, then calls
the installed ``gpbackup_s3_plugin`` exactly as gpbackup and gprestore do (one
process per verb): setup, ``backup_file`` of a metadata file, ``backup_data``
of a generated segment stream from a pipe, ``list_directory``, then
``restore_file`` and ``restore_data`` into a pipe, checking every byte, then
a burst of small per-table calls (where the per-host agent pays off),
``delete_backup`` and the cleanup hook, after which the agent exits.  It
prints each step with its throughput and removes everything it made.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import IO

from tests.s3server import installed_tool, start_rclone, write_plugin_config

MIB = 1024 * 1024
TIMESTAMP = "20261126101500"
#: Small tables backed up and restored one call each, as gpbackup does without --single-data-file.
SMALL_TABLES = 20


def plugin_executable() -> str:
    return installed_tool("gpbackup_s3_plugin", "-e .")


def step(message: str, size: int | None, started: float) -> None:
    seconds = time.monotonic() - started
    rate = f"  {size / seconds / 1e6:8.1f} MB/s" if size else ""
    amount = f"{size / MIB:9.1f} MiB" if size is not None else " " * 13
    print(f"  {message:<44} {amount} {seconds:7.2f} s{rate}", flush=True)


def run(env: dict[str, str], *args: str, stdin: bytes = b"") -> bytes:
    result = subprocess.run([plugin_executable(), *args], input=stdin, capture_output=True, env=env, check=False)
    if result.returncode != 0 or result.stderr:
        raise SystemExit(f"demo: {args[0]} failed: {result.stderr.decode().strip()}")
    return result.stdout


def pump_random(pipe: IO[bytes], size: int, digest: hashlib._Hash) -> None:
    """Feed ``size`` random bytes into the plugin's stdin, as a segment's COPY stream would."""
    block = os.urandom(4 * MIB)
    sent = 0
    with pipe:
        while sent < size:
            piece = block[: min(len(block), size - sent)]
            # Vary the data so no two blocks are equal (nothing compresses or dedups).
            piece = sent.to_bytes(8, "little") + piece[8:]
            pipe.write(piece)
            digest.update(piece)
            sent += len(piece)


def backup_data(env: dict[str, str], config: Path, path: Path, size: int) -> str:
    digest = hashlib.sha256()
    started = time.monotonic()
    proc = subprocess.Popen([plugin_executable(), "backup_data", str(config), str(path)], stdin=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)  # fmt: skip
    assert proc.stdin is not None and proc.stderr is not None
    feeder = threading.Thread(target=pump_random, args=(proc.stdin, size, digest))
    feeder.start()
    err = proc.stderr.read()
    feeder.join()
    if proc.wait() != 0 or err:
        raise SystemExit(f"demo: backup_data failed: {err.decode().strip()}")
    step("backup_data    (stdin pipe -> S3)", size, started)
    return digest.hexdigest()


def restore_data(env: dict[str, str], config: Path, path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    started = time.monotonic()
    proc = subprocess.Popen([plugin_executable(), "restore_data", str(config), str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    size = 0
    while chunk := proc.stdout.read(4 * MIB):
        digest.update(chunk)
        size += len(chunk)
    err = proc.stderr.read()
    if proc.wait() != 0 or err:
        raise SystemExit(f"demo: restore_data failed: {err.decode().strip()}")
    step("restore_data   (S3 -> stdout pipe)", size, started)
    return size, digest.hexdigest()


def per_table_calls(env: dict[str, str], config: Path, backup_dir: Path) -> None:
    """One ``backup_data`` and one ``restore_data`` per small table, timing each call."""
    seconds: list[float] = []
    for table in range(SMALL_TABLES):
        path = str(backup_dir / f"gpbackup_0_{TIMESTAMP}_{16384 + table}")
        payload = os.urandom(4096)
        started = time.monotonic()
        run(env, "backup_data", str(config), path, stdin=payload)
        seconds.append(time.monotonic() - started)
        started = time.monotonic()
        restored = run(env, "restore_data", str(config), path)
        seconds.append(time.monotonic() - started)
        if restored != payload:
            raise SystemExit(f"demo: table {table} restored differently")
    print(f"  {2 * SMALL_TABLES} per-table calls (4 KiB each, one process per call): "
          f"median {statistics.median(seconds) * 1000:.0f} ms per call")  # fmt: skip


def agent_pids(runtime: Path) -> list[int]:
    """The agents running for the demo, from the pid files beside their sockets."""
    texts = [path.read_text().strip() for path in (runtime / "gps3async").glob("*.pid")]
    return [int(text) for text in texts if text.isdigit() and Path(f"/proc/{text}").exists()]


def wait_for_agents_to_exit(runtime: Path, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while (pids := agent_pids(runtime)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:  # it did not go on its own: do not leave it behind
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def demo(size: int, workdir: Path) -> None:
    server = start_rclone(workdir / "s3", fast=True)
    try:
        (workdir / "s3" / "demo-bucket").mkdir()
        runtime = workdir / "run"  # the demo's own agent socket directory
        runtime.mkdir()
        env = {**os.environ, "HOME": str(workdir / "home"), "XDG_RUNTIME_DIR": str(runtime)}
        config = workdir / "s3_config.yaml"
        write_plugin_config(config, plugin_executable(), server.endpoint, "demo-bucket", "demo/cluster1")
        backup_dir = workdir / "seg0" / "backups" / TIMESTAMP[:8] / TIMESTAMP
        backup_dir.mkdir(parents=True)
        print(f"S3 server: rclone serve s3 at {server.endpoint} (bucket demo-bucket, folder demo/cluster1)")
        print(f"plugin:    {plugin_executable()} ({run(env, '--version').decode().strip()})\n")
        started = time.monotonic()
        run(env, "setup_plugin_for_backup", str(config), str(backup_dir), "coordinator", "-1")
        step("setup_plugin_for_backup (write check)", None, started)
        metadata = backup_dir / f"gpbackup_{TIMESTAMP}_metadata.sql"
        metadata.write_bytes(b"CREATE TABLE public.t (i int);\n" * 20000)
        started = time.monotonic()
        run(env, "backup_file", str(config), str(metadata))
        step("backup_file    (metadata.sql)", metadata.stat().st_size, started)
        data_path = backup_dir / f"gpbackup_0_{TIMESTAMP}"
        sent = backup_data(env, config, data_path, size)
        listing = run(env, "list_directory", str(config)).decode()
        print("\n" + "".join(f"    {line}\n" for line in listing.splitlines()))
        original = metadata.read_bytes()
        metadata.unlink()
        started = time.monotonic()
        run(env, "restore_file", str(config), str(metadata))
        step("restore_file   (metadata.sql)", len(original), started)
        assert metadata.read_bytes() == original, "restored metadata differs"
        got, received = restore_data(env, config, data_path)
        if (got, received) != (size, sent):
            raise SystemExit(f"demo: restored {got} bytes with sha256 {received}, expected {size} / {sent}")
        per_table_calls(env, config, backup_dir)
        started = time.monotonic()
        run(env, "delete_backup", str(config), TIMESTAMP)
        step("delete_backup", None, started)
        served_by = agent_pids(runtime)
        run(env, "cleanup_plugin_for_backup", str(config), str(backup_dir), "coordinator", "-1")
        wait_for_agents_to_exit(runtime)
        if served_by:
            print(f"  the calls were served by agent pid {served_by[0]}, which exited after the cleanup hook")
        print(f"\nOK: {size / MIB:.0f} MiB backed up and restored byte for byte (sha256 {sent[:16]}...)")
        logs = sorted((workdir / "home" / "gpAdminLogs").glob("*.log"))
        if logs:
            print(f"plugin log (last lines of {logs[-1].name}):")
            print("".join(f"    {line}\n" for line in logs[-1].read_text().splitlines()[-3:]), end="")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=512, help="size of the segment stream (default 512)")
    size = parser.parse_args().size_mib * MIB
    with tempfile.TemporaryDirectory(prefix="gps3async-demo-") as workdir:
        demo(size, Path(workdir))


if __name__ == "__main__":
    main()
