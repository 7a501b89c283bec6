"""The upload journal's files: one small record per open multipart upload, beside the agent's socket.

Where: ``<runtime directory>/uploads/``, the runtime directory being the
agent's socket directory (``$XDG_RUNTIME_DIR/gps3async`` or
``<tmp>/gps3async-<uid>``, mode 0700, :mod:`gps3async.agent.place`).  Every
agent of the user on the host, and every in-process call, records there.

Why one file per upload and not one append-only log: a record is removed
with one ``unlink`` when its upload ends, so nothing ever needs compacting;
processes never write the same file, so they need no lock; and the files
left behind are exactly the uploads left open.  A record is written to a
temporary name, ``fsync``\\ ed and renamed into place (and the directory
``fsync``\\ ed), so a reader only ever sees whole records, and a record
survives its process's SIGKILL (already once ``write`` returns) and, on a
disk-backed directory, a host crash.  On tmpfs (``/run/user``) the ``fsync``\\ s
cost nothing and a reboot empties the directory, which is right: a reboot
ended every process.

The formats and every decision are in :mod:`gps3async.core.journalrecords`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time

import anyio

from ..core.journalrecords import Owner, RecordError, UploadRecord, decode, encode, pid_of_name, record_name, start_time

__all__ = ["UploadJournal", "journal_directory", "process_journal", "running_start", "this_process"]

log = logging.getLogger("gps3async")

#: A record is a few hundred bytes; anything much larger is not one.
MAX_RECORD_BYTES = 64 << 10
#: What a record's ``identity`` says for an in-process call.
IN_PROCESS = "in-process"


def journal_directory(runtime_directory: str) -> str:
    return f"{runtime_directory.rstrip('/')}/uploads"


def _read_text(path: str) -> str:
    with open(path, encoding="ascii", errors="replace") as handle:
        return handle.read(4096)


def running_start(pid: int) -> str | None:
    """The start time of the process with ``pid`` now: ``None`` when none has it (or a zombie does),
    ``""`` when one runs but its start time cannot be read (no ``/proc``)."""
    try:
        text = _read_text(f"/proc/{pid}/stat")
    except FileNotFoundError:
        return None
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except OSError:
            pass  # another user's process: it runs
        return ""
    try:
        if text.rpartition(")")[2].split()[0] == "Z":
            return None  # exited, not yet reaped: its uploads are orphaned already
        return start_time(text)
    except (RecordError, IndexError):
        return ""


@functools.lru_cache(maxsize=1)
def _boot_id() -> str:
    try:
        return _read_text("/proc/sys/kernel/random/boot_id").strip()
    except OSError:
        return ""


@functools.lru_cache(maxsize=1)
def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def this_process() -> Owner:
    """This process as a record names its owner."""
    pid = os.getpid()
    return Owner(os.uname().nodename, _boot_id(), pid, running_start(pid) or "", _pid_namespace())


class UploadJournal:
    """Records the multipart uploads this process opens, in ``directory``, until they end.

    Failing to write a record never fails an upload (the journal is a safety
    net, not the upload); it is logged once per process.
    """

    def __init__(self, directory: str, identity: str) -> None:
        self.directory = directory
        self.identity = identity
        #: This process's open uploads' record paths, by (endpoint, bucket, upload id).
        self._open: dict[tuple[str, str, str], str] = {}
        self._owner: Owner | None = None
        self._warned = False

    @property
    def owner(self) -> Owner:
        if self._owner is None or self._owner.pid != os.getpid():
            self._owner = this_process()
        return self._owner

    async def opened(self, endpoint: str, bucket: str, key: str, upload_id: str) -> None:
        """Record an upload just created, durably, before its first part goes out.

        In a worker thread: an ``fsync`` on a disk may take milliseconds, which
        the agent's other streams should not wait for.
        """
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        record = UploadRecord(endpoint, bucket, key, upload_id, started, self.owner, self.identity)
        try:
            # Shielded: a call cancelled meanwhile still knows its record, and the abort that follows removes it.
            with anyio.CancelScope(shield=True):
                path = await anyio.to_thread.run_sync(self._write, record)
        except OSError as err:
            self._warn(f"cannot record the multipart upload of s3://{bucket}/{key} in {self.directory}: {err}")
            return
        self._open[(endpoint, bucket, upload_id)] = path

    def closed(self, endpoint: str, bucket: str, upload_id: str) -> None:
        """Remove the record of an upload that was completed or aborted (of this process: others' have none)."""
        path = self._open.pop((endpoint, bucket, upload_id), None)
        if path is not None:
            self.remove(path)

    def remove(self, path: str) -> None:
        """Remove a record (one ``unlink``: the directory is not synced, a record that comes back after a crash
        names an upload that is gone, which the sweep finds out and removes)."""
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as err:
            self._warn(f"cannot remove {path}: {err}")

    def _warn(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning("upload journal: %s; an upload this process leaves open when killed is not aborted by the"
                        " next agent", message)  # fmt: skip
        else:
            log.info("upload journal: %s", message)

    def _write(self, record: UploadRecord) -> str:
        owner = record.owner
        name = record_name(owner.pid, record.endpoint, record.bucket, record.upload_id)
        path = f"{self.directory}/{name}"
        temporary = f"{path}.tmp"
        with contextlib.suppress(FileExistsError):
            os.mkdir(self.directory, 0o700)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, encode(record))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
        _sync_directory(self.directory)
        return path

    def entries(self) -> list[tuple[str, UploadRecord | None]]:
        """Every record in the directory (path, record; ``None`` for a file that is no readable record)."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        found: list[tuple[str, UploadRecord | None]] = []
        for name in sorted(names):
            if pid_of_name(name) is None:
                continue
            path = f"{self.directory}/{name}"
            try:
                with open(path, "rb") as handle:
                    data = handle.read(MAX_RECORD_BYTES)
                found.append((path, decode(data)))
            except FileNotFoundError:
                continue  # its upload ended while we looked
            except (OSError, RecordError):
                found.append((path, None))
        return found

    def try_sweep_lock(self) -> int | None:
        """An exclusive lock for one sweep (an open descriptor to close), or ``None`` when another process
        holds it or the directory has none."""
        import fcntl

        try:
            fd = os.open(f"{self.directory}/.sweep.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return fd

    def remove_stale_temporaries(self) -> None:
        """Remove the temporaries of processes that died while writing a record (no upload was recorded)."""
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(self.directory):
                pid = pid_of_name(name[: -len(".tmp")]) if name.endswith(".tmp") else None
                if pid is not None and running_start(pid) is None:
                    self.remove(f"{self.directory}/{name}")


def _sync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def process_journal() -> UploadJournal | None:
    """The journal of an in-process call: the agents' directory, when it can be used (else none)."""
    from ..agent.place import PlaceRefused, environment, socket_directory

    try:
        return UploadJournal(journal_directory(socket_directory(environment())), IN_PROCESS)
    except PlaceRefused:
        return None
