"""Where the plugin's AWS credentials come from, decided from the config alone (pure).

gpbackup copies the plugin config into every backup set, so a secret written
in it ends up in the bucket next to the data.  Credential values may therefore
be ``${NAME}`` references, expanded here from the environment of the call, or
be left out for a named profile (``aws_profile``) or botocore's default chain
(environment, shared files, container and instance roles).

Nothing here ever puts a credential value into a message: problems name the
option and the variable only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .configcopy import REDACTED

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["CREDENTIAL_KEYS", "Credentials", "expand_references", "mask_key_id", "resolve_credentials"]

#: Options whose values may be ``${NAME}`` references.
CREDENTIAL_KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_profile")
_REFERENCE = re.compile(r"\$\{([^}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Credentials:
    """Static keys, a profile name, or neither (the default chain); ``source`` says which, for people."""

    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)
    session_token: str = field(default="", repr=False)
    profile: str = ""
    #: Where the values came from, e.g. "config file" or "environment (${AWS_SECRET})"; never a value.
    source: str = "default chain"


def expand_references(key: str, value: str, environ: Mapping[str, str], problems: list[str]) -> tuple[str, list[str]]:
    """``value`` with every ``${NAME}`` replaced from ``environ``, and the names used.

    An unset or empty variable, or a malformed reference, is a problem that
    names the option and the variable, never the value.
    """
    names: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if not _NAME.fullmatch(name):
            problems.append(f"{key}: ${{{name}}} is not a valid environment variable reference")
            return ""
        names.append(name)
        found = environ.get(name, "")
        if not found:
            problems.append(f"{key} refers to ${{{name}}}, which is not set (or empty) in the environment")
        return found

    expanded = _REFERENCE.sub(substitute, value)
    if "${" in _REFERENCE.sub("", value):
        problems.append(f"{key}: a '${{' without its closing '}}'")
    return expanded, names


def resolve_credentials(options: Mapping[str, str], environ: Mapping[str, str], problems: list[str]) -> Credentials:
    """The credentials ``options`` ask for; problems (the key pair's halves, conflicts) go to ``problems``."""
    values: dict[str, str] = {}
    referenced: list[str] = []
    for key in CREDENTIAL_KEYS:
        values[key], names = expand_references(key, options.get(key, ""), environ, problems)
        referenced += names
    key_id, secret = values["aws_access_key_id"], values["aws_secret_access_key"]
    token, profile = values["aws_session_token"], values["aws_profile"]
    given = {key for key in CREDENTIAL_KEYS if options.get(key)}
    for key in sorted(key for key in given if options[key] == REDACTED):
        problems.append(f"{key} is {REDACTED}: this is the copy of a config stored in a backup set; use the original")
    if ("aws_access_key_id" in given) != ("aws_secret_access_key" in given):
        missing = "aws_access_key_id" if "aws_secret_access_key" in given else "aws_secret_access_key"
        problems.append(f"{missing} must be set when the other half of the key pair is")
    if "aws_session_token" in given and "aws_access_key_id" not in given:
        problems.append("aws_session_token needs aws_access_key_id and aws_secret_access_key")
    if "aws_profile" in given and given & {"aws_access_key_id", "aws_secret_access_key", "aws_session_token"}:
        problems.append("aws_profile and aws_access_key_id/aws_secret_access_key exclude each other; give one")
    if referenced:
        source = "environment (" + ", ".join(f"${{{name}}}" for name in dict.fromkeys(referenced)) + ")"
    elif key_id:
        source = "config file"
    else:
        source = "default chain"
    if profile:
        source = f"profile {profile!r}" + (f" from {source}" if referenced else "")
    return Credentials(key_id, secret, token, profile, source)


def mask_key_id(key_id: str) -> str:
    """An access key id as people may see it: the last four characters only."""
    return f"...{key_id[-4:]}" if len(key_id) > 8 else "..."
