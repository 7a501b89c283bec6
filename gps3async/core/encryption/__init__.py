"""Client-side encryption, the pure part: objects the store cannot read, restorable by range.

:mod:`.format` is the header, segment layout, key derivation and the
AES-256-GCM sealing of segments; :mod:`.ranges` maps plaintext ranges onto the
segments that cover them; :mod:`.keys` holds the options and keyrings.  The
I/O part (reading key files, the streams around the transfer pipelines,
ranged restores) is :mod:`gps3async.transfer.encryption`.
docs/encryption.md describes the format and threat model.
"""
