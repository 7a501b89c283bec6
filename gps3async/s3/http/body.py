"""A response body as aiobotocore sees it, and as gps3async's storage reads it.

aiobotocore wraps the raw response of a streaming operation in its
``AioStreamingBody``, which reads ``raw.content.read(n)``; non-streaming
responses are read whole with ``raw.read()``.  :class:`ResponseBody` offers
both, plus the narrow interface :mod:`gps3async.s3.storage` uses to receive a
ranged GET straight into a pool buffer: :meth:`ResponseBody.receive_into`.

The body owns its connection's lease: reading the last byte gives the
connection back to the pool for reuse; closing the body earlier, or any
failure, closes the connection instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .botocore_errors import body_error
from .errors import HttpError

if TYPE_CHECKING:
    from collections.abc import Callable

    from .connection import Connection
    from .response import ResponseHead

__all__ = ["ResponseBody"]

#: Piece size for reading a body of unknown length (chunked error documents).
_PIECE = 64 * 1024


class ResponseBody:
    def __init__(
        self,
        connection: Connection,
        head: ResponseHead,
        url: str,
        give_back: Callable[[bool], None],
        *,
        may_reuse: bool = True,
    ) -> None:
        self._connection: Connection | None = connection
        self._head = head
        self._give_back = give_back
        self._may_reuse = may_reuse
        self.url = url
        self._received = 0
        self._preloaded: bytes | None = None
        if connection.body_complete:
            self._end(clean=True)

    @property
    def content(self) -> ResponseBody:
        """aiobotocore's ``StreamingBody`` reads ``raw.content``; that is the body itself."""
        return self

    def at_eof(self) -> bool:
        return self._connection is None

    async def receive_into(self, view: memoryview) -> int:
        """Receive body bytes straight into ``view`` until it is full or the body ends; return how many.

        :raises botocore.exceptions.ResponseStreamingError: (or ``ReadTimeoutError``,
            ``IncompleteReadError``) when the body breaks off before any byte of this call arrived.
        """
        try:
            return await self.receive_raw(view)
        except HttpError as err:
            raise body_error(err, self.url) from None

    async def receive_raw(self, view: memoryview) -> int:
        """:meth:`receive_into` with the HTTP layer's own exceptions (for the layer itself)."""
        connection = self._connection
        if connection is None or not len(view):
            return 0
        try:
            got = await connection.readinto(view)
        except BaseException:
            self._end(clean=False)
            raise
        self._received += got
        if connection.body_complete:
            self._end(clean=True)
        return got

    async def preload(self) -> None:
        """Read the whole body now (a small answer); :meth:`read` then returns it.

        :raises HttpError: the layer's own exceptions, for the session to map as request failures.
        """
        self._preloaded = await self.read_raw()

    async def read(self, amount: int | None = -1) -> bytes:
        """Up to ``amount`` bytes (everything left when ``amount`` is negative or ``None``)."""
        if self._preloaded is not None:
            preloaded, self._preloaded = self._preloaded, None
            return preloaded
        try:
            return await self.read_raw(amount)
        except HttpError as err:
            raise body_error(err, self.url) from None

    async def read_raw(self, amount: int | None = -1) -> bytes:
        """:meth:`read` with the HTTP layer's own exceptions (for the layer itself)."""
        if amount is not None and amount >= 0:
            buffer = bytearray(amount)
            got = await self.receive_raw(memoryview(buffer))
            return bytes(buffer[:got])
        length = self._head.content_length
        pieces: list[bytes] = []
        while self._connection is not None:
            size = length - self._received if length is not None else _PIECE
            piece = await self.read_raw(max(size, 1))
            if not piece:
                break
            pieces.append(piece)
        return b"".join(pieces)

    def close(self) -> None:
        """Stop reading: the connection is closed unless the whole body was read."""
        self._end(clean=False)

    async def aclose(self) -> None:
        self.close()

    def _end(self, *, clean: bool) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if not clean:
            connection.abort()
        reusable = connection.finish() and self._may_reuse
        self._give_back(reusable)
