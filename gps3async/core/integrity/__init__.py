"""Integrity of stored bytes, block by block (pure: formats and arithmetic, no I/O).

* :mod:`.blocks`: the CRC-32C of every 1 MiB block of an object, how a backup
  records that list (``gps3async-block-size`` / ``gps3async-block-crc32c``), how
  an upload folds its parts' pieces into it, and how a restore checks each
  block of a range before writing it.
* :mod:`.etags`: what an S3 ETag says about an object written without block
  digests (the Go plugin's): a plain MD5, or the MD5 of its parts' MD5s.

The format is described for operators in ``docs/integrity.md``.
"""
