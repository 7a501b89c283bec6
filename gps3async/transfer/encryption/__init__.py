"""Client-side encryption, the I/O part (the format and keys are :mod:`gps3async.core.encryption`).

:mod:`.keyfiles` reads key files, :mod:`.streams` is the source and sinks
wrapped around the transfer pipelines, :mod:`.restore` the ranged restores.
"""
