"""Opening connections: TCP, TLS, and the proxy in front of them.

A :class:`Route` says where a connection goes: the origin (scheme, host,
port) and, when one is configured, the proxy.  Plain-HTTP origins behind a
proxy are reached by sending absolute-form requests to the proxy itself; TLS
origins through a ``CONNECT`` tunnel, on top of which TLS is started with
asyncio's own support (``loop.start_tls``).  The whole of it, tunnel and
handshakes included, must finish within the connect timeout.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from .connection import Connection
from .errors import ConnectFailed, ConnectTimeout, HttpError, ProxyFailed, TlsFailed
from .request import request_head

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["Dialer", "Proxy", "Route"]


@dataclass(frozen=True)
class Proxy:
    scheme: str
    host: str
    port: int
    #: Headers for the proxy alone (``Proxy-Authorization``), never sent to the origin.
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Route:
    scheme: str
    host: str
    port: int
    proxy: Proxy | None = None

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def forwarded(self) -> bool:
        """Whether requests go to the proxy in absolute form (plain HTTP behind a proxy)."""
        return self.proxy is not None and self.scheme == "http"


class Dialer:
    """Opens :class:`Connection` objects along routes; ``tls_context`` is built on first use."""

    def __init__(self, *, tls_context: Callable[[], Awaitable[ssl.SSLContext]], connect_timeout: float | None) -> None:
        self._tls_context = tls_context
        self._connect_timeout = connect_timeout

    async def open(self, route: Route) -> Connection:
        """A new connection to ``route``'s origin (through its proxy, if any).

        :raises ConnectFailed: (or one of its kinds) when it cannot be opened in time.
        """
        try:
            with anyio.fail_after(self._connect_timeout):
                return await self._open(route)
        except TimeoutError:
            raise ConnectTimeout(f"no connection to {route.authority} within {self._connect_timeout:g} s") from None
        except ssl.SSLError as err:  # also certificate verification failures
            raise TlsFailed(f"TLS with {route.host} failed: {err}") from None
        except HttpError:
            raise
        except OSError as err:
            raise ConnectFailed(f"cannot connect to {route.authority}: {err.strerror or err}") from None

    async def _open(self, route: Route) -> Connection:
        proxy = route.proxy
        if proxy is None:
            return await self._tcp(route.host, route.port, tls=route.scheme == "https")
        connection = await self._tcp(proxy.host, proxy.port, tls=proxy.scheme == "https")
        if route.scheme == "https":
            try:
                await self._tunnel(connection, route, proxy)
            except BaseException:
                connection.abort()
                raise
        return connection

    async def _tcp(self, host: str, port: int, *, tls: bool) -> Connection:
        loop = asyncio.get_running_loop()
        context = await self._tls_context() if tls else None
        _, connection = await loop.create_connection(
            Connection, host, port, ssl=context, server_hostname=host if tls else None
        )
        return connection

    async def _tunnel(self, connection: Connection, route: Route, proxy: Proxy) -> None:
        """Ask the proxy for a tunnel to the origin, then start TLS inside it."""
        headers = [("Host", route.authority), *proxy.headers]
        connection.begin(head_only=True)
        connection.write(request_head("CONNECT", route.authority, headers))
        head = await connection.receive_head()
        assert head is not None
        if not 200 <= head.status < 300:
            connection.finish()
            raise ProxyFailed(f"proxy refused a tunnel to {route.authority}: HTTP {head.status}")
        connection.end_tunnel_setup()
        loop = asyncio.get_running_loop()
        context = await self._tls_context()
        transport = await loop.start_tls(connection.transport, connection, context, server_hostname=route.host)
        if transport is None:
            raise TlsFailed(f"TLS with {route.host} through the proxy did not start")
        connection.use_transport(transport)
