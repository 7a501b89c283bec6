"""One connection between a thin client and the agent: the request, its checks, and watching the client.

The agent (:mod:`.server`) reads a call's request and its three descriptors
with :func:`receive_request`, judges it with :func:`refusal` before running
anything, and while the call runs :func:`watch_client` turns a forwarded
signal or a vanished client into the call's cancellation.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

import anyio

from . import wire
from .place import PROTOCOL

if TYPE_CHECKING:
    from anyio.abc import SocketStream

__all__ = ["close_fds", "receive_request", "refusal", "watch_client"]


def close_fds(fds: list[int]) -> None:
    while fds:
        with contextlib.suppress(OSError):
            os.close(fds.pop())


async def receive_request(stream: Any) -> tuple[bytes, list[int]]:
    data, fds = await stream.receive_fds(65536, 3)
    for fd in fds:
        os.set_inheritable(fd, False)
    if not data:
        raise anyio.EndOfStream
    length = wire.request_length(data[: wire.REQUEST_HEADER])
    body = bytearray(data[wire.REQUEST_HEADER :])
    while len(body) < length:
        body += await stream.receive(length - len(body))
    return bytes(body), list(fds)


def refusal(uid: int, body: bytes, fds: list[int], *, allowed_uid: int, identity: str) -> str:
    """Why a call must be refused ("": it may run): another user, another protocol or identity, wrong descriptors."""
    if uid != allowed_uid:  # checked before the body is decoded: marshal trusts its input
        return f"the agent serves uid {allowed_uid} only, not uid {uid}"
    request = wire.decode_request(body)
    if request.get("protocol") != PROTOCOL:
        return f"protocol {request.get('protocol')!r} is not this agent's {PROTOCOL}"
    if request.get("identity") != identity:
        return "the call's config or environment differs from this agent's"
    if len(fds) != 3:
        return f"expected stdin, stdout and stderr, got {len(fds)} descriptors"
    return ""


async def watch_client(stream: SocketStream, scope: anyio.CancelScope, signals: list[int], gone: list[bool]) -> None:
    """Cancel the call when the client forwards a signal or goes away."""
    pending = b""
    while True:
        try:
            pending += await stream.receive(64)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            gone.append(True)
            scope.cancel()
            return
        while len(pending) >= 2:
            tag, signum, pending = pending[:1], pending[1], pending[2:]
            if tag == wire.SIGNAL and not signals:
                signals.append(signum)
                scope.cancel()
