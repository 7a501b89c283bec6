"""Host-wide bandwidth limits and one back-off per host, for every stream one agent serves.

:mod:`.fairshare` and :mod:`.window` are the maths (no I/O, no clock: time is
passed in); :mod:`.host` is the part the agent (or an in-process call) owns and
the pipelines wait on.
"""

from .host import DOWNLOAD, UPLOAD, HostBandwidth, StreamShare, note_answer, paced, paced_request, shared_backoff

__all__ = [
    "DOWNLOAD",
    "UPLOAD",
    "HostBandwidth",
    "StreamShare",
    "note_answer",
    "paced",
    "paced_request",
    "shared_backoff",
]
