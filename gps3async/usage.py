"""The usage page ``--help``, ``-h`` and ``help`` print (pure, standard library only).

Imported only when help is asked for: the thin client answers it itself, like
``--version``, so a help call neither starts an agent nor pays the plugin's
full start-up, and no other call pays for this text.
"""

from __future__ import annotations

import textwrap

from .verbs import ANSWER_ONLY, HELP, VERBS

__all__ = ["OPTION_GROUPS", "SUMMARIES", "usage_page"]

#: One line per verb on what it does; a test keeps it in step with :data:`gps3async.verbs.VERBS`.
SUMMARIES = {
    "plugin_api_version": "print the plugin API version gpbackup checks",
    "--version": "print the plugin's name and version (gpbackup compares it across hosts)",
    "setup_plugin_for_backup": "before a backup: check the config, prove write access (the empty report object)",
    "setup_plugin_for_restore": "before a restore: check the config and prove the folder can be read",
    "cleanup_plugin_for_backup": "after a backup: nothing to clean up (succeeds even without a config)",
    "cleanup_plugin_for_restore": "after a restore: nothing to clean up (succeeds even without a config)",
    "backup_file": "upload a local file (metadata, TOC, report, config) to its key",
    "restore_file": "download a file to its local path; it appears only complete and verified",
    "backup_data": "upload stdin (a table's or a segment's data) to the key of DATA_FILE",
    "restore_data": "write the object of DATA_FILE to stdout, every block verified first",
    "restore_data_subset": "write only the byte ranges OFFSETS_FILE lists (a filtered gprestore)",
    "delete_backup": "delete every object of backup TIMESTAMP and abort its unfinished uploads",
    "list_directory": "list the objects (key and size) under PREFIX, or under the folder",
    "delete_directory": "delete every object under PREFIX (which must lie inside the folder)",
    "backup_directory": "upload every file below a local directory, each under its own path as key",
    "backup_directory_parallel": "the same as backup_directory",
    "restore_directory": "download every object under the directory's key into it",
    "restore_directory_parallel": "the same as restore_directory",
    "check": "before the first backup: try every S3 request a backup and a restore make (--abort-uploads:\n"
    "      also abort the uploads failed backups left open)",
    "verify": "check that backup TIMESTAMP holds every file gprestore opens, size and digests as recorded\n"
    "      (--deep: read every byte back)",
    "list": "every backup set in the bucket (database, type, chain, complete or not), open uploads;\n"
    "      with TIMESTAMP, its chain and bytes per segment (--json for scripts)",
    "expire": "delete backup sets by POLICY without breaking an incremental chain: --keep-full N,\n"
    "      --older-than-days D, --before-timestamp TS (combined: all must hold), and\n"
    "      --unfinished-older-than HOURS for open uploads; --dry-run says what would go",
}

#: The config's options, for a reminder of their names; a test keeps it in step with :mod:`gps3async.core.config`.
OPTION_GROUPS = (
    ("where", ("region", "endpoint", "bucket", "folder", "encryption", "addressing_style", "remove_duplicate_bucket",
               "http_proxy", "ca_cert", "tls_verify")),
    ("credentials", ("aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_profile")),
    ("transfers", ("backup_multipart_chunksize", "backup_max_concurrent_requests", "restore_multipart_chunksize",
                   "restore_max_concurrent_requests", "max_attempts", "connect_timeout", "read_timeout",
                   "payload_signing", "upload_checksum")),
    ("per host", ("agent", "agent_idle_timeout", "host_memory_limit", "host_upload_limit", "host_download_limit")),
    ("stored objects", ("server_side_encryption", "sse_kms_key_id", "storage_class", "client_side_encryption",
                        "encryption_key", "encryption_key_file", "encryption_previous_keys")),
    ("object lock", ("object_lock_mode", "object_lock_retain_days", "object_lock_bypass_governance")),
    ("log", ("logger_verbosity",)),
)  # fmt: skip


def usage_page(program: str) -> str:
    """The whole page: how to call, every verb with its arguments and one line, and the config's options."""
    lines = [
        f"usage: {program} VERB [ARGS...]",
        "",
        "gpbackup and gprestore run the plugin named by executablepath in their --plugin-config file;",
        "CONFIG below is that file. Every verb:",
        "",
    ]
    for verb in (*ANSWER_ONLY, *VERBS):
        spec = VERBS.get(verb)
        lines.append(f"  {verb} {spec.usage}" if spec else f"  {verb}")
        lines.append(f"      {SUMMARIES[verb]}")
    lines += [
        f"  {', '.join(HELP)}",
        "      print this page",
        "",
        "CONFIG is YAML: executablepath (this program's absolute path, the same on every host) and options:",
    ]
    for group, names in OPTION_GROUPS:
        lines += textwrap.wrap(f"{group}: {', '.join(names)}", 98, initial_indent="  ", subsequent_indent="      ")
    lines += [
        "Every option, its default and meaning: README.md, section 'Config options'; sizing, IAM policy,",
        "S3-compatible stores and log lines: docs/operators-guide.md (both in the gps3async sources).",
        "Keep secrets out of CONFIG (gpbackup copies it into every backup set): use ${NAME} references to",
        "environment variables, aws_profile or an instance role.",
    ]
    return "\n".join(lines) + "\n"
