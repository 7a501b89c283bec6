"""The per-host agent: a long-lived process that serves plugin calls for thin clients.

gpbackup starts one plugin process per table per segment; each pays for an
interpreter, aiobotocore's imports and a new S3 connection.  Instead, the
``gpbackup_s3_plugin`` entry point is a thin client (:mod:`.client`, standard
library only) that passes its argv, working directory and standard descriptors
over a Unix socket to an agent (:mod:`.server`) that keeps the event loop, the
S3 client and its warm connections.  The agent runs the very same
:mod:`gps3async.commands.plugin` as the in-process path, which stays for
``agent: "off"`` and for every case where no agent can answer.

:mod:`.place` says where an agent lives and which one a call belongs to;
:mod:`.wire` is the few bytes they exchange.  The agent keeps its S3 clients
in :mod:`.stores` and its process chores (name, pid file, peer uid) in
:mod:`.process`, and reads each call's request and watches its client with
:mod:`.connection`.  This package imports nothing at
the top, so the thin client pays only for what it uses.
"""
