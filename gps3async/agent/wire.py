"""The bytes between a thin client and its agent (standard library only).

One connection carries one call::

    client -> agent   REQUEST  b"Q" + u32 length + marshal(dict), with SCM_RIGHTS [stdin, stdout, stderr]
    agent  -> client  ACCEPTED b"A"                     (the agent now owns the call)
                   or REFUSED  b"R" + u16 length + text (nothing was touched; run in-process)
    client -> agent   SIGNAL   b"S" + u8 signum          (SIGINT/SIGTERM forwarded, any number of times)
    agent  -> client  EXIT     b"X" + i32 exit code      (after the agent closed its copies of the descriptors)

The request's dict holds ``protocol``, ``identity``, ``argv``, ``cwd``,
``pid``, ``umask``, ``config`` and ``client`` (which thin client sent it, for
the log).  The data itself never crosses the socket: the agent reads and
writes the client's own descriptors.  ``marshal`` is built in (no import
cost) and the Python client runs the agent's interpreter, which the agent's
identity guarantees; the native client (``gps3async/native/client.c``) writes
the few marshal codes a dict of these needs by hand (``{``, ``u`` strings,
``i`` ints, a ``[`` list, ``0`` to end), which every marshal version reads.
The agent only accepts connections from its own user.  A connection that closes
before ACCEPTED means nothing was touched; one that closes after it and before
EXIT means the agent died with the call in progress.
"""

from __future__ import annotations

import marshal

TYPE_CHECKING = False  # typing itself costs the thin client milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ACCEPTED",
    "EXIT",
    "REFUSED",
    "REQUEST",
    "SIGNAL",
    "decode_request",
    "encode_exit",
    "encode_refusal",
    "encode_request",
    "request_length",
]

REQUEST = b"Q"
ACCEPTED = b"A"
REFUSED = b"R"
SIGNAL = b"S"
EXIT = b"X"
#: Bytes before a request's body: the tag and its length.
REQUEST_HEADER = 5
#: A request bigger than this is refused (a config file is a few hundred bytes).
MAX_REQUEST = 1 << 20


def encode_request(fields: dict[str, Any]) -> bytes:
    body = marshal.dumps(fields)
    return REQUEST + len(body).to_bytes(4, "big") + body


def request_length(header: bytes) -> int:
    """The body length a request header announces.

    :raises ValueError: on anything that is not a request header of a sane size.
    """
    if len(header) < REQUEST_HEADER or header[:1] != REQUEST:
        raise ValueError("not a gps3async request")
    length = int.from_bytes(header[1:REQUEST_HEADER], "big")
    if length > MAX_REQUEST:
        raise ValueError(f"request of {length} bytes is too large")
    return length


def decode_request(body: bytes) -> dict[str, Any]:
    fields = marshal.loads(body)
    if not isinstance(fields, dict):
        raise ValueError("request is not a mapping")
    return fields


def encode_refusal(reason: str) -> bytes:
    text = reason.encode("utf-8", "replace")[:65535]
    return REFUSED + len(text).to_bytes(2, "big") + text


def encode_exit(code: int) -> bytes:
    return EXIT + code.to_bytes(4, "big", signed=True)
