"""A small forward HTTP proxy on 127.0.0.1 for the proxy tests.

It serves the two ways a client uses a proxy: absolute-form requests for
plain-HTTP origins (``GET http://host:port/path HTTP/1.1``, forwarded in
origin form over a connection the proxy opens) and ``CONNECT host:port``
tunnels for HTTPS origins (bytes relayed both ways untouched).  Every request
line it receives is recorded, so a test can prove its traffic went through the
proxy.  It runs its own event loop in a background thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from urllib.parse import urlsplit


class ForwardProxy:
    def __init__(self) -> None:
        self.port = 0
        self.request_lines: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="forward-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ForwardProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("forward proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: asyncio.StreamWriter | None = None
        relay: asyncio.Task[None] | None = None
        try:
            while head := await _read_head(reader):
                line, _, rest = head.partition(b"\r\n")
                method, target, version = line.decode("latin-1").split(" ")
                self.request_lines.append(f"{method} {target}")
                if method == "CONNECT":
                    host, _, port = target.rpartition(":")
                    up_reader, upstream = await asyncio.open_connection(host, int(port))
                    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    await asyncio.gather(_pipe(reader, upstream), _pipe(up_reader, writer))
                    return
                parts = urlsplit(target)
                if upstream is None:
                    up_reader, upstream = await asyncio.open_connection(parts.hostname, parts.port or 80)
                    relay = asyncio.ensure_future(_pipe(up_reader, writer))
                origin_form = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                upstream.write(f"{method} {origin_form} {version}\r\n".encode("latin-1") + rest)
                length = _content_length(rest)
                if length:
                    upstream.write(await reader.readexactly(length))
                await upstream.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if relay is not None:
                relay.cancel()
                with contextlib.suppress(BaseException):
                    await relay
            for stream in (upstream, writer):
                if stream is not None:
                    stream.close()


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return b""


def _content_length(head_rest: bytes) -> int:
    for raw in head_rest.split(b"\r\n"):
        name, _, value = raw.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


async def _pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await source.read(256 * 1024):
            target.write(data)
            await target.drain()
    with contextlib.suppress(OSError):
        target.write_eof()
