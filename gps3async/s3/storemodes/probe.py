"""Learning what a store verifies, once per agent: the probes behind ``payload_signing``/``upload_checksum: auto``.

Each probe is one small PutObject with one deliberately wrong digest, sent in
its own client (a client signs and checksums in one mode), to a scratch key
under the configured folder that is deleted afterwards whatever happened.  In
a bucket that keeps versions (versioning on, as Object Lock turns it on: one
GetBucketVersioning first) each probe is instead the one UploadPart of a
multipart upload that is aborted afterwards, because an accepted PutObject
would stay there as a version and its delete as a delete marker, for as long
as a default retention says; an aborted upload's parts leave nothing:

* ``crc32c``: unsigned, with a wrong ``x-amz-checksum-crc32c``;
* ``md5``: unsigned, with a wrong ``Content-MD5``;
* ``sha256``: signed, with a wrong payload SHA-256 in the signature.

A store that refuses unsigned payloads refuses the first two for that; they
are then sent again signed (with the right SHA-256).  The three run one after
another, each once its predecessor is answered: a store that keeps objects as
files (rclone) can lose track of an object written beside a refused one at the
same moment, and then answers its delete without removing it.
:mod:`gps3async.core.storemodes.verified` reads the answers and chooses.  AWS S3 itself
is not probed: it verifies all three.

:class:`ModeChooser` keeps the choice per store (endpoint, bucket, region,
credentials, proxy, addressing) for the life of its process: the agent owns
one, so a backup's many calls pay for the probes once; an in-process call
(``agent: off``) probes once per process (:data:`PROCESS_CHOOSER`).  A disk
cache across processes was not kept: it would outlive a store replaced at the
same address, the one case where a stale "verifies" would store corrupted
bytes unnoticed, and ``agent: off`` already pays a client start per call.
When the probes cannot run (denied, no answer), the choice fails safe
(:data:`~gps3async.core.storemodes.verified.FAIL_SAFE`) and is kept for a minute only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import secrets
import time
from typing import TYPE_CHECKING

import anyio

from ...core.errors import GpS3Error, ObjectNotFound
from ...core.keys import folder_prefix
from ...core.storemodes.settings import BodyDigest, StoreModes, digest_body
from ...core.storemodes.verified import (
    Choice,
    Finding,
    Findings,
    ProbeAnswer,
    aws_findings,
    choose,
    classify,
    explicit_warning,
    is_aws,
    read_modes,
    refuses_unsigned,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from ...core.config import PluginConfig
    from ..storage import S3Store

__all__ = ["PROCESS_CHOOSER", "ModeChooser", "open_call_store", "probe_findings", "sha_accelerated", "store_key"]

log = logging.getLogger("gps3async")

#: The probe body, and the body whose digests are sent with it (one bit apart, as a flip in transit would be).
PROBE_BODY = b"gps3async verification probe: the digest sent with this body is deliberately wrong\n"
_OTHER_BODY = PROBE_BODY[:-1] + bytes([PROBE_BODY[-1] ^ 1])
#: How long a fail-safe choice (probes that could not run) is kept before the next write probes again.
FAIL_SAFE_SECONDS = 60.0
#: Probes still unanswered this long after the first was sent are given up (their client's own timeouts
#: and retries bound each one too).
PROBE_SECONDS = 60.0
#: The least read timeout of a probe's client.  A probe attempt given up for a late answer is sent
#: again, and the store may still store the first one after the scratch objects were removed (rclone
#: under load did): so a probe waits for its answer, up to this, even under a short ``read_timeout``.
PROBE_READ_TIMEOUT = 30.0
#: Deletes of one probe object, each followed by a lookup, 0.1 s, 0.2 s, 0.4 s, 0.8 s apart.
REMOVE_TRIES = 5

#: Each probe: the digest it tests, the mode it is sent in, and the mode of its signed second try.
_PROBES = (
    ("crc32c", StoreModes("unsigned", "crc32c"), StoreModes("signed", "crc32c")),
    ("md5", StoreModes("unsigned", "md5"), StoreModes("signed", "md5")),
    ("sha256", StoreModes("signed", "none"), None),
)


@functools.cache
def sha_accelerated() -> bool:
    """Whether this CPU has SHA-256 instructions (x86 ``sha_ni``, Arm ``sha2``), which hashlib's OpenSSL uses."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith(("flags", "Features")):
                    words = line.split(":", 1)[-1].split()
                    return "sha_ni" in words or "sha2" in words
    except OSError:
        pass
    return False


def store_key(config: PluginConfig) -> tuple[str, ...]:
    """What identifies the store a config writes to, for the cache (no secret: the key id, not the key)."""
    who = config.access_key_id or (f"profile {config.profile}" if config.profile else config.credential_source)
    return (
        config.endpoint_url or "AWS", config.region, config.bucket, who,
        config.http_proxy, config.addressing_style, str(config.remove_duplicate_bucket),
    )  # fmt: skip


def _wrong_digest(digest: str, modes: StoreModes) -> BodyDigest:
    """The digests of :data:`PROBE_BODY` the mode sends, ``digest`` replaced by that of the other body."""
    right, wrong = digest_body(PROBE_BODY, modes), digest_body(_OTHER_BODY, modes)
    return dataclasses.replace(right, **{digest: getattr(wrong, digest)})


async def _probe(store: S3Store, digest: str, key: str, deadline: float, *, as_part: bool) -> Finding:
    """One probe: PutObject (or ``as_part``, UploadPart) with a wrong ``digest`` in the store's modes, unless
    ``deadline`` (of :func:`anyio.current_time`) passes first (a PutObject's scratch object is removed by the
    caller; a part's upload is aborted by :meth:`~gps3async.s3.storage.S3Store.probe_part`)."""
    answer = ProbeAnswer(0, "", f"no answer within {PROBE_SECONDS:g} s")
    send = store.probe_part if as_part else store.probe_put
    with anyio.move_on_at(deadline):
        answer = await send(key, PROBE_BODY, _wrong_digest(digest, store.modes))
    return classify(answer, store.modes)


async def _keeps_versions(config: PluginConfig) -> bool:
    """Whether the bucket keeps versions (versioning on or suspended, as Object Lock turns it on).

    There a probe's accepted PutObject would stay as a version and its delete as a delete marker, each
    kept for a default retention's days: the probes then go as parts of uploads that are aborted.
    """
    from ..client import open_store

    try:
        async with open_store(config, concurrency=1) as store:
            return await store.bucket_versioning() in ("Enabled", "Suspended")
    except GpS3Error as err:
        log.info("store mode probe: bucket versioning unknown (%s); probing with PutObject", err)
        return False


async def _remove_all(written: list[tuple[str, S3Store]]) -> None:
    """Delete the probes' scratch objects, present or not, once every probe has had its answer.

    Each object is deleted by the client that wrote it, in its modes (a store
    that refuses unsigned payloads refuses unsigned deletes), and looked up
    afterwards (:func:`_remove`).
    """
    with anyio.move_on_after(30, shield=True) as scope:
        for key, store in written:
            problem = await _remove(store, key)
            if problem:
                log.warning("store mode probe: could not remove %s (%s): remove it by hand", store.url(key), problem)
    if scope.cancelled_caught:
        keys = ", ".join(key for key, _ in written)
        log.warning("store mode probe: removing the scratch objects %s timed out: remove them by hand", keys)


async def _remove(store: S3Store, key: str) -> str:
    """Delete ``key`` until a lookup no longer finds it; what went wrong, or ``""``.

    A delete of an absent key succeeds too, so only a lookup tells whether the
    object is gone: a write that lands after the delete brings it back, and a
    store can answer a delete without removing anything (rclone, once it has
    lost track of the object: see the module docstring), which the warning of
    :func:`_remove_all` then reports.
    """
    for attempt in range(REMOVE_TRIES):
        if attempt:
            await anyio.sleep(0.1 * 2 ** (attempt - 1))
        try:
            await store.delete_object(key)
            await store.head_object(key)
        except ObjectNotFound:
            return ""
        except GpS3Error as err:
            return str(err)
    return f"still there after {REMOVE_TRIES} deletes"


async def probe_findings(config: PluginConfig) -> Findings:
    """Run the three probes (one after another) against the store of ``config``; what it verifies, accepts
    and refuses."""
    from ..client import open_store

    scratch = f"{folder_prefix(config.folder)}gps3async-probe-{secrets.token_hex(6)}/"
    patient = dataclasses.replace(config, read_timeout=max(config.read_timeout, PROBE_READ_TIMEOUT))
    found: dict[str, Finding] = {}
    unsigned_refused = False
    written: list[tuple[str, S3Store]] = []
    deadline = anyio.current_time() + PROBE_SECONDS
    as_parts = await _keeps_versions(patient)
    # One client per mode (a client signs and checksums in one mode), kept open for the clean-up.
    async with contextlib.AsyncExitStack() as clients:

        async def probe(digest: str, modes: StoreModes, key: str) -> Finding:
            store = await clients.enter_async_context(open_store(patient, concurrency=1, modes=modes))
            if not as_parts:
                written.append((key, store))
            return await _probe(store, digest, key, deadline, as_part=as_parts)

        try:
            for digest, modes, signed in _PROBES:
                finding = await probe(digest, modes, scratch + digest)
                if signed is not None and refuses_unsigned(finding):
                    unsigned_refused = True
                    finding = await probe(digest, signed, scratch + digest + "-signed")
                found[digest] = finding
        finally:
            await _remove_all(written)
    return Findings(found, unsigned_refused)


@dataclasses.dataclass
class _Kept:
    choice: Choice
    findings: Findings
    until: float


class ModeChooser:
    """The modes each store's uploads use, chosen once per store (per agent, or per process) and logged once."""

    def __init__(self) -> None:
        self._kept: dict[tuple[str, ...], _Kept] = {}
        self._warned: set[tuple[tuple[str, ...], StoreModes]] = set()
        self._locks: dict[tuple[str, ...], anyio.Lock] = {}

    def findings(self, config: PluginConfig) -> Findings | None:
        kept = self._kept.get(store_key(config))
        return kept.findings if kept is not None else None

    async def modes_for(self, config: PluginConfig, *, uploads: bool) -> StoreModes:
        """The modes of a client for ``config``: explicit options as set; ``auto`` chosen when it ``uploads``."""
        if not uploads:
            return read_modes(config.payload_signing, config.upload_checksum)
        if not config.auto_modes:
            self._warn_explicit(config)
            return config.store_modes
        return (await self.choose(config)).modes

    async def choose(self, config: PluginConfig) -> Choice:
        key = store_key(config)
        lock = self._locks.setdefault(key, anyio.Lock())
        kept = self._kept.get(key)
        if kept is not None and time.monotonic() < kept.until:
            return kept.choice  # every call after the first: no lock, no probe, no log line
        async with lock:  # calls that arrive together wait for one set of probes
            kept = self._kept.get(key)
            if kept is not None and time.monotonic() < kept.until:
                return kept.choice  # another call probed while this one waited, and logged the choice
            findings = aws_findings() if is_aws(config.endpoint_url) else await self._probe(config)
            choice = choose(findings, config.payload_signing, config.upload_checksum,
                            sha_accelerated=sha_accelerated())  # fmt: skip
            until = float("inf") if choice.probed else time.monotonic() + FAIL_SAFE_SECONDS
            self._kept[key] = _Kept(choice, findings, until)
        where = f"s3://{config.bucket} at {config.endpoint_url or 'AWS'}"
        level = logging.INFO if choice.verified and choice.probed else logging.WARNING
        log.log(level, "store modes for %s: %s chose %s", where, config.store_modes.describe(), choice.why)
        return choice

    async def _probe(self, config: PluginConfig) -> Findings:
        try:
            return await probe_findings(config)
        except GpS3Error as err:  # the probe's client could not start (credentials, CA bundle): fail safe
            return Findings(source=f"probes could not run: {err}")

    def _warn_explicit(self, config: PluginConfig) -> None:
        key, modes = store_key(config), config.store_modes
        if (key, modes) in self._warned:
            return
        self._warned.add((key, modes))
        kept = self._kept.get(key)
        findings = aws_findings() if is_aws(config.endpoint_url) else (kept.findings if kept else Findings())
        warning = explicit_warning(findings, modes)
        if warning:
            log.warning("store modes for s3://%s: %s", config.bucket, warning)


#: The chooser of an in-process call (``agent: off``): one per process.
PROCESS_CHOOSER = ModeChooser()


@contextlib.asynccontextmanager
async def open_call_store(config: PluginConfig, *, concurrency: int, uploads: bool = False) -> AsyncIterator[S3Store]:
    """The in-process :class:`~gps3async.commands.invocation.StoreOpener`: a fresh client in the call's modes."""
    from ...runtime.journal import process_journal
    from ..client import open_store
    from ..sweep import sweep_after_call

    modes = await PROCESS_CHOOSER.modes_for(config, uploads=uploads)
    async with open_store(config, concurrency=concurrency, modes=modes) as store:
        # A call killed mid-upload leaves a record: the next agent, or the next in-process call, aborts its upload.
        store.journal = journal = process_journal()
        yield store
        if journal is not None:  # only after work that succeeded: a failure is reported without delay
            await sweep_after_call(journal, store)
