"""A real Ceph RADOS Gateway for the tests: a one-node cluster from Debian's packages.

One monitor, one OSD whose objects live in memory (``memstore``) and one
``radosgw`` whose ``beast`` front end listens on 127.0.0.1 twice: plain HTTP
and TLS (a fresh self-signed certificate, which is its own CA).  No manager:
RGW does not need one.  Every port is chosen free per run, never Ceph's
defaults (3300, 6789, 7480), so a developer's own cluster keeps running.

Starting takes a few seconds of waiting on the monitor, the OSD and the
gateway; :func:`start_rgw` does only what RGW needs (the keys of every daemon
are in the monitor's keyring before it first starts, placement groups are one
per pool, the gateway starts while the OSD is still coming up) and polls
every 0.1 s.  :meth:`RGWCluster.stop` kills the daemons (their data is in
memory and thrown away) and removes the data directory; the logs stay in
``<dir>/log`` for failures.  A watchdog process kills the daemons too when
the process that owns the cluster (the test session) goes away, however it
goes, so no daemon outlives the session.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.s3server import ACCESS_KEY, REGION, SECRET_KEY, free_port, self_signed_certificate

#: The Debian packages a one-node RGW needs, and the command of each that the suite runs.
PACKAGES = {
    "ceph-mon": ("ceph-mon", "monmaptool"),
    "ceph-osd": ("ceph-osd",),
    "radosgw": ("radosgw", "radosgw-admin"),
    "ceph-common": ("ceph", "ceph-authtool"),
}
INSTALL = "apt-get install --no-install-recommends " + " ".join(PACKAGES)

#: How long each stage may take before the start is declared failed (seconds).
STAGE_TIMEOUT = 120.0


def missing_packages() -> list[str]:
    """The packages of :data:`PACKAGES` whose commands are not on PATH."""
    return [package for package, commands in PACKAGES.items() if not all(shutil.which(c) for c in commands)]


@dataclass(frozen=True)
class RGWEndpoints:
    """What a test needs to talk to the running gateway (both front ends share the user and bucket)."""

    endpoint: str
    tls_endpoint: str
    #: PEM of the TLS front end's self-signed certificate: the ``ca_cert`` that trusts it.
    ca_cert: Path
    #: Its private key (a test's TLS fault proxy serves the same certificate).
    tls_key: Path
    access_key: str
    secret_key: str
    bucket: str
    region: str = REGION

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    @property
    def tls_port(self) -> int:
        return int(self.tls_endpoint.rsplit(":", 1)[1])


class RGWStartError(RuntimeError):
    """The cluster did not come up; the message names the stage and the log directory."""


@dataclass
class RGWCluster:
    directory: Path
    endpoints: RGWEndpoints
    pids: list[int]
    watchdog: int

    def stop(self) -> None:
        stop_cluster(self.directory)


def _conf(directory: Path, mon: str, http_port: int, tls_port: int, cert: Path, key: Path) -> str:
    d = directory
    return f"""[global]
fsid = {uuid.uuid4()}
mon_initial_members = a
mon_host = {mon}
public_network = 127.0.0.0/8
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
keyring = {d}/ceph.keyring
run_dir = {d}/run
admin_socket = {d}/run/$cluster-$name.asok
log_file = {d}/log/$cluster-$name.log
pid_file = {d}/run/$cluster-$name.pid
log_to_stderr = false
err_to_stderr = true
crash_dir = {d}/crash
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 1
osd_pool_default_pgp_num = 1
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
mon_max_pg_per_osd = 1000
mon_data_avail_warn = 2
mon_data_avail_crit = 1
mon_warn_on_insecure_global_id_reclaim = false
mon_warn_on_insecure_global_id_reclaim_allowed = false
ms_bind_ipv6 = false
# One monitor: commit each map change at once instead of batching for a second (pool creations wait on it).
paxos_propose_interval = 0.01
paxos_min_wait = 0.01

[mon]
keyring = {d}/mon.keyring
mon_data = {d}/mon
mon_cluster_log_file = {d}/log/$cluster.log

[osd]
keyring = {d}/ceph.keyring
osd_data = {d}/osd
osd_objectstore = memstore
memstore_device_bytes = 6442450944
osd_memory_target = 1073741824
osd_max_object_size = 134217728

[client.rgw.a]
keyring = {d}/ceph.keyring
rgw_data = {d}/rgw
rgw_frontends = beast endpoint=127.0.0.1:{http_port} ssl_endpoint=127.0.0.1:{tls_port} ssl_certificate={cert} ssl_private_key={key}
rgw_dns_name = 127.0.0.1
rgw_enable_usage_log = false
rgw_gc_obj_min_wait = 60
rgw_gc_processor_period = 60
"""  # noqa: E501


#: The pools RGW makes on its first start and first user and bucket, made beforehand in one go (each
#: made by RGW itself waits for its own map change and placement group).
RGW_POOLS = (
    ".rgw.root", "default.rgw.log", "default.rgw.control", "default.rgw.meta",
    "default.rgw.buckets.index", "default.rgw.buckets.data", "default.rgw.buckets.non-ec",
)  # fmt: skip

#: Run by the Python that runs the ``ceph`` command (it has the ``rados`` binding): the OSD's id and
#: RGW's pools, as monitor commands over one connection instead of one ``ceph`` process each.
_PREPARE = """
import json, sys, rados
conf, osd_uuid, *pools = sys.argv[1:]
cluster = rados.Rados(conffile=conf)
cluster.connect(timeout=30)
def command(**args):
    code, out, status = cluster.mon_command(json.dumps(args), b"", timeout=30)
    if code != 0:
        sys.exit(f"{args['prefix']}: {status}")
    return out
osd = json.loads(command(prefix="osd new", uuid=osd_uuid, format="json"))
if osd.get("osdid") != 0:
    sys.exit(f"osd new: expected OSD id 0, got {osd}")
for pool in pools:
    command(prefix="osd pool create", pool=pool, pg_num=1, pgp_num=1)
    command(prefix="osd pool application enable", pool=pool, app="rgw")
cluster.shutdown()
"""


def _ceph_python() -> str:
    """The interpreter of the ``ceph`` command (Debian's python3, which has ``rados``; a virtualenv's has not)."""
    ceph = shutil.which("ceph")
    if ceph is None:
        raise RGWStartError(f"ceph not found: {INSTALL}")
    first = Path(ceph).read_text(errors="replace").split("\n", 1)[0]
    return first[2:].strip().split()[0] if first.startswith("#!") else "python3"


def _run(argv: list[str], directory: Path, what: str, timeout: float = STAGE_TIMEOUT) -> str:
    """Run a Ceph tool to completion; its output goes to the log directory when it fails."""
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as expired:
        message = f"{what}: {argv[0]} did not finish in {timeout:.0f} s (logs in {directory}/log)"
        raise RGWStartError(message) from expired
    if done.returncode != 0:
        (directory / "log" / f"{what}.out").write_bytes(done.stdout + done.stderr)
        last = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()[-1:]
        raise RGWStartError(f"{what}: {argv[0]} exited {done.returncode}: {' '.join(last)} (logs in {directory}/log)")
    return done.stdout.decode().strip()


def _detached(argv: list[str], log: Path) -> int:
    """Start ``argv`` in a session of its own, not as our child (a shell forks it and exits), and return its pid.

    So it is never a zombie or a still-running ``Popen`` of the process that
    happened to start it (an xdist worker may end long before the session).
    """
    script = 'exec "$@" >>"$LOG" 2>&1 </dev/null'
    shell = subprocess.run(
        ["sh", "-c", f"({script}) & echo $!", "detach", *argv],
        env={**os.environ, "LOG": str(log)}, capture_output=True, check=True, start_new_session=True,
    )  # fmt: skip
    return int(shell.stdout)


def _launch(name: str, argv: list[str], directory: Path, conf: Path) -> int:
    """Start a daemon in the foreground (``-f``, so its pid is the daemon's), detached; record its pid."""
    pid = _detached([*argv, "-f", "-c", str(conf)], directory / "log" / f"{name}.out")
    with open(directory / "pids", "a", encoding="ascii") as pids:
        pids.write(f"{pid}\n")
    return pid


def _wait(
    condition: Callable[[], bool], what: str, directory: Path, pids: list[int], timeout: float = STAGE_TIMEOUT
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        dead = [pid for pid in pids if not _alive(pid)]
        if dead:
            raise RGWStartError(f"{what}: a daemon (pid {dead[0]}) exited (logs in {directory}/log)")
        if time.monotonic() > deadline:
            raise RGWStartError(f"{what}: not ready after {timeout:.0f} s (logs in {directory}/log)")
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _answers(port: int) -> bool:
    """Whether the gateway answers an anonymous ListBuckets (it listens before it has its pools)."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _watchdog(directory: Path, owner: int) -> int:
    """A shell that kills every daemon in ``directory/pids`` once ``owner`` has gone (even if it was killed)."""
    script = (
        'while kill -0 "$1" 2>/dev/null; do sleep 1; done; '
        '[ -f "$2/pids" ] && kill -9 $(cat "$2/pids") 2>/dev/null; rm -rf "$2/mon" "$2/osd" "$2/rgw" "$2/run"'
    )
    return _detached(["sh", "-c", script, "rgw-watchdog", str(owner), str(directory)], Path(os.devnull))


def start_rgw(directory: Path, *, owner: int, bucket: str = "gpbackup") -> RGWCluster:
    """Build and start a one-node cluster in ``directory`` (kept short: it holds Unix sockets).

    ``owner`` is the pid whose end stops the cluster (the watchdog's charge).
    The S3 user has the suite's usual keys (:data:`tests.s3server.ACCESS_KEY`),
    so a config written for the local server works here with only its endpoint
    (and ``ca_cert``) changed; ``bucket`` is created empty.
    """
    for sub in ("mon", "osd", "rgw", "run", "log", "crash"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    conf = directory / "ceph.conf"
    mon_v2, mon_v1, http_port, tls_port = _distinct_free_ports(4)
    mon = f"[v2:127.0.0.1:{mon_v2},v1:127.0.0.1:{mon_v1}]"
    cert, key = self_signed_certificate(directory)
    conf.write_text(_conf(directory, mon, http_port, tls_port, cert, key))
    pids: list[int] = []
    watchdog = _watchdog(directory, owner)
    # Every key the cluster uses, with its caps, is in the monitor's keyring before mkfs: no `auth add` later.
    keyring, mon_keyring = directory / "ceph.keyring", directory / "mon.keyring"
    caps = {
        "client.admin": ["--cap", "mon", "allow *", "--cap", "osd", "allow *", "--cap", "mgr", "allow *"],
        "osd.0": ["--cap", "mon", "allow profile osd", "--cap", "osd", "allow *", "--cap", "mgr", "allow profile osd"],
        "client.rgw.a": ["--cap", "mon", "allow rw", "--cap", "osd", "allow rwx", "--cap", "mgr", "allow rw"],
    }
    _run(["ceph-authtool", "--create-keyring", str(mon_keyring), "--gen-key", "-n", "mon.", "--cap", "mon", "allow *"],
         directory, "keyring")  # fmt: skip
    for number, (name, name_caps) in enumerate(caps.items()):
        create = ["--create-keyring"] if number == 0 else []
        _run(["ceph-authtool", str(keyring), *create, "--gen-key", "-n", name, *name_caps], directory, "keyring")
    _run(["ceph-authtool", str(mon_keyring), "--import-keyring", str(keyring)], directory, "keyring")
    fsid = conf.read_text().split("fsid = ", 1)[1].split("\n", 1)[0]
    monmap = directory / "monmap"
    _run(["monmaptool", "--create", "--fsid", fsid, "--addv", "a", mon, str(monmap)], directory, "monmap")
    _run(["ceph-mon", "-c", str(conf), "--mkfs", "-i", "a", "--monmap", str(monmap), "--keyring", str(mon_keyring)],
         directory, "mon-mkfs")  # fmt: skip
    pids.append(_launch("mon.a", ["ceph-mon", "-i", "a"], directory, conf))
    _wait(lambda: _listening(mon_v2), "monitor", directory, pids)
    osd_uuid = str(uuid.uuid4())
    _run([_ceph_python(), "-c", _PREPARE, str(conf), osd_uuid, *RGW_POOLS], directory, "pools")
    _run(["ceph-osd", "-c", str(conf), "-i", "0", "--mkfs", "--osd-uuid", osd_uuid, "--no-mon-config"],
         directory, "osd-mkfs")  # fmt: skip
    pids.append(_launch("osd.0", ["ceph-osd", "-i", "0"], directory, conf))
    # The gateway waits for the OSD by itself (it creates its pools once placement groups are active).
    pids.append(_launch("rgw.a", ["radosgw", "-n", "client.rgw.a"], directory, conf))
    _wait(lambda: _answers(http_port), "radosgw", directory, pids)
    admin = ["radosgw-admin", "-c", str(conf), "-n", "client.admin"]
    _run([*admin, "user", "create", "--uid=gps3async", "--display-name=gps3async",
          f"--access-key={ACCESS_KEY}", f"--secret={SECRET_KEY}"], directory, "user-create")  # fmt: skip
    endpoints = RGWEndpoints(
        endpoint=f"http://127.0.0.1:{http_port}",
        tls_endpoint=f"https://127.0.0.1:{tls_port}",
        ca_cert=cert,
        tls_key=key,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        bucket=bucket,
    )
    _create_bucket(endpoints)
    return RGWCluster(directory, endpoints, pids, watchdog)


def _create_bucket(endpoints: RGWEndpoints) -> None:
    from tests.s3server import make_client

    make_client(endpoints.endpoint).create_bucket(Bucket=endpoints.bucket)


def _distinct_free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def stop_cluster(directory: Path) -> None:
    """Kill every daemon recorded in ``directory/pids`` and remove the data, keeping ``log/``."""
    pids_file = directory / "pids"
    pids = [int(line) for line in pids_file.read_text().split()] if pids_file.exists() else []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    pids_file.unlink(missing_ok=True)
    for sub in ("mon", "osd", "rgw", "run", "crash"):
        shutil.rmtree(directory / sub, ignore_errors=True)
