"""The command line of ``python -m bench.run``: parsing and checking it into :class:`Options`."""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.harness.common import DOC, GIB, KIB, MIB, REPO, SEGMENT_SIZE, human
from gps3async.core.config import MIN_PART_SIZE

if TYPE_CHECKING:
    from collections.abc import Sequence

#: The first line of ``--help``.
DESCRIPTION = (
    "The benchmark harness: gps3async against s5cmd, ``aws s3 cp`` and rclone on a local S3 server it starts,"
    " or on any S3 store given by --endpoint, --bucket and --prefix (credentials from AWS_ACCESS_KEY_ID,"
    " AWS_SECRET_ACCESS_KEY and optionally AWS_SESSION_TOKEN)."
)

_UNITS = {"": 1, "B": 1, "K": KIB, "KIB": KIB, "M": MIB, "MIB": MIB, "G": GIB, "GIB": GIB}


def parse_size(text: str) -> int:
    """``"8MiB"`` -> 8388608.  Units are binary (K/KiB, M/MiB, G/GiB), case-insensitive."""
    match = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]*)\s*", text)
    if match is None or match.group(2).upper() not in _UNITS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 8MiB or 1GiB")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


@dataclass(frozen=True)
class Options:
    """What to run.  ``segment_*`` are ``None`` when the plugin's defaults apply."""

    size: int
    chunk: int
    concurrency: int
    segment_chunk: int | None
    segment_concurrency: int | None
    repeat: int
    singles: bool
    segments: bool
    subset: bool
    #: Whether to measure ``verify --deep`` against a plain restore of the backup (:mod:`bench.integrity.verifyset`).
    verify: bool
    #: Whether to measure gps3async's upload in each store mode (:mod:`bench.integrity.modes`).
    modes: bool
    #: Whether to measure gps3async with client-side encryption off and on (:mod:`bench.encryption.encrypted`).
    encryption: bool
    #: Whether to measure tiny calls (:mod:`bench.percall.invocations`), and how many of each in sequence.
    run_invocations: bool
    invocations: int
    write_doc: bool
    plugin_rev: str | None
    argv: tuple[str, ...]
    #: The user's S3 store; empty: a local server the run starts.
    endpoint: str = ""
    bucket: str = ""
    prefix: str = ""
    region: str = ""
    #: Whether to measure host bandwidth limits and the shared back-off (:mod:`bench.hostlimit.bandwidth`).
    bandwidth: bool = False
    #: A Go ``gpbackup_s3_plugin`` binary whose tiny calls join the per-invocation table; empty: none.
    go_plugin: str = ""
    #: A ``greenplum_path.sh`` every tiny call sources first, as gprestore's calls do; empty: calls exec'd directly.
    greenplum_path: str = ""
    #: Whether to time ``list`` of a folder of 1,000 backup sets (:mod:`bench.catalogue.listing`).
    catalogue: bool = False


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=DESCRIPTION)
    parser.add_argument("--size", type=parse_size, default=GIB, help="single-stream object size (default 1GiB)")
    parser.add_argument(
        "--chunk", type=parse_size, help="part size for every tool, whole MiB (default 8MiB; segment mode: plugin's)"
    )
    parser.add_argument(
        "--concurrency", type=int, help="requests in flight per transfer (default 4; segment: plugin's)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="run each single-stream measurement N times, keep the fastest"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--segments-only", action="store_true", help="only the 8-process segment-host mode")
    mode.add_argument("--skip-segments", action="store_true", help="no segment-host mode")
    mode.add_argument("--invocations-only", action="store_true", help="only the per-invocation table")
    mode.add_argument(
        "--encryption-only", action="store_true", help="only gps3async plain and with client-side encryption"
    )
    mode.add_argument(
        "--modes-only", action="store_true", help="only gps3async's upload per payload_signing and upload_checksum"
    )
    mode.add_argument(
        "--verify-only", action="store_true", help="only verify --deep against a plain restore of the same backup"
    )
    parser.add_argument(
        "--invocations",
        type=int,
        default=200,
        metavar="N",
        help="1 KiB calls in sequence per verb and mode (default 200)",
    )
    parser.add_argument("--skip-invocations", action="store_true", help="no per-invocation table")
    parser.add_argument(
        "--go-plugin",
        default="",
        metavar="PATH",
        help="a Go gpbackup_s3_plugin binary: its 1 KiB calls join the per-invocation table and set the goal",
    )
    parser.add_argument(
        "--greenplum-path",
        default="",
        metavar="FILE",
        help="run the per-invocation calls as gprestore does: bash -c 'source FILE && exec PLUGIN ...'",
    )
    parser.add_argument("--skip-modes", action="store_true", help="no upload per store mode")
    parser.add_argument("--skip-verify", action="store_true", help="no verify --deep row")
    parser.add_argument("--skip-catalogue", action="store_true", help="no list of 1,000 backup sets")
    parser.add_argument("--skip-encryption", action="store_true", help="no plain/encrypted comparison")
    parser.add_argument(
        "--skip-bandwidth", action="store_true", help="no host bandwidth limit / throttling store measurement"
    )
    parser.add_argument(
        "--skip-subset", action="store_true", help="leave out the restore_data_subset measurement (10,000 ranges)"
    )
    parser.add_argument(
        "--plugin-rev",
        metavar="REV",
        help="measure gps3async as committed at this git revision (exported to a temporary directory and put"
        " first on the plugin's PYTHONPATH) instead of the installed, possibly uncommitted, working tree",
    )
    parser.add_argument(
        "--write-doc",
        action=argparse.BooleanOptionalAction,
        help=f"overwrite {DOC.relative_to(REPO)} (default: only for runs on the local server)",
    )
    target = parser.add_argument_group(
        "another S3 store", "measure on it instead of a local server; the run WRITES AND DELETES objects under PREFIX"
    )
    target.add_argument("--endpoint", default="", metavar="URL", help="e.g. https://minio.example.internal:9000")
    target.add_argument("--bucket", default="", metavar="NAME", help="an existing bucket")
    target.add_argument("--prefix", default="", metavar="PREFIX", help="a key prefix nothing else uses (must be empty)")
    target.add_argument("--region", default="", help="signing region (default: AWS_REGION, else us-east-1)")
    return parser


def _check_target(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    named = [name for name in ("endpoint", "bucket", "prefix") if getattr(args, name)]
    if named and len(named) < 3:
        parser.error("--endpoint, --bucket and --prefix go together: give all three, or none for a local server")
    prefix = args.prefix.strip("/")
    if args.endpoint and (not prefix or ".." in prefix.split("/")):
        parser.error("--prefix must name a key prefix such as gps3async-bench (not empty, '/' or with '..')")
    if args.region and not args.endpoint:
        parser.error("--region applies only with --endpoint")


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = _parser()
    args = parser.parse_args(argv)
    # The single-stream defaults are fixed so every tool gets the same settings; segment mode keeps
    # ``None`` so the plugin's own defaults are what gets measured.
    chunk = 8 * MIB if args.chunk is None else args.chunk
    concurrency = 4 if args.concurrency is None else args.concurrency
    if chunk < MIN_PART_SIZE or chunk % MIB:
        parser.error("--chunk must be a whole number of MiB and at least 5MiB (s5cmd takes MiB, S3 needs 5 MiB)")
    if concurrency < 1 or args.repeat < 1 or args.invocations < 1:
        parser.error("--concurrency, --repeat and --invocations must be at least 1")
    if args.invocations_only and args.skip_invocations:
        parser.error("--invocations-only and --skip-invocations exclude each other")
    if args.modes_only and args.skip_modes:
        parser.error("--modes-only and --skip-modes exclude each other")
    if args.verify_only and args.skip_verify:
        parser.error("--verify-only and --skip-verify exclude each other")
    if args.encryption_only and args.skip_encryption:
        parser.error("--encryption-only and --skip-encryption exclude each other")
    only_other = (
        args.segments_only or args.invocations_only or args.modes_only or args.verify_only or args.encryption_only
    )
    segments = not (
        args.skip_segments or args.invocations_only or args.modes_only or args.verify_only or args.encryption_only
    )
    if args.size < SEGMENT_SIZE and segments:
        parser.error(f"segment mode reads {human(SEGMENT_SIZE)} slices: use --size {human(SEGMENT_SIZE)} or more")
    _check_target(parser, args)
    if args.go_plugin and not os.access(args.go_plugin, os.X_OK):
        parser.error(f"--go-plugin {args.go_plugin}: not an executable file")
    if args.greenplum_path and not (os.path.isfile(args.greenplum_path) and os.access(args.greenplum_path, os.R_OK)):
        parser.error(f"--greenplum-path {args.greenplum_path}: not a readable file")
    return Options(
        size=args.size,
        chunk=chunk,
        concurrency=concurrency,
        segment_chunk=args.chunk,
        segment_concurrency=args.concurrency,
        repeat=args.repeat,
        singles=not only_other,
        segments=segments,
        subset=not (only_other or args.skip_subset),
        modes=not (
            args.segments_only or args.invocations_only or args.verify_only or args.encryption_only or args.skip_modes
        ),
        verify=not (
            args.segments_only or args.invocations_only or args.modes_only or args.encryption_only or args.skip_verify
        ),
        encryption=not (
            args.segments_only or args.invocations_only or args.modes_only or args.verify_only or args.skip_encryption
        ),
        run_invocations=not (
            args.segments_only or args.modes_only or args.verify_only or args.encryption_only or args.skip_invocations
        ),
        invocations=args.invocations,
        write_doc=not args.endpoint if args.write_doc is None else args.write_doc,
        plugin_rev=args.plugin_rev,
        argv=tuple(sys.argv[1:] if argv is None else argv),
        endpoint=args.endpoint,
        go_plugin=args.go_plugin,
        greenplum_path=os.path.abspath(args.greenplum_path) if args.greenplum_path else "",
        bucket=args.bucket,
        prefix=args.prefix.strip("/"),
        region=args.region,
        bandwidth=segments and not args.skip_bandwidth,
        catalogue=not (only_other or args.skip_catalogue),
    )
