"""A scripted HTTP/1.1 server on 127.0.0.1 for the HTTP layer's protocol tests.

Each test gives :class:`ScriptedServer` a handler coroutine that owns one
accepted connection (asyncio streams), so it can split, stall, truncate or
close exactly where the test needs.  The server counts connections, so tests
can tell a reused connection from a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class ReceivedRequest:
    head: bytes
    body: bytes

    @property
    def line(self) -> str:
        return self.head.split(b"\r\n", 1)[0].decode()

    def header(self, name: str) -> str | None:
        for raw in self.head.split(b"\r\n")[1:]:
            key, _, value = raw.decode("latin-1").partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


async def read_request(reader: asyncio.StreamReader, *, with_body: bool = True) -> ReceivedRequest:
    head = await reader.readuntil(b"\r\n\r\n")
    request = ReceivedRequest(head, b"")
    length = int(request.header("Content-Length") or 0)
    if with_body and length:
        request.body = await reader.readexactly(length)
    return request


def response(status: int, body: bytes = b"", *headers: str, reason: str = "OK") -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", *headers, "", ""]
    return "\r\n".join(lines).encode() + body


@dataclass
class ScriptedServer:
    handler: Handler
    connections: int = 0
    requests: list[ReceivedRequest] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # the server is shutting down (__aexit__ cancels its handlers)
        finally:
            self._tasks.discard(task)
            writer.close()
