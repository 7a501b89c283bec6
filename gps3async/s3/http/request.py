"""Writing requests: the HTTP/1.1 head, and the body as buffers to hand the transport.

Heads are small and built once per request.  Bodies are never copied: a
``bytes``/``bytearray`` body (a pool buffer, for parts) becomes a
``memoryview`` over the same memory, which the transport keeps a reference
to until the kernel has taken it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["body_view", "request_head"]

_FORBIDDEN = frozenset("\r\n\0")


def request_head(method: str, target: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """The request line and header block, ending with the empty line.

    :raises ValueError: for a header that would split the head (CR, LF or NUL in it).
    """
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in headers:
        if _FORBIDDEN.intersection(name) or _FORBIDDEN.intersection(value) or ":" in name:
            raise ValueError(f"header {name!r} cannot be sent: it contains a line break or NUL")
        lines.append(f"{name}: {value}")
    lines += ["", ""]
    return "\r\n".join(lines).encode("utf-8")


def body_view(body: Any) -> memoryview | None:
    """The request body as one buffer, without copying it (``None`` for no body).

    botocore gives ``bytes``, ``bytearray``, ``str`` or, for callers that pass
    one, a file-like object, which is read here (gps3async itself never does).
    """
    if body is None:
        return None
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif hasattr(body, "read"):
        body = body.read()
    view = memoryview(body).cast("B")
    return view if len(view) else None
