"""Keep-alive connections: at most ``limit`` open at once, idle ones reused per route.

A request leases a connection with :meth:`ConnectionPool.lease` and gives it
back with :meth:`ConnectionPool.give_back` once its response body is fully
read (reusable) or abandoned (closed).  The limit counts leases, so it
bounds the connections open at once as aiohttp's connector limit did; the
caller sizes it from the transfer's concurrency.  An idle connection that
the server closed, or that sat idle longer than ``keepalive`` seconds, is
dropped instead of reused.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .connection import Connection
    from .dial import Route

__all__ = ["ConnectionPool"]


class ConnectionPool:
    def __init__(self, dial: Callable[[Route], Awaitable[Connection]], *, limit: int, keepalive: float) -> None:
        self._dial = dial
        self._leases = anyio.Semaphore(limit)
        self._keepalive = keepalive
        self._idle: dict[Route, list[tuple[Connection, float]]] = {}
        self._closed = False

    async def lease(self, route: Route, *, fresh: bool = False) -> Connection:
        """An open connection to ``route``: an idle one unless ``fresh``, else a new one."""
        if self._closed:
            raise RuntimeError("the connection pool is closed")
        await self._leases.acquire()
        try:
            idle = None if fresh else self._take_idle(route)
            return idle if idle is not None else await self._dial(route)
        except BaseException:
            self._leases.release()
            raise

    def give_back(self, route: Route, connection: Connection, *, reusable: bool) -> None:
        """End a lease; keep ``connection`` for reuse only when ``reusable`` (else it is closed)."""
        self._leases.release()
        if reusable and not self._closed and connection.idle_and_open:
            self._idle.setdefault(route, []).append((connection, time.monotonic()))
        else:
            connection.abort()

    def close(self) -> None:
        """Close every idle connection; leased ones close when given back."""
        self._closed = True
        for connections in self._idle.values():
            for connection, _ in connections:
                connection.abort()
        self._idle.clear()

    def _take_idle(self, route: Route) -> Connection | None:
        connections = self._idle.get(route)
        oldest_allowed = time.monotonic() - self._keepalive
        while connections:
            connection, since = connections.pop()  # the most recently used: the least likely to be stale
            if since >= oldest_allowed and connection.idle_and_open:
                connection.reused = True
                return connection
            connection.abort()
        return None
