"""S3 access: the ``ObjectStore`` protocol and ``S3Store``, its aiobotocore implementation.

Only this package and its two helpers, :mod:`~gps3async.s3.client` (building the
client) and :mod:`~gps3async.s3.errors` (translating failures), touch botocore
or aiobotocore, so their untyped dictionaries stay here: callers get small
dataclasses and the plugin's own exceptions.

``objectstore`` is the protocol and its dataclasses (pure); ``base`` the client,
bucket and error translation every part shares; ``writes``, ``reads`` and
``listing`` the three groups of S3 calls, which :class:`S3Store` puts together.
"""

from __future__ import annotations

from .listing import S3Listing
from .objectstore import CompletedPart, ListedObject, ObjectStore, OpenUpload, PartHead, RangeRead, WriteOptions
from .reads import S3Reads
from .writes import S3Writes

__all__ = [
    "CompletedPart",
    "ListedObject",
    "ObjectStore",
    "OpenUpload",
    "PartHead",
    "RangeRead",
    "S3Store",
    "WriteOptions",
]


class S3Store(S3Writes, S3Reads, S3Listing):
    """:class:`ObjectStore` over one aiobotocore S3 client for one bucket."""
