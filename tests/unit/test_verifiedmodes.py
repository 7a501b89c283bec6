"""The pure part of ``auto`` store modes: reading a probe's answer, the cost order, the choice."""

from __future__ import annotations

import pytest

from gps3async.core.storemodes.settings import StoreModes
from gps3async.core.storemodes.verified import (
    FAIL_SAFE,
    Finding,
    Findings,
    ProbeAnswer,
    Verdict,
    aws_findings,
    candidates,
    choose,
    classify,
    explicit_warning,
    is_aws,
    mode_rows,
    read_modes,
)

UNSIGNED_CRC = StoreModes("unsigned", "crc32c")
UNSIGNED_MD5 = StoreModes("unsigned", "md5")
SIGNED_NONE = StoreModes("signed", "none")
OK = ProbeAnswer(200)
BAD_DIGEST = ProbeAnswer(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
SHA_MISMATCH = ProbeAnswer(
    400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match"
)


def found(**verdicts: Verdict) -> Findings:
    answers = {Verdict.VERIFIES: BAD_DIGEST, Verdict.IGNORES: OK}
    return Findings({d: Finding(v, answers.get(v, ProbeAnswer(0))) for d, v in verdicts.items()})


RGW_16 = found(crc32c=Verdict.IGNORES, md5=Verdict.VERIFIES, sha256=Verdict.VERIFIES)
RCLONE = found(crc32c=Verdict.IGNORES, md5=Verdict.VERIFIES, sha256=Verdict.IGNORES)
IGNORES_ALL = found(crc32c=Verdict.IGNORES, md5=Verdict.IGNORES, sha256=Verdict.IGNORES)


@pytest.mark.parametrize(
    ("answer", "modes", "verdict"),
    [
        (OK, UNSIGNED_CRC, Verdict.IGNORES),  # 200 is never proof, whatever the answer echoes
        (ProbeAnswer(204), UNSIGNED_MD5, Verdict.IGNORES),
        (
            ProbeAnswer(400, "BadDigest", "The CRC32C you specified did not match the calculated checksum."),
            UNSIGNED_CRC,
            Verdict.VERIFIES,
        ),
        (BAD_DIGEST, UNSIGNED_MD5, Verdict.VERIFIES),
        (SHA_MISMATCH, SIGNED_NONE, Verdict.VERIFIES),
        (
            ProbeAnswer(400, "XAmzContentChecksumMismatch", "The provided 'x-amz-checksum' header does not match"),
            UNSIGNED_CRC,
            Verdict.VERIFIES,
        ),
        # refusals of the mode itself: not verification
        (
            ProbeAnswer(400, "InvalidArgument", "Unsupported header x-amz-checksum-crc32c"),
            UNSIGNED_CRC,
            Verdict.REFUSES,
        ),
        (
            ProbeAnswer(501, "NotImplemented", "A header you provided implies functionality that is not implemented"),
            UNSIGNED_CRC,
            Verdict.REFUSES,
        ),
        (ProbeAnswer(403, "AccessDenied", "UNSIGNED-PAYLOAD is not allowed"), UNSIGNED_MD5, Verdict.REFUSES),
        # an unsigned payload taken for a wrong SHA-256 is a refusal of unsigned payloads, not a check
        (ProbeAnswer(400, "XAmzContentSHA256Mismatch", ""), UNSIGNED_MD5, Verdict.REFUSES),
        # nothing learnt
        (ProbeAnswer(403, "AccessDenied", "Access Denied"), UNSIGNED_MD5, Verdict.UNKNOWN),
        (ProbeAnswer(503, "SlowDown", "Reduce your request rate"), UNSIGNED_MD5, Verdict.UNKNOWN),
        (ProbeAnswer(0, "", "ConnectTimeoutError"), SIGNED_NONE, Verdict.UNKNOWN),
    ],
)
def test_a_probe_answer_is_read_as_what_it_proves(answer: ProbeAnswer, modes: StoreModes, verdict: Verdict) -> None:
    assert classify(answer, modes).verdict is verdict


def test_the_cost_order_follows_the_sha_extensions() -> None:
    fast = candidates("auto", "auto", sha_accelerated=True)
    slow = candidates("auto", "auto", sha_accelerated=False)
    assert fast[0] == UNSIGNED_CRC and slow[0] == UNSIGNED_CRC
    assert fast.index(SIGNED_NONE) < fast.index(UNSIGNED_MD5)  # SHA-256 with SHA-NI is cheaper than MD5
    assert slow.index(UNSIGNED_MD5) < slow.index(SIGNED_NONE)
    assert candidates("unsigned", "auto", sha_accelerated=True) == [
        UNSIGNED_CRC, StoreModes("unsigned", "none"), UNSIGNED_MD5,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("findings", "sha_accelerated", "picked"),
    [
        (aws_findings(), True, UNSIGNED_CRC),
        (RGW_16, True, SIGNED_NONE),
        (RGW_16, False, UNSIGNED_MD5),
        (RCLONE, True, UNSIGNED_MD5),
    ],
)
def test_auto_picks_the_cheapest_verified_mode(findings: Findings, sha_accelerated: bool, picked: StoreModes) -> None:
    choice = choose(findings, sha_accelerated=sha_accelerated)
    assert (choice.modes, choice.verified, choice.probed) == (picked, True, True)
    assert "the cheapest mode the store verifies" in choice.why


def test_a_store_that_verifies_nothing_is_not_taken_for_one_that_does() -> None:
    choice = choose(IGNORES_ALL, sha_accelerated=True)
    assert choice.modes == UNSIGNED_CRC and not choice.verified
    assert "NOT verified" in choice.why and "accepts, does not verify (200)" in choice.why


def test_unsigned_refused_leaves_signed_modes() -> None:
    findings = Findings(
        {"crc32c": Finding(Verdict.IGNORES, OK), "md5": Finding(Verdict.VERIFIES, BAD_DIGEST),
         "sha256": Finding(Verdict.IGNORES, OK)},
        unsigned_refused=True,
    )  # fmt: skip
    assert choose(findings, sha_accelerated=True).modes == StoreModes("signed", "md5")


def test_probes_that_tell_nothing_fail_safe() -> None:
    unknown = found(crc32c=Verdict.UNKNOWN, md5=Verdict.UNKNOWN, sha256=Verdict.UNKNOWN)
    choice = choose(unknown, sha_accelerated=True)
    assert choice.modes == FAIL_SAFE == StoreModes("signed", "md5") and not choice.probed
    # an explicit option is kept even then
    assert choose(unknown, "unsigned", "auto", sha_accelerated=True).modes == UNSIGNED_MD5


def test_an_explicit_option_is_kept_and_the_other_chosen() -> None:
    assert choose(RGW_16, "auto", "md5", sha_accelerated=True).modes == UNSIGNED_MD5
    assert choose(RGW_16, "unsigned", "auto", sha_accelerated=True).modes == UNSIGNED_MD5
    assert choose(RCLONE, "signed", "auto", sha_accelerated=True).modes == StoreModes("signed", "md5")


def test_aws_is_known_without_a_probe() -> None:
    assert is_aws(None) and is_aws("https://s3.eu-west-1.amazonaws.com") and is_aws("https://s3.amazonaws.com.cn")
    assert not is_aws("http://127.0.0.1:7480") and not is_aws("https://amazonaws.com.example.org")


def test_reads_sign_and_keep_explicit_values() -> None:
    assert read_modes("auto", "auto") == StoreModes("signed", "md5")
    assert read_modes("unsigned", "crc32c") == UNSIGNED_CRC


def test_explicit_modes_known_unverified_are_warned_about() -> None:
    assert "carry no digest" in explicit_warning(Findings(), StoreModes("unsigned", "none"))
    assert explicit_warning(Findings(), UNSIGNED_CRC) == ""  # nothing known
    assert "does not verify" in explicit_warning(RGW_16, UNSIGNED_CRC)
    assert explicit_warning(RGW_16, UNSIGNED_MD5) == ""


def test_check_rows_say_accepted_and_verified() -> None:
    rows = {row.modes: row for row in mode_rows(RCLONE, sha_accelerated=True)}
    assert rows[UNSIGNED_CRC].status == "warn" and rows[UNSIGNED_MD5].status == "ok"
    assert rows[SIGNED_NONE].status == "warn"
    refused = Findings({"crc32c": Finding(Verdict.REFUSES, ProbeAnswer(400, "InvalidArgument"), "x")})
    assert {row.modes: row for row in mode_rows(refused, sha_accelerated=True)}[UNSIGNED_CRC].status == "refused"
