"""The plugin's verbs and their argument counts (pure, standard library only).

Both front doors read this table: the thin client (:mod:`gps3async.agent.client`)
to decide quickly whether a call can go to the agent, and the in-process command
line (:mod:`gps3async.cli`) to check arguments.  It must stay cheap to import:
the thin client's start-up is part of every plugin call, so no dataclasses,
typing or logging here.
"""

from __future__ import annotations

__all__ = ["ANSWER_ONLY", "HELP", "SCOPED_USAGE", "SCOPES", "VERBS", "Verb"]

SCOPES = ("coordinator", "master", "segment_host", "segment")
SCOPED_USAGE = "CONFIG LOCAL_BACKUP_DIR SCOPE [CONTENT_ID]"
#: Verbs answered from constants, with no config and no S3.
ANSWER_ONLY = ("plugin_api_version", "--version")
#: Each alone asks for the usage page (:mod:`gps3async.usage`).
HELP = ("--help", "-h", "help")


class Verb:
    """How one verb is called: usage text, argument count bounds, and what it needs."""

    __slots__ = ("for_backup", "max_args", "min_args", "needs_config", "usage")

    def __init__(
        self, usage: str, min_args: int, max_args: int, *, for_backup: bool = False, needs_config: bool = True
    ) -> None:
        self.usage = usage
        self.min_args = min_args
        self.max_args = max_args
        #: Backup verbs also enforce S3's 5 MiB minimum part size on the config.
        self.for_backup = for_backup
        #: Cleanup hooks must succeed even when the config is gone.
        self.needs_config = needs_config

    def accepts(self, args: list[str]) -> bool:
        return self.min_args <= len(args) <= self.max_args


VERBS: dict[str, Verb] = {
    "setup_plugin_for_backup": Verb(SCOPED_USAGE, 3, 4, for_backup=True),
    "setup_plugin_for_restore": Verb(SCOPED_USAGE, 3, 4),
    "cleanup_plugin_for_backup": Verb(SCOPED_USAGE, 3, 4, needs_config=False),
    "cleanup_plugin_for_restore": Verb(SCOPED_USAGE, 3, 4, needs_config=False),
    "backup_file": Verb("CONFIG FILE", 2, 2, for_backup=True),
    "restore_file": Verb("CONFIG FILE", 2, 2),
    "backup_data": Verb("CONFIG DATA_FILE < data", 2, 2, for_backup=True),
    "restore_data": Verb("CONFIG DATA_FILE > data", 2, 2),
    "restore_data_subset": Verb("CONFIG DATA_FILE OFFSETS_FILE > data", 3, 3),
    "delete_backup": Verb("CONFIG TIMESTAMP", 2, 2),
    "list_directory": Verb("CONFIG [PREFIX]", 1, 2),
    "delete_directory": Verb("CONFIG PREFIX", 2, 2),
    "backup_directory": Verb("CONFIG DIRECTORY [PARALLEL]", 2, 3, for_backup=True),
    "backup_directory_parallel": Verb("CONFIG DIRECTORY [PARALLEL]", 2, 3, for_backup=True),
    "restore_directory": Verb("CONFIG DIRECTORY [PARALLEL]", 2, 3),
    "restore_directory_parallel": Verb("CONFIG DIRECTORY [PARALLEL]", 2, 3),
    # An operator's pre-flight check (gpbackup never calls it): gps3async.commands.check.
    "check": Verb("CONFIG [--abort-uploads]", 1, 2, for_backup=True),
    # An operator's check of a backup set in the bucket (gpbackup never calls it): gps3async.commands.verify.
    "verify": Verb("CONFIG TIMESTAMP [--deep]", 2, 3),
}
