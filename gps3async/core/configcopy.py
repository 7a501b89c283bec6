"""The copy of the plugin config gpbackup stores in every backup set, and the secrets in it (pure).

gpbackup copies the config it runs with (``/tmp/<TS>_<name>``, its options plus
``pgport``) to ``gpbackup_<TS>_plugin_config.yaml`` in the coordinator's backup
directory and hands that file to ``backup_file`` (backup/backup.go, ``DoBackup``).
A literal ``aws_secret_access_key`` in the config would be stored in the bucket
next to every backup, readable by anyone who may read the backups.

Nothing reads that copy's options back: gprestore runs with the config it is
given and restores only ``config.yaml``, ``metadata.sql``, ``report``,
``statistics.sql`` and the TOCs (restore/wrappers.go,
``RecoverMetadataFilesUsingPlugin``); ``gpbackup --incremental`` downloads the
base backup's copy but never parses it (it reads the base's ``config.yaml``).
So ``backup_file`` stores the copy with each literal secret replaced by
:data:`REDACTED` (:func:`redacted_copy`), and the config reader refuses a config
holding the marker with a line that says where it came from.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "MAX_COPY_BYTES",
    "REDACTED",
    "SECRET_OPTIONS",
    "is_plugin_config_copy",
    "literal_secret_options",
    "literal_secret_warning",
    "redacted_copy",
]

#: Options whose value is a secret; the access key id names the key and is not one.
SECRET_OPTIONS = ("aws_secret_access_key", "aws_session_token")
#: What a literal secret is replaced with in the stored copy.
REDACTED = "REDACTED-by-gps3async"
_COPY_NAME = re.compile(r"gpbackup_\d{14}_plugin_config\.yaml")
_REFERENCE = re.compile(r"\$\{[^}]*\}")
#: A config copy is a few hundred bytes; anything far larger is not one and is stored as it is.
MAX_COPY_BYTES = 1 << 20


def is_plugin_config_copy(path: str) -> bool:
    """Whether ``path`` names gpbackup's copy of the plugin config (``gpbackup_<TS>_plugin_config.yaml``)."""
    return _COPY_NAME.fullmatch(path.rsplit("/", 1)[-1]) is not None


def _is_literal(value: str) -> bool:
    """A value with text outside its ``${NAME}`` references (the marker itself is no secret)."""
    return value != REDACTED and _REFERENCE.sub("", value).strip() != ""


def literal_secret_options(options: Mapping[str, str]) -> tuple[str, ...]:
    """The secret options whose values are written in the config rather than referenced."""
    return tuple(key for key in SECRET_OPTIONS if _is_literal(options.get(key) or ""))


def literal_secret_warning(names: tuple[str, ...]) -> str:
    """The one line ``check`` prints and a backup logs once: what is exposed, where, and what keeps it out."""
    return (
        f"the config holds a literal {' and '.join(names)}, which gpbackup copies into every backup set "
        "(gpbackup_<TS>_plugin_config.yaml: gps3async stores it redacted, the Go plugin in plain text) and leaves "
        "in /tmp on every host; ${NAME} references to the environment (or client_side_encryption) keep it out"
    )


def _options_node(text: str) -> yaml.MappingNode | None:
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        return None
    for key, value in root.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "options" and isinstance(value, yaml.MappingNode):
            return value
    return None


def _options(text: str) -> dict[str, str]:
    node = _options_node(text)
    if node is None:
        return {}
    return {
        str(key.value): str(value.value)
        for key, value in node.value
        if isinstance(key, yaml.ScalarNode) and isinstance(value, yaml.ScalarNode)
    }


def redacted_copy(data: bytes) -> bytes | None:
    """``data`` with each literal secret option's value replaced by :data:`REDACTED`; ``None``: store as it is.

    Only the secret values change, byte for byte in place, so the copy reads as
    the config gpbackup wrote; the result is parsed again and must hold the same
    options but the redacted ones.  ``None`` for anything that is not a YAML
    mapping with literal secrets under ``options``.
    """
    if len(data) > MAX_COPY_BYTES:
        return None
    try:
        text = data.decode("utf-8")
        node = _options_node(text)
        before = _options(text)
    except (UnicodeDecodeError, yaml.YAMLError):
        return None
    if node is None:
        return None
    spans = [
        (value.start_mark.index, value.end_mark.index)
        for key, value in node.value
        if isinstance(key, yaml.ScalarNode) and key.value in SECRET_OPTIONS
        and isinstance(value, yaml.ScalarNode) and _is_literal(value.value)
    ]  # fmt: skip
    if not spans:
        return None
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + json.dumps(REDACTED) + text[end:]
    hidden = [key for key, value in before.items() if key in SECRET_OPTIONS and _is_literal(value)]
    try:
        if _options(text) == {**before, **dict.fromkeys(hidden, REDACTED)}:
            return text.encode("utf-8")
    except yaml.YAMLError:
        pass
    # A layout in-place replacement cannot keep (a block scalar, say): the same document, written anew.
    document = yaml.safe_load(data)
    document["options"].update(dict.fromkeys(hidden, REDACTED))
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False).encode("utf-8")
