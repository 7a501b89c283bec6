"""An agent expands ``${NAME}`` credentials from its own environment, so their values are part of its identity."""

from __future__ import annotations

from gps3async.agent.place import identity, referenced_variables

CONFIG = """\
executablepath: /x
options:
  endpoint: http://127.0.0.1:9000
  aws_access_key_id: ${BACKUP_KEY_ID}
  aws_secret_access_key: ${BACKUP_SECRET}
  bucket: b
  folder: f
"""


def test_references_are_found_without_a_yaml_parser() -> None:
    assert referenced_variables(CONFIG) == ["BACKUP_KEY_ID", "BACKUP_SECRET"]
    assert referenced_variables("a: ${ONE} ${TWO}x ${ONE}\nb: ${UNCLOSED") == ["ONE", "TWO"]
    assert referenced_variables("no references: $HOME {x}") == []


def test_another_value_of_a_referenced_variable_is_another_agent() -> None:
    first = identity(CONFIG, {"BACKUP_KEY_ID": "id", "BACKUP_SECRET": "one"})
    assert identity(CONFIG, {"BACKUP_KEY_ID": "id", "BACKUP_SECRET": "one"}) == first
    assert identity(CONFIG, {"BACKUP_KEY_ID": "id", "BACKUP_SECRET": "two"}) != first
    assert identity(CONFIG, {"BACKUP_KEY_ID": "id"}) != first
    # a variable the config does not refer to changes nothing
    assert identity(CONFIG, {"BACKUP_KEY_ID": "id", "BACKUP_SECRET": "one", "UNRELATED": "x"}) == first


def test_another_store_mode_is_another_agent() -> None:
    """An agent's S3 client is built for one payload_signing and upload_checksum: another mode needs its own."""
    plain = identity(CONFIG, {})
    signed = identity(CONFIG + "  payload_signing: signed\n", {})
    md5 = identity(CONFIG + "  upload_checksum: md5\n", {})
    assert len({plain, signed, md5}) == 3
