"""The HTTP/1.1 protocol of :mod:`gps3async.s3.http` against a real socket server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import time

import pytest
from botocore.awsrequest import AWSRequest
from botocore.exceptions import (
    ConnectionClosedError,
    EndpointConnectionError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from gps3async.s3.errors import is_stream_error
from gps3async.s3.http import BufferedHttpSession
from gps3async.s3.http.body import ResponseBody
from gps3async.s3.http.connection import Connection
from gps3async.s3.http.dial import Dialer, Route
from gps3async.s3.http.errors import ConnectFailed, ReadTimeout
from gps3async.s3.http.pool import ConnectionPool
from gps3async.s3.http.request import request_head
from gps3async.s3.http.response import ResponseHead
from tests.http.wire import ScriptedServer, read_request, response

MIB = 1024 * 1024


async def _no_tls() -> object:
    raise AssertionError("these tests use plain HTTP")


def _pool(limit: int = 4) -> ConnectionPool:
    dialer = Dialer(tls_context=_no_tls, connect_timeout=2)  # type: ignore[arg-type]
    return ConnectionPool(dialer.open, limit=limit, keepalive=30)


def _route(server: ScriptedServer) -> Route:
    return Route("http", "127.0.0.1", server.port)


async def _ask(connection: Connection, method: str = "GET", body: bytes = b"", read_timeout: float = 5) -> ResponseHead:
    connection.read_timeout = read_timeout
    connection.begin(head_only=method == "HEAD")
    headers = [("Host", "127.0.0.1"), ("Content-Length", str(len(body)))]
    connection.write(request_head(method, "/bucket/key", headers))
    if body:
        connection.write(memoryview(body))
    head = await connection.receive_head()
    assert head is not None
    return head


async def _read_all(connection: Connection, size: int) -> bytes:
    view = memoryview(bytearray(size))
    got = 0
    while got < size:
        count = await connection.readinto(view[got:])
        if count == 0:
            break
        got += count
    return bytes(view[:got])


def _session_request(
    port: int, method: str = "GET", body: bytes | None = None, *, stream: bool = False, **headers: str
) -> object:
    request = AWSRequest(method=method, url=f"http://127.0.0.1:{port}/bucket/key", data=body, headers=headers)
    prepared = request.prepare()
    prepared.stream_output = stream
    return prepared


async def test_a_head_split_into_single_bytes_is_parsed() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        for byte in response(200, b"hello", 'ETag: "abc"', "X-Amz-Meta-Colour: blue"):
            writer.write(bytes([byte]))
            await writer.drain()
        await asyncio.sleep(1)

    async with ScriptedServer(handler) as server:
        pool = _pool()
        connection = await pool.lease(_route(server))
        head = await _ask(connection)
        assert head.status == 200
        assert head.headers["etag"] == '"abc"' and head.headers["x-amz-meta-colour"] == "blue"
        assert await _read_all(connection, 5) == b"hello"
        assert connection.finish() is True
        pool.give_back(_route(server), connection, reusable=True)
        pool.close()


async def test_head_and_body_in_one_write_then_the_connection_is_reused() -> None:
    bodies = [os.urandom(1000), os.urandom(70_000)]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for body in bodies:
            await read_request(reader)
            writer.write(response(200, body))
        await asyncio.sleep(1)

    async with ScriptedServer(handler) as server:
        pool, route = _pool(), _route(server)
        for body in bodies:
            connection = await pool.lease(route)
            await _ask(connection)
            assert await _read_all(connection, len(body)) == body
            pool.give_back(route, connection, reusable=connection.finish())
        assert server.connections == 1
        pool.close()


async def test_a_large_body_is_received_straight_into_the_callers_buffer() -> None:
    body = os.urandom(3 * MIB)
    head_sent = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response(200, body)[: -len(body)])
        await writer.drain()
        head_sent.set()
        await asyncio.sleep(0.05)  # the client reads the head and offers its buffer before the body comes
        writer.write(body)
        await writer.drain()
        await asyncio.sleep(1)

    async with ScriptedServer(handler) as server:
        connection = await _pool().lease(_route(server))
        target = bytearray(len(body))
        in_place = 0
        offered = connection.get_buffer

        def spy(sizehint: int) -> memoryview:
            nonlocal in_place
            buffer = offered(sizehint)
            in_place += buffer.obj is target
            return buffer

        connection.get_buffer = spy  # type: ignore[method-assign]
        await _ask(connection)
        got = await connection.readinto(memoryview(target))
        assert got == len(body) and target == body, "one call fills the whole view"
        assert in_place >= 1
        assert connection.finish() is True


@pytest.mark.parametrize("how", ["close", "reset"])
async def test_a_body_that_ends_early_is_a_stream_error_after_the_bytes_it_had(how: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response(200, b"x" * 1000)[:-600])  # the head and 400 body bytes
        await writer.drain()
        await asyncio.sleep(0.05)
        if how == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()

    async with ScriptedServer(handler) as server:
        pool, route = _pool(), _route(server)
        connection = await pool.lease(route)
        head = await _ask(connection)

        def give_back(reusable: bool) -> None:
            pool.give_back(route, connection, reusable=reusable)

        body = ResponseBody(connection, head, "http://s3/key", give_back)
        view = memoryview(bytearray(1000))
        received = 0
        with pytest.raises(Exception) as caught:
            while True:
                received += await body.receive_into(view[received:])
        assert received == 400, "the bytes that arrived are handed over before the failure"
        assert is_stream_error(caught.value)
        expected = IncompleteReadError if how == "close" else (IncompleteReadError, ResponseStreamingError)
        assert isinstance(caught.value, expected)
        assert not connection.idle_and_open, "a broken connection is never reused"


async def test_a_chunked_error_body_is_decoded_and_the_connection_kept() -> None:
    document = b"<?xml version='1.0'?><Error><Code>AccessDenied</Code><Message>no</Message></Error>"

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):
            await read_request(reader)
            writer.write(
                b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            for start in range(0, len(document), 30):
                piece = document[start : start + 30]
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                await writer.drain()
                await asyncio.sleep(0.01)
            writer.write(b"0\r\n\r\n")
        await asyncio.sleep(1)

    async with ScriptedServer(handler) as server:
        session = BufferedHttpSession(timeout=(2, 2))
        for _ in range(2):
            answer = await session.send(_session_request(server.port))
            assert answer.status_code == 403
            assert await answer.content == document
        assert server.connections == 1, "a fully read chunked body leaves the connection reusable"
        await session.close()


async def test_a_body_left_unread_retires_its_connection() -> None:
    body = os.urandom(200_000)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response(200, body))
        await asyncio.sleep(1)

    async with ScriptedServer(handler) as server:
        session = BufferedHttpSession(timeout=(2, 2))
        answer = await session.send(_session_request(server.port, stream=True))
        assert await answer.raw.read(10) == body[:10]
        answer.raw.close()  # the rest of the body is never read
        second = await session.send(_session_request(server.port))
        assert await second.content == body
        assert server.connections == 2, "a connection with unread body bytes on it is not reused"
        await session.close()


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response(200, b"ok"))
        await writer.drain()
        writer.close()

    async with ScriptedServer(handler) as server:
        pool, route = _pool(), _route(server)
        first = await pool.lease(route)
        await _ask(first)
        assert await _read_all(first, 2) == b"ok"
        pool.give_back(route, first, reusable=first.finish())
        await asyncio.sleep(0.1)  # the FIN arrives while the connection is idle
        second = await pool.lease(route)
        assert second is not first and not second.reused
        await _ask(second)
        assert await _read_all(second, 2) == b"ok"
        assert server.connections == 2
        pool.close()


async def test_a_request_lost_to_a_closing_kept_alive_connection_is_sent_again() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response(200, b"first"))
        if server.connections == 1:
            await read_request(reader)  # the server drops the second request unanswered (an idle-close race)
            return
        await asyncio.sleep(1)

    async with ScriptedServer(handler) as server:
        session = BufferedHttpSession(timeout=(2, 2))
        assert await (await session.send(_session_request(server.port))).content == b"first"
        assert await (await session.send(_session_request(server.port))).content == b"first"
        assert server.connections == 2
        await session.close()


async def test_a_stalled_answer_is_a_read_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(10)

    async with ScriptedServer(handler) as server:
        connection = await _pool().lease(_route(server))
        started = time.monotonic()
        with pytest.raises(ReadTimeout):
            await _ask(connection, read_timeout=0.3)
        assert time.monotonic() - started < 2
        session = BufferedHttpSession(timeout=(2, 0.3))
        with pytest.raises(ReadTimeoutError):
            await session.send(_session_request(server.port))
        await session.close()


async def test_expect_100_continue_sends_the_body_after_the_interim_answer() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader, with_body=False)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.body = await reader.readexactly(int(request.header("Content-Length") or 0))
        server.requests.append(request)
        writer.write(response(200, b"stored"))
        await asyncio.sleep(1)

    async with ScriptedServer(handler) as server:
        session = BufferedHttpSession(timeout=(2, 2))
        started = time.monotonic()
        answer = await session.send(_session_request(server.port, "PUT", b"part body", Expect="100-continue"))
        assert answer.status_code == 200 and await answer.content == b"stored"
        assert server.requests[0].body == b"part body"
        assert time.monotonic() - started < 0.9, "the body went on the interim answer, not after the wait"
        await session.close()


async def test_a_final_answer_before_the_body_keeps_the_body_and_drops_the_connection() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader, with_body=False)
        server.requests.append(request)
        writer.write(response(403, b"denied"))
        await asyncio.sleep(1)

    async with ScriptedServer(handler) as server:
        session = BufferedHttpSession(timeout=(2, 2))
        for _ in range(2):
            answer = await session.send(_session_request(server.port, "PUT", b"secret part", Expect="100-continue"))
            assert answer.status_code == 403
        assert server.connections == 2, "the server still expects the body: that connection is not reused"
        await session.close()


async def test_a_head_answer_with_a_length_has_no_body() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):
            await read_request(reader)
            writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nETag: "e"\r\n\r\n')
        await asyncio.sleep(1)

    async with ScriptedServer(handler) as server:
        session = BufferedHttpSession(timeout=(2, 2))
        for _ in range(2):
            answer = await session.send(_session_request(server.port, "HEAD"))
            assert answer.status_code == 200 and answer.headers["content-length"] == "5000"
            assert await answer.content == b""
        assert server.connections == 1
        await session.close()


async def test_unsolicited_bytes_on_an_idle_connection_retire_it() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response(200, b"ok") + b"HTTP/1.1 200 OK\r\n")
        await asyncio.sleep(1)

    async with ScriptedServer(handler) as server:
        pool, route = _pool(), _route(server)
        first = await pool.lease(route)
        await _ask(first)
        assert await _read_all(first, 2) == b"ok"
        pool.give_back(route, first, reusable=first.finish())
        second = await pool.lease(route)
        assert second is not first
        pool.close()


async def test_garbage_instead_of_a_response_is_a_closed_connection() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await asyncio.sleep(1)

    async with ScriptedServer(handler) as server:
        session = BufferedHttpSession(timeout=(2, 2))
        with pytest.raises(ConnectionClosedError):
            await session.send(_session_request(server.port))
        await session.close()


async def test_a_refused_connection_is_an_endpoint_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(ConnectFailed):
            await _pool().lease(Route("http", "127.0.0.1", port))
        session = BufferedHttpSession(timeout=(2, 2))
        with pytest.raises(EndpointConnectionError):
            await session.send(_session_request(port))
        await session.close()


async def test_the_pool_holds_at_most_its_limit_of_connections() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response(200, b"ok"))
        await asyncio.sleep(1)

    async with ScriptedServer(handler) as server:
        pool, route = _pool(limit=2), _route(server)
        first, second = await pool.lease(route), await pool.lease(route)
        third = asyncio.ensure_future(pool.lease(route))
        await asyncio.sleep(0.1)
        assert not third.done(), "a third lease waits for one of the two"
        pool.give_back(route, first, reusable=False)
        assert (await asyncio.wait_for(third, 2)) is not first
        pool.close()
        second.abort()
