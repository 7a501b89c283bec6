"""The transfer pipelines and local I/O: bytes between a descriptor and the store.

:mod:`.upload` (stdin to parts in flight), :mod:`.download` (ranged GETs
reassembled in order), :mod:`.stdio` (stdin, stdout and files off the event
loop), :mod:`.restorecheck` (what a restore checks each block against) and
:mod:`.encryption` (the cipher streams around both pipelines).  The pipelines
see the store only through :class:`gps3async.s3.storage.ObjectStore`.
"""
