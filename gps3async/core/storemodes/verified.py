"""Which store mode verifies every upload on arrival, at what cost (pure, no I/O).

``payload_signing: auto`` and ``upload_checksum: auto`` (the defaults) pick the
cheapest mode of :mod:`gps3async.core.storemodes.settings` whose digest the store *checks*,
so a bit flipped in transit fails that request (and is retried) instead of
being stored.  Stores differ: AWS S3 checks all three digests; Ceph RGW before
19 and the suite's rclone server accept ``x-amz-checksum-crc32c`` and ignore
it, but check ``Content-MD5``; a store may or may not check a signed payload's
SHA-256.  Nothing in an answer to a correct upload proves a check happened
(some servers replay request headers), so what a store verifies is learnt from
probes that send a deliberately *wrong* digest (:mod:`gps3async.s3.storemodes.probe` runs
them):

* a refusal that names the digest (``BadDigest``, ``XAmzContentSHA256Mismatch``,
  ...) means the store verifies it;
* 200 means it accepts the digest and does not verify it, never more;
* a refusal of the header or of the signing (:func:`~gps3async.core.storemodes.settings.refusal_fix`)
  means the store refuses the mode;
* anything else (denied, 5xx, no answer) says nothing: the probe could not run.

This module classifies those answers (:func:`classify`), orders the modes by
their measured upload CPU (:func:`cost`), and chooses (:func:`choose`).  When
the probes could not run it fails safe (:data:`FAIL_SAFE`) rather than assume
a check that may not happen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import urlsplit

from .settings import SIGN, StoreModes, refusal_fix

__all__ = [
    "AUTO",
    "DIGESTS",
    "FAIL_SAFE",
    "MISMATCH_CODES",
    "MODES",
    "Choice",
    "Finding",
    "Findings",
    "ProbeAnswer",
    "Verdict",
    "aws_findings",
    "choose",
    "classify",
    "cost",
    "is_aws",
    "ModeRow",
    "mode_accepted",
    "mode_rows",
    "mode_verified",
    "read_modes",
]

AUTO = "auto"

#: The digests a mode can carry, named as the probes and the log name them.
DIGESTS = ("crc32c", "md5", "sha256")
#: What each digest is on the wire, for people.
WIRE_NAMES = {"crc32c": "x-amz-checksum-crc32c", "md5": "Content-MD5", "sha256": "signed payload SHA-256"}

#: Error codes stores answer when a body does not match the digest it came with.
MISMATCH_CODES = frozenset({
    "BadDigest",  # S3, RGW, MinIO, rclone: Content-MD5 and S3 checksums
    "InvalidDigest",  # some stores for a Content-MD5 that does not match
    "XAmzContentSHA256Mismatch",  # S3, RGW, MinIO: signed payload
    "XAmzContentChecksumMismatch",  # MinIO: x-amz-checksum-*
    "ContentSHA256Mismatch",
    "InvalidChecksum",
})  # fmt: skip

#: Every mode, in order of preference among modes of equal cost: a checksum header before none
#: (a store that starts checking it later protects every upload from then on).
MODES = (
    StoreModes("unsigned", "crc32c"),
    StoreModes("signed", "none"),
    StoreModes("signed", "crc32c"),
    StoreModes("unsigned", "md5"),
    StoreModes("signed", "md5"),
    StoreModes("unsigned", "none"),
)

#: Extra client CPU seconds per GiB uploaded over the CRC-32C every mode computes, measured on the
#: project's machine (docs/benchmarks.md, store modes; bench/integrity/modes.py): MD5 +1.31; SHA-256 +0.53 with
#: the CPU's SHA extensions (hashlib, 0.70 s/GiB alone) and about 2.5 without them (MD5 alone: 1.73).
MD5_COST = 1.31
SHA256_COST = {True: 0.53, False: 2.5}

#: When the probes could not run: a signed payload (every store accepts one) with Content-MD5, which every
#: store that accepts it checks (RFC 1864; S3, Ceph RGW, MinIO and rclone all refuse a wrong one).
FAIL_SAFE = StoreModes("signed", "md5")


class Verdict(Enum):
    """What a store does with one digest."""

    VERIFIES = "verifies"
    IGNORES = "accepts, does not verify"
    REFUSES = "refuses"
    UNKNOWN = "probe failed"


@dataclass(frozen=True)
class ProbeAnswer:
    """How a store answered an upload with a deliberately wrong digest (``status`` 0: no answer)."""

    status: int
    code: str = ""
    message: str = ""

    def describe(self) -> str:
        if self.status == 0:
            return f"no answer ({self.message})" if self.message else "no answer"
        if 200 <= self.status < 300:
            return f"{self.status}"
        return f"{self.status} {self.code}".strip()


@dataclass(frozen=True)
class Finding:
    """What a probe found about one digest: the verdict and the answer it rests on."""

    verdict: Verdict
    answer: ProbeAnswer
    #: For :attr:`Verdict.REFUSES`: the setting the refusal names.
    fix: str = ""

    def describe(self) -> str:
        return f"{self.verdict.value} ({self.answer.describe()})"


def classify(answer: ProbeAnswer, modes: StoreModes) -> Finding:
    """What ``answer`` to a probe sent in ``modes`` with one wrong digest says about that digest."""
    if 200 <= answer.status < 300:
        return Finding(Verdict.IGNORES, answer)
    if answer.status == 0:
        return Finding(Verdict.UNKNOWN, answer)
    refused = refusal_fix(answer.code, answer.message, modes)
    if refused is not None:
        return Finding(Verdict.REFUSES, answer, refused.setting)
    if answer.code in MISMATCH_CODES:
        return Finding(Verdict.VERIFIES, answer)
    return Finding(Verdict.UNKNOWN, answer)


def refuses_unsigned(finding: Finding) -> bool:
    """Whether an unsigned probe was refused for being unsigned (the digest is then probed again, signed)."""
    return finding.verdict is Verdict.REFUSES and finding.fix == SIGN


@dataclass(frozen=True)
class Findings:
    """What the probes found, digest by digest, and whether the store refuses unsigned payloads."""

    by_digest: dict[str, Finding] = field(default_factory=dict)
    unsigned_refused: bool = False
    #: Where the findings come from, for the log ("probes", or why none were needed).
    source: str = "probes"

    def get(self, digest: str) -> Verdict:
        found = self.by_digest.get(digest)
        return found.verdict if found is not None else Verdict.UNKNOWN

    def describe(self) -> str:
        parts = [f"a wrong {WIRE_NAMES[d]}: {self.by_digest[d].describe()}" for d in DIGESTS if d in self.by_digest]
        if self.unsigned_refused:
            parts.append("unsigned payloads refused")
        return "; ".join(parts) or "nothing probed"


def is_aws(endpoint_url: str | None) -> bool:
    """AWS S3 itself: no endpoint, or an ``amazonaws.com`` host (which checks every digest it is sent)."""
    if not endpoint_url:
        return True
    host = (urlsplit(endpoint_url).hostname or "").lower()
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn"))


def aws_findings() -> Findings:
    """AWS S3 checks CRC-32C, Content-MD5 and a signed payload's SHA-256 (documented; no probe needed)."""
    known = Finding(Verdict.VERIFIES, ProbeAnswer(400, "BadDigest", "documented"))
    return Findings(dict.fromkeys(DIGESTS, known), source="AWS S3 (documented, no probe)")


def mode_accepted(findings: Findings, modes: StoreModes) -> bool:
    """Whether the store takes uploads in ``modes`` (every digest the mode sends was accepted by a probe)."""
    taken = (Verdict.VERIFIES, Verdict.IGNORES)
    # An unsigned payload is accepted only on evidence: an unsigned probe (crc32c, md5) that was taken.
    if not modes.signed and (findings.unsigned_refused or not any(findings.get(d) in taken for d in ("crc32c", "md5"))):
        return False
    if modes.signed and findings.get("sha256") not in taken:
        return False
    return modes.upload_checksum == "none" or findings.get(modes.upload_checksum) in taken


def mode_verified(findings: Findings, modes: StoreModes) -> bool:
    """Whether the store checks some digest ``modes`` sends (a bit flipped in transit is then refused)."""
    if modes.upload_checksum != "none" and findings.get(modes.upload_checksum) is Verdict.VERIFIES:
        return True
    return modes.signed and findings.get("sha256") is Verdict.VERIFIES


def cost(modes: StoreModes, *, sha_accelerated: bool) -> float:
    """Client CPU seconds per GiB uploaded beyond the CRC-32C every mode computes."""
    extra = SHA256_COST[sha_accelerated] if modes.signed else 0.0
    return extra + (MD5_COST if modes.upload_checksum == "md5" else 0.0)


@dataclass(frozen=True)
class Choice:
    """The mode picked, whether the store verifies it, and why (one log line)."""

    modes: StoreModes
    verified: bool
    why: str
    #: ``False`` when the probes could not run and :data:`FAIL_SAFE` was taken (not to be cached for long).
    probed: bool = True


def _allowed(modes: StoreModes, signing: str, checksum: str) -> bool:
    return signing in (AUTO, modes.payload_signing) and checksum in (AUTO, modes.upload_checksum)


def candidates(signing: str, checksum: str, *, sha_accelerated: bool) -> list[StoreModes]:
    """The modes an ``auto`` may pick (the explicit option kept), cheapest first."""
    allowed = [modes for modes in MODES if _allowed(modes, signing, checksum)]
    return sorted(allowed, key=lambda modes: (cost(modes, sha_accelerated=sha_accelerated), MODES.index(modes)))


def _name(modes: StoreModes) -> str:
    return f"{modes.payload_signing}/{modes.upload_checksum}"


def choose(findings: Findings, signing: str = AUTO, checksum: str = AUTO, *, sha_accelerated: bool) -> Choice:
    """The cheapest mode the store verifies; else the cheapest it accepts (unverified); else :data:`FAIL_SAFE`.

    ``signing`` and ``checksum`` are the configured ``payload_signing`` and
    ``upload_checksum``: an explicit value is kept, ``auto`` is chosen.
    """
    order = candidates(signing, checksum, sha_accelerated=sha_accelerated)
    seen = f"{findings.source}: {findings.describe()}"
    for modes in order:
        if mode_accepted(findings, modes) and mode_verified(findings, modes):
            return Choice(modes, True, f"{_name(modes)}, the cheapest mode the store verifies ({seen})")
    accepted = [modes for modes in order if mode_accepted(findings, modes)]
    if accepted:
        why = f"{_name(accepted[0])}, the cheapest mode the store accepts; it verifies none, so uploads are NOT"
        return Choice(accepted[0], False, f"{why} verified on arrival ({seen})")
    safe = StoreModes(
        FAIL_SAFE.payload_signing if signing == AUTO else signing,
        FAIL_SAFE.upload_checksum if checksum == AUTO else checksum,
    )
    why = f"{_name(safe)}, which every store that accepts it verifies: the probes could not tell ({seen})"
    return Choice(safe, True, why, probed=False)


def read_modes(signing: str, checksum: str) -> StoreModes:
    """The modes of a client that never uploads (restore verbs): no probe needed.

    ``auto`` reads sign (a GET's payload is empty: its SHA-256 is a constant,
    and every store accepts a signed request) and take Content-MD5 for any
    small write such as DeleteObjects, which every store accepts.
    """
    return StoreModes(
        FAIL_SAFE.payload_signing if signing == AUTO else signing,
        FAIL_SAFE.upload_checksum if checksum == AUTO else checksum,
    )


def explicit_warning(findings: Findings, modes: StoreModes) -> str:
    """A warning for explicitly configured ``modes`` the store is known not to verify, or ``""``."""
    if modes.upload_checksum == "none" and not modes.signed:
        return f"{modes.describe()}: uploads carry no digest, so the store cannot verify them on arrival"
    if not findings.by_digest or mode_verified(findings, modes):
        return ""
    if not mode_accepted(findings, modes):
        return ""
    return f"{modes.describe()}: the store does not verify this mode ({findings.describe()}); set both to auto"


@dataclass(frozen=True)
class ModeRow:
    """One mode as ``check`` reports it: accepted, verified, and its extra CPU per GiB."""

    modes: StoreModes
    accepted: bool
    verified: bool
    cost: float

    @property
    def status(self) -> str:
        if not self.accepted:
            return "refused"
        return "ok" if self.verified else "warn"

    def describe(self) -> str:
        if not self.accepted:
            return "not accepted (or not known to be: see the probe lines)"
        checked = "verified on arrival" if self.verified else "accepted but NOT verified on arrival"
        return f"{checked}; +{self.cost:.2f} CPU s/GiB over the CRC-32C every mode computes"


def mode_rows(findings: Findings, *, sha_accelerated: bool) -> list[ModeRow]:
    """Every mode, cheapest first, with what ``findings`` say of it."""
    return [
        ModeRow(
            modes,
            mode_accepted(findings, modes),
            mode_verified(findings, modes),
            cost(modes, sha_accelerated=sha_accelerated),
        )
        for modes in candidates(AUTO, AUTO, sha_accelerated=sha_accelerated)
    ]
