"""The bucket as a backup catalogue (pure): backup sets from one listing and their config files, retention plans.

:mod:`.sets` builds the backup sets (type, chain, completeness, writer) from
the folder's listing and each set's ``gpbackup_<TS>_config.yaml``;
:mod:`.retention` decides what an ``expire`` policy deletes, never breaking a
kept set's chain; :mod:`.options` parses the verbs' command lines;
:mod:`.render` writes the table and the ``--json`` document.  The I/O (one
listing, one small read per set, the deletes) is
:mod:`gps3async.commands.catalogue`.
"""
