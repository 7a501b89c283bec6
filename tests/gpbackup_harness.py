"""A gpbackup-faithful driver of the plugin: every call gpbackup, gpbackup_helper and gprestore make, no database.

Each call is the command string gpbackup builds (utils/plugin.go, backup/data.go,
restore/data.go, helper/backup_helper.go, helper/restore_helper.go), run the way
it runs it:

- hooks and checks through ``bash -c "source $GPHOME/greenplum_path.sh && ..."``,
  the segment scope's content id in escaped quotes (``\\"0\\"``), once for the
  coordinator (scope ``master``, content ``-1``), once per segment host, once
  per segment;
- the config copied to ``/tmp/<timestamp>_<config name>`` with ``pgport`` and
  ``backup_plugin_version`` injected, written the way Go's yaml.v2 marshals it
  (keys sorted, strings quoted where YAML would read something else);
- ``--single-data-file``: every segment's gpbackup_helper streams its tables at
  once into ``bash -c "<plugin> backup_data <config> <file>"`` and records the
  byte range of each table in its segment TOC, then gpbackup uploads the TOCs;
- per-table: ``COPY ... TO PROGRAM '<gzip -c -1 | or zstd --compress -3 -c |>
  <plugin> backup_data <config> <file>'`` on every segment at once (PostgreSQL
  runs COPY programs with ``sh -c`` in the segment's data directory);
- the coordinator's metadata, TOC, config, report and the plugin config (its
  ``/tmp`` copy, as gpbackup copies it) through ``backup_file``, then the
  cleanup hooks;
- gprestore with its own timestamp, after every local backup directory is wiped:
  ``restore_file`` for the coordinator's files and the segment TOCs, then
  ``restore_data`` (or ``restore_data_subset`` with an offsets file built from a
  segment TOC, when ``restore_subset`` is on and only some tables are restored)
  and per-table ``restore_data | gzip -d -c``.

gpbackup_helper treats any stderr output of the plugin as an error; so does
every call here.  ``GPHOME`` is a directory of this driver's with a
``greenplum_path.sh`` like Greenplum 7's (it exports ``PYTHONPATH``).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

GREENPLUM_PATH = """\
GPHOME="$(cd "$(dirname "${BASH_SOURCE[0]}")" >/dev/null 2>&1 && pwd)"
PYTHONPATH="${GPHOME}/lib/python"
PATH="${GPHOME}/bin:${PATH}"
LD_LIBRARY_PATH="${GPHOME}/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export GPHOME PATH PYTHONPATH LD_LIBRARY_PATH
"""
#: gpbackup's pipe-through programs (utils/compression.go) at the levels this harness uses.
COMPRESSION = {
    None: ("", "", ""),
    "gzip": ("gzip -c -1", "gzip -d -c", ".gz"),
    "zstd": ("zstd --compress -3 -c", "zstd --decompress -c", ".zst"),
}
COORDINATOR = -1
PLUGIN_NAME = "gpbackup_s3_plugin"


class PluginCallFailed(AssertionError):
    """A plugin call exited non-zero or wrote to stderr (gpbackup_helper fails on either)."""


@dataclass
class Backup:
    """What one gpbackup run left: its timestamp, the plugin version it recorded and the segment TOCs."""

    timestamp: str
    plugin_version: str
    single_data_file: bool
    compression: str | None
    #: content -> oid -> (start, end) in that segment's single data file.
    tocs: dict[int, dict[int, tuple[int, int]]] = field(default_factory=dict)
    #: The coordinator's files, by name, with the bytes gpbackup wrote.
    coordinator_files: dict[str, bytes] = field(default_factory=dict)


def go_yaml(executable: str, options: Mapping[str, str]) -> str:
    """The plugin config as gpbackup's ``yaml.Marshal(plugin)`` writes it."""

    def scalar(value: str) -> str:
        plain = value != "" and value[0] not in "'\"!&*%@`#|>{[-?:, " and ": " not in value
        if plain:
            try:
                plain = yaml.safe_load(value) == value
            except yaml.YAMLError:
                plain = False
        return value if plain else json.dumps(value)

    lines = [f"executablepath: {scalar(executable)}", "options:"]
    lines += [f"  {key}: {scalar(options[key])}" for key in sorted(options)]
    return "\n".join(lines) + "\n"


def table_name(oid: int) -> str:
    return f"t{oid}"


def coordinator_toc(tables: Mapping[int, Mapping[int, bytes]]) -> str:
    """The coordinator's ``gpbackup_<ts>_toc.yaml`` as gpbackup's ``toc.TOC`` marshals it (data entries filled)."""
    first = next(iter(tables.values()))

    def copied(oid: int) -> int:
        return sum(per_content.get(oid, b"").count(b"\n") for per_content in tables.values())

    entries = [
        {"schema": "public", "name": table_name(oid), "oid": oid, "attributestring": "(oid,n,payload)",
         "rowscopied": copied(oid),
         "partitionroot": "", "isreplicated": False, "distbyenum": False}
        for oid in first
    ]  # fmt: skip
    document = {"globalentries": [], "predataentries": [], "postdataentries": [], "statisticsentries": [],
                "dataentries": entries, "incrementalmetadata": {"ao": {}}}  # fmt: skip
    return yaml.safe_dump(document, sort_keys=False)


def backup_config(backup: Backup, tables: Mapping[int, Mapping[int, bytes]], plugin_version: str,
                  overrides: Mapping[str, object] | None = None) -> str:  # fmt: skip
    """``gpbackup_<ts>_config.yaml``: history.BackupConfig as yaml.v2 marshals it (field names lower-cased).

    ``overrides`` replaces fields (an incremental's ``incremental`` and ``restoreplan``, ``databasename``...).
    """
    ts = backup.timestamp
    fqns = [f"public.{table_name(oid)}" for oid in next(iter(tables.values()))]
    document = {
        "backupdir": "", "backupversion": "1.30.5", "compressed": backup.compression is not None,
        "compressiontype": backup.compression or "", "databasename": "demo",
        "databaseversion": "7.1.0 build commit:e7c2b1f14bb42a1018ac57d14f4436880e0a0515",
        "segmentcount": len(tables), "dataonly": False, "datedeleted": "", "excluderelations": [],
        "excludeschemafiltered": False, "excludeschemas": [], "excludetablefiltered": False, "includerelations": [],
        "includeschemafiltered": False, "includeschemas": [], "includetablefiltered": False, "incremental": False,
        "leafpartitiondata": False, "metadataonly": False, "plugin": PLUGIN_NAME, "pluginversion": plugin_version,
        "restoreplan": [{"timestamp": ts, "tablefqns": fqns}], "singledatafile": backup.single_data_file,
        "timestamp": ts, "endtime": ts, "withoutglobals": False, "withstatistics": False, "status": "Success",
    }  # fmt: skip
    document.update(overrides or {})
    return yaml.safe_dump(document, sort_keys=False)


class Cluster:
    """A Greenplum cluster's directories and processes, without the database.

    ``hosts`` maps each segment host to its content ids; the coordinator is one
    more host.  All of them are this machine, so "copying to every host" writes
    one file in ``/tmp`` (as it would on each real host).
    """

    def __init__(self, root: Path, user_config: Path, env: Mapping[str, str],
                 hosts: Mapping[str, Sequence[int]] | None = None) -> None:  # fmt: skip
        self.root = root
        self.hosts = dict(hosts or {"sdw1": [0, 1], "sdw2": [2]})
        self.contents = [content for contents in self.hosts.values() for content in contents]
        self.gphome = root / "gphome"
        (self.gphome / "lib" / "python").mkdir(parents=True, exist_ok=True)
        (self.gphome / "greenplum_path.sh").write_text(GREENPLUM_PATH)
        self.env = {
            **env,
            "GPHOME": str(self.gphome),
            "PYTHONPATH": str(self.gphome / "lib" / "python"),
            "PATH": f"{self.gphome / 'bin'}:{env.get('PATH', os.defpath)}",
        }
        # The user's config, under a name of its own: gpbackup copies it to /tmp/<timestamp>_<name>.
        self.user_config = root / f"s3_{uuid.uuid4().hex[:8]}.yaml"
        self.user_config.write_text(user_config.read_text())
        document = yaml.load(
            self.user_config.read_text(), Loader=yaml.BaseLoader
        )  # every scalar as text, as Go reads it
        self.executable = str(document["executablepath"])
        self.options = {str(key): "" if value is None else str(value) for key, value in document["options"].items()}
        self.config_copies: list[Path] = []
        self.calls: list[str] = []

    # ------------------------------------------------------------------ layout

    def data_dir(self, content: int) -> Path:
        return self.root / ("coordinator/gpseg-1" if content == COORDINATOR else f"primary/gpseg{content}")

    def port(self, content: int) -> int:
        return 5432 if content == COORDINATOR else 6000 + content

    def backup_dir(self, content: int, timestamp: str) -> Path:
        return self.data_dir(content) / "backups" / timestamp[:8] / timestamp

    def segment_toc(self, content: int, timestamp: str) -> Path:
        return self.backup_dir(content, timestamp) / f"gpbackup_{content}_{timestamp}_toc.yaml"

    def data_file(self, content: int, backup: Backup, oid: int | None = None) -> Path:
        name = f"gpbackup_{content}_{backup.timestamp}" + ("" if oid is None else f"_{oid}")
        return self.backup_dir(content, backup.timestamp) / (name + COMPRESSION[backup.compression][2])

    def wipe_local_backups(self) -> None:
        """Remove every local backup directory, as on a cluster restored from nothing but S3."""
        for content in [COORDINATOR, *self.contents]:
            for path in sorted((self.data_dir(content) / "backups").rglob("*"), reverse=True):
                path.rmdir() if path.is_dir() else path.unlink()

    # ------------------------------------------------------------------ running the plugin

    def _source(self) -> str:
        return f"source {self.gphome}/greenplum_path.sh && "

    def _check(self, command: str, result: subprocess.CompletedProcess[bytes]) -> bytes:
        if result.returncode != 0 or result.stderr:
            raise PluginCallFailed(
                f"{command!r} exited {result.returncode}, stderr {result.stderr.decode(errors='replace')!r}"
            )
        return result.stdout

    def bash(self, command: str, *, stdin: bytes = b"", cwd: Path | None = None) -> bytes:
        """``exec.Command("bash", "-c", command)`` as gpbackup and gpbackup_helper run plugin calls."""
        self.calls.append(command)
        result = subprocess.run(["bash", "-c", command], input=stdin, capture_output=True, env=self.env,
                                cwd=cwd or self.root, timeout=300, check=False)  # fmt: skip
        return self._check(command, result)

    def concurrently(self, jobs: Sequence[tuple[list[str], str, bytes, Path]]) -> list[bytes]:
        """Start every ``(argv, command, stdin, cwd)`` at once (one per segment), feed and drain each in a thread."""
        processes = []
        for argv, command, _, cwd in jobs:
            self.calls.append(command)
            processes.append(subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE, env=self.env, cwd=cwd))  # fmt: skip
        outcomes: list[tuple[bytes, bytes] | None] = [None] * len(jobs)

        def drive(index: int) -> None:
            outcomes[index] = processes[index].communicate(jobs[index][2], timeout=300)

        threads = [threading.Thread(target=drive, args=(index,)) for index in range(len(jobs))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        results = []
        for (argv, command, _, _), process, outcome in zip(jobs, processes, outcomes):
            assert outcome is not None
            results.append(self._check(command, subprocess.CompletedProcess(argv, process.returncode, *outcome)))
        return results

    # ------------------------------------------------------------------ gpbackup's steps

    def _check_plugin_on_all_hosts(self) -> str:
        """CheckPluginExistsOnAllHosts: plugin_api_version and --version on every host, all alike."""
        hosts = ["mdw", *self.hosts]
        apis = {self.bash(f"{self._source()}{self.executable} plugin_api_version").decode().strip() for _ in hosts}
        assert len(apis) == 1, f"plugin API version differs across hosts: {apis}"
        (api,) = apis
        assert tuple(int(part) for part in api.split(".")) >= (0, 3, 0), f"plugin API {api} is below gpbackup's 0.3.0"
        versions = {self.bash(f"{self._source()}{self.executable} --version").decode().strip() for _ in hosts}
        assert len(versions) == 1, f"plugin --version differs across hosts: {versions}"
        (answer,) = versions
        words = answer.split(" ")
        assert len(words) == 3, f"--version answered {answer!r}, not three words"
        return words[2]

    def _copy_config_to_all_hosts(self, timestamp: str, plugin_version: str) -> str:
        """CopyPluginConfigToAllHosts: one file per host with a port of that host, rsync'ed to /tmp/<ts>_<name>."""
        config_path = Path("/tmp") / f"{timestamp}_{self.user_config.name}"
        self.config_copies.append(config_path)
        for host, contents in {"mdw": [COORDINATOR], **self.hosts}.items():
            options = {**self.options, "pgport": str(self.port(contents[0])),
                       "backup_plugin_version": plugin_version}  # fmt: skip
            per_host = Path(f"{config_path}_{time.time_ns()}_{contents[0]}")
            per_host.write_text(go_yaml(self.executable, options))
            # rsync -e ssh <file> <host>:<config path>; rm <file>  (every host is this machine)
            self.calls.append(f"rsync -e ssh {per_host} {host}:{config_path}; rm {per_host}")
            per_host.replace(config_path)
        return str(config_path)

    def _hook(self, verb: str, config: str, timestamp: str) -> None:
        """executeHook: coordinator (scope master, content -1), each segment host, then each segment."""

        def hook(content: int, scope: str, with_id: bool) -> str:
            content_id = f'\\"{content}\\"' if with_id else ""
            return (f"source {self.gphome}/greenplum_path.sh && {self.executable} {verb} {config} "
                    f"{self.backup_dir(content, timestamp)} {scope} {content_id}")  # fmt: skip

        self.bash(hook(COORDINATOR, "master", True))
        for contents in self.hosts.values():
            self.bash(hook(contents[0], "segment_host", False))
        for content in self.contents:
            self.bash(hook(content, "segment", True))

    def _backup_file(self, config: str, path: Path) -> None:
        """MustBackupFile, then gpbackup's chmod 0755 of the local file."""
        self.bash(f"{self.executable} backup_file {config} {path}")
        path.chmod(0o755)

    def backup(self, tables: Mapping[int, Mapping[int, bytes]], *, single_data_file: bool,
               compression: str | None = None, timestamp: str | None = None,
               config_fields: Mapping[str, object] | None = None) -> Backup:  # fmt: skip
        """gpbackup of ``tables`` (content -> oid -> the rows COPY writes on that segment).

        ``config_fields`` replaces fields of the backup's config file (:func:`backup_config`).
        """
        timestamp = timestamp or time.strftime("%Y%m%d%H%M%S")
        for content in [COORDINATOR, *self.contents]:
            self.backup_dir(content, timestamp).mkdir(parents=True)
        version = self._check_plugin_on_all_hosts()
        config = self._copy_config_to_all_hosts(timestamp, "")
        backup = Backup(timestamp, version, single_data_file, compression)
        self._hook("setup_plugin_for_backup", config, timestamp)
        if single_data_file:
            self._single_data_file_backup(backup, config, tables)
        else:
            self._per_table_backup(backup, config, tables)
        coordinator = self.backup_dir(COORDINATOR, timestamp)
        files = {
            f"gpbackup_{timestamp}_metadata.sql": b"CREATE TABLE public.t1 (a int);\n" * 500,
            f"gpbackup_{timestamp}_toc.yaml": coordinator_toc(tables).encode(),
            # backup.go copies the config it runs with (the /tmp copy, pgport included), then backs the copy up
            f"gpbackup_{timestamp}_plugin_config.yaml": Path(config).read_bytes(),
            f"gpbackup_{timestamp}_config.yaml": backup_config(backup, tables, version, config_fields).encode(),
            f"gpbackup_{timestamp}_report": f"Backup Report\nTimestamp Key: {timestamp}\n".encode(),
        }
        for name, content in files.items():
            (coordinator / name).write_bytes(content)
            self._backup_file(config, coordinator / name)
        backup.coordinator_files = files
        self._hook("cleanup_plugin_for_backup", config, timestamp)
        return backup

    def _single_data_file_backup(self, backup: Backup, config: str, tables: Mapping[int, Mapping[int, bytes]]) -> None:
        jobs = []
        for content in self.contents:
            stream, offset, toc = b"", 0, {}
            for oid, rows in tables[content].items():
                toc[oid] = (offset, offset + len(rows))
                stream, offset = stream + rows, offset + len(rows)
            backup.tocs[content] = toc
            command = f"{self.executable} backup_data {config} {self.data_file(content, backup)}"
            jobs.append((["bash", "-c", command], command, stream, self.root))
        self.concurrently(jobs)  # startBackupPluginCommand in every segment's gpbackup_helper
        for content, toc in backup.tocs.items():
            path = self.segment_toc(content, backup.timestamp)
            entries = {oid: {"startbyte": start, "endbyte": end} for oid, (start, end) in toc.items()}
            path.write_text(yaml.safe_dump({"dataentries": entries}))
            self.bash(f"{self._source()}{self.executable} backup_file {config} {path} && chmod 0755 {path}")

    def _per_table_backup(self, backup: Backup, config: str, tables: Mapping[int, Mapping[int, bytes]]) -> None:
        through = COMPRESSION[backup.compression][0]
        for oid in tables[self.contents[0]]:  # one COPY ... ON SEGMENT per table, all segments at once
            jobs = []
            for content in self.contents:
                send = f"| {self.executable} backup_data {config}"
                program = f"{through or 'cat -'} {send} {self.data_file(content, backup, oid)}"
                jobs.append((["sh", "-c", program], program, tables[content][oid], self.data_dir(content)))
            self.concurrently(jobs)

    # ------------------------------------------------------------------ gprestore's steps

    def restore(self, backup: Backup, *, only: Sequence[int] | None = None) -> dict[int, dict[int, bytes]]:
        """gprestore of ``backup`` (of the tables ``only``, when given); returns content -> oid -> rows."""
        timestamp = time.strftime("%Y%m%d%H%M%S")
        version = self._check_plugin_on_all_hosts()
        assert version, "gprestore needs the plugin's version"
        config = self._copy_config_to_all_hosts(timestamp, backup.plugin_version)
        self._hook("setup_plugin_for_restore", config, backup.timestamp)
        coordinator = self.backup_dir(COORDINATOR, backup.timestamp)
        coordinator.mkdir(parents=True, exist_ok=True)
        order = ["config.yaml", "metadata.sql", "report", "toc.yaml"]
        for suffix in order:
            path = coordinator / f"gpbackup_{backup.timestamp}_{suffix}"
            self.bash(f"{self.executable} restore_file {config} {path}")
            assert path.read_bytes() == backup.coordinator_files[path.name], f"{path.name} differs"
        if backup.single_data_file:
            for content in self.contents:
                path = self.segment_toc(content, backup.timestamp)
                self.bash(f"mkdir -p {path.parent} && {self._source()}{self.executable} restore_file {config} {path}")
                entries = yaml.safe_load(path.read_text())["dataentries"]
                toc = {int(oid): (entry["startbyte"], entry["endbyte"]) for oid, entry in entries.items()}
                assert toc == backup.tocs[content], f"segment {content}'s TOC differs"
            restored = self._single_data_file_restore(backup, config, only)
        else:
            restored = self._per_table_restore(backup, config, only)
        self._hook("cleanup_plugin_for_restore", config, backup.timestamp)
        return restored

    def _single_data_file_restore(self, backup: Backup, config: str,
                                  only: Sequence[int] | None) -> dict[int, dict[int, bytes]]:  # fmt: skip
        subset = only is not None and self.options.get("restore_subset") == "on" and backup.compression is None
        jobs, offsets_files, wanted = [], [], {}
        for content in self.contents:
            toc = backup.tocs[content]
            oids = list(only) if only is not None else list(toc)
            wanted[content] = oids
            data = self.data_file(content, backup)
            if subset:  # startRestorePluginCommand: an offsets file of this segment's tables, in restore order
                handle, name = tempfile.mkstemp(prefix="gprestore_offsets_", dir="/tmp")
                with os.fdopen(handle, "w") as offsets:
                    offsets.write(f"{len(oids)}" + "".join(f" {toc[oid][0]} {toc[oid][1]}" for oid in oids))
                offsets_files.append(Path(name))
                command = f"{self.executable} restore_data_subset {config} {data} {name}"
            else:
                command = f"{self.executable} restore_data {config} {data}"
            jobs.append((["bash", "-c", command], command, b"", self.root))
        try:
            streams = self.concurrently(jobs)
        finally:
            for path in offsets_files:  # gpbackup_helper leaves them in /tmp; this harness tidies up
                path.unlink()
        restored: dict[int, dict[int, bytes]] = {}
        for content, stream in zip(self.contents, streams):
            toc = backup.tocs[content]
            restored[content] = {}
            position = 0
            for oid in wanted[content]:
                start, end = toc[oid]
                if not subset:  # the whole file came back: the helper seeks through it
                    position = start
                restored[content][oid] = stream[position : position + end - start]
                position += end - start
            if subset:
                assert position == len(stream), "restore_data_subset sent more than the ranges asked for"
        return restored

    def _per_table_restore(self, backup: Backup, config: str,
                           only: Sequence[int] | None) -> dict[int, dict[int, bytes]]:  # fmt: skip
        through = COMPRESSION[backup.compression][1] or "cat -"
        toc = self.backup_dir(COORDINATOR, backup.timestamp) / f"gpbackup_{backup.timestamp}_toc.yaml"
        entries = yaml.safe_load(toc.read_text())["dataentries"]
        oids = list(only) if only is not None else [int(entry["oid"]) for entry in entries]
        restored: dict[int, dict[int, bytes]] = {content: {} for content in self.contents}
        for oid in oids:  # COPY ... FROM PROGRAM '<plugin> restore_data <config> <file> | <decompress>' ON SEGMENT
            jobs = []
            for content in self.contents:
                read = f"{self.executable} restore_data {config}"
                program = f"{read} {self.data_file(content, backup, oid)} | {through}"
                jobs.append((["sh", "-c", program], program, b"", self.data_dir(content)))
            for content, rows in zip(self.contents, self.concurrently(jobs)):
                restored[content][oid] = rows
        return restored

    # ------------------------------------------------------------------ what must not be left behind

    def plugin_processes(self) -> list[str]:
        """Command lines of plugin client processes still running with one of this cluster's configs."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            words = [word.decode(errors="replace") for word in argv]
            if any(word.endswith(PLUGIN_NAME) for word in words[:2]) and any(
                word in {str(path) for path in self.config_copies} for word in words
            ):
                found.append(shlex.join(words))
        return found

    def temporary_files(self) -> list[Path]:
        """Partial downloads the plugin would have left beside a target."""
        return sorted(self.root.rglob("*.gps3async-*.part"))

    def remove_config_copies(self) -> None:
        """gpbackup leaves /tmp/<timestamp>_<name> on every host; a test should not."""
        for path in self.config_copies:
            path.unlink(missing_ok=True)
        assert not list(Path("/tmp").glob(f"*_{self.user_config.name}_*")), "a per-host config copy was left"
