"""Connections to a Redis server: over anyio streams, over asyncio's transports, reopened.

Both kinds pipeline by construction: commands issued while a write is in flight (or in
the same loop iteration, on asyncio) go out together in the next write, and replies come
back in order to whoever asked. A cancelled request abandons its reply, which is read and
thrown away in turn, so the connection stays usable. A connection that fails is closed at
once and fails every request waiting on it; :class:`RedisClient` opens a new one on the
next request. :func:`open_connection` picks the kind that suits the running event loop.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Final, cast

import anyio

from ._resp import (
    RedisAddress,
    RedisConnection,
    ReplyError,
    _Reply,
    again,
    complete_replies,
    lost,
    new_parser,
    require_hiredis,
)

if TYPE_CHECKING:
    from collections.abc import Coroutine, Iterable, Sequence

    from anyio.abc import ByteStream

#: The errors a stream raises when the other end is gone (ssl.SSLError is an OSError).
_STREAM_ERRORS: Final = (
    OSError,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
)
_RECEIVE_SIZE: Final = 1 << 18  # bytes per socket read: a backlog arrives in few reads
REPLY_LIMIT: Final = 1 << 26  # the most bytes one reply may have, unless told otherwise


class StreamConnection(RedisConnection):
    """A connection over any anyio byte stream (trio's sockets, TLS, a test's wrapper).

    Whoever finds no write in flight sends everything buffered; the first caller that
    needs a reply reads the socket for everybody and hands the reading on when its own
    reply has come.
    """

    __slots__ = (
        "_failure",
        "_limit",
        "_outgoing",
        "_parser",
        "_reading",
        "_received",
        "_replies",
        "_sending",
        "_stream",
    )

    def __init__(self, stream: ByteStream, limit: int = REPLY_LIMIT) -> None:
        self._stream = stream
        self._parser = new_parser()
        self._limit = limit  # the most bytes one reply may have
        self._received = 0  # bytes of the reply in progress
        self._outgoing: list[bytes] = []
        self._replies: deque[_Reply] = deque()  # sent or about to be, oldest first
        self._sending = False
        self._reading = False
        self._failure = None

    async def request(self, data: bytes, expected: int) -> list[Any]:
        if self._failure is not None:
            raise again(self._failure)
        reply = _Reply(expected)
        self._replies.append(reply)
        self._outgoing.append(data)
        if not self._sending:
            await self._send()
        try:
            while reply.error is None and len(reply.values) < expected:
                if self._reading:  # somebody else reads: wait for it to hand over
                    woken = reply.woken = anyio.Event()
                    await woken.wait()
                    reply.woken = None
                else:
                    await self._read_for(reply)
        except BaseException:
            reply.abandoned = True  # its replies are read and dropped by whoever reads next
            reply.woken = None
            if not self._reading:  # it may have been handed the reading as it was cancelled
                self._hand_over()
            raise
        if reply.error is not None:
            raise again(reply.error)
        return reply.values

    def _hand_over(self) -> None:
        """Wake the oldest request still waiting, to read for everybody now.

        Waking one that need not read costs nothing: it finds its reply or a reader, and
        waits again.
        """
        for waiting in self._replies:
            if waiting.woken is not None and not waiting.abandoned:
                waiting.woken.set()
                return

    async def _send(self) -> None:
        """Write everything buffered, including what others add while a write is in flight.

        Shielded: a write cut in the middle would leave a half command on the wire.
        """
        self._sending = True
        try:
            with anyio.CancelScope(shield=True):
                while self._outgoing:
                    outgoing = self._outgoing
                    data = outgoing[0] if len(outgoing) == 1 else b"".join(outgoing)
                    outgoing.clear()
                    await self._stream.send(data)
        except _STREAM_ERRORS as error:
            await self._fail(error)
        finally:
            self._sending = False

    async def _read_for(self, reply: _Reply) -> None:
        """Read replies for everybody until *reply* is complete, then hand the reading on."""
        self._reading = True
        parser = self._parser
        try:
            while reply.error is None and len(reply.values) < reply.expected:
                data = await self._stream.receive(_RECEIVE_SIZE)
                if self._failure is not None:  # closed by another task meanwhile
                    break
                complete, self._received = complete_replies(
                    parser, self._replies, data, self._received, self._limit
                )
                for owner in complete:
                    if owner.woken is not None:
                        owner.woken.set()
        except _STREAM_ERRORS as error:  # ConnectionError from the parser included
            await self._fail(error)
        finally:
            self._reading = False
            self._hand_over()

    async def _fail(self, error: BaseException) -> None:
        """Close the connection and fail every request still waiting on it."""
        if self._failure is None:
            self._failure = lost(error)
            self._parser = new_parser()  # what it buffered goes now (a reply too large, say)
        for reply in self._replies:
            reply.error = self._failure
            if reply.woken is not None:
                reply.woken.set()
        self._replies.clear()
        self._outgoing.clear()
        with anyio.CancelScope(shield=True), suppress(*_STREAM_ERRORS):
            await self._stream.aclose()

    async def aclose(self) -> None:
        await self._fail(ConnectionError("closed"))


class AsyncioConnection(RedisConnection, asyncio.Protocol):
    """A connection on asyncio's own transports: no checkpoint per write, no reader task.

    anyio's streams cost asyncio three loop iterations per command (a checkpoint in every
    send, and reading paused and resumed around every receive); a protocol costs one.
    Replies are handed out as they arrive (``data_received``), each to the future its
    request awaits, and a cancelled request's future is simply left alone. The first
    request of a loop iteration is written at once; the rest of that iteration's requests
    go together in one write at the start of the next.
    """

    __slots__ = (
        "_closed",
        "_failure",
        "_flushing",
        "_limit",
        "_loop",
        "_outgoing",
        "_parser",
        "_received",
        "_replies",
        "_transport",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int = REPLY_LIMIT) -> None:
        self._loop = loop
        self._limit = limit  # the most bytes one reply may have
        self._received = 0  # bytes of the reply in progress
        self._closed: asyncio.Future[None] = loop.create_future()  # set once the socket is shut
        self._parser = new_parser()
        self._transport: asyncio.Transport | None = None
        self._outgoing: list[bytes] = []
        self._flushing = False  # a write of this loop iteration is done: the rest wait
        self._replies: deque[_Reply] = deque()
        self._failure = None

    @classmethod
    async def open(
        cls, address: RedisAddress, ssl_context: ssl.SSLContext | None, limit: int = REPLY_LIMIT
    ) -> AsyncioConnection:
        """Connect to *address* on the running loop."""
        loop = asyncio.get_running_loop()
        connection = cls(loop, limit)
        if address.path is not None:
            await loop.create_unix_connection(lambda: connection, address.path)
            return connection
        assert address.host is not None
        if address.tls:
            await loop.create_connection(
                lambda: connection,
                address.host,
                address.port,
                ssl=ssl_context or ssl.create_default_context(),
                server_hostname=address.host,
            )
        else:
            await loop.create_connection(lambda: connection, address.host, address.port)
        return connection

    async def request(self, data: bytes, expected: int) -> list[Any]:
        if self._failure is not None:
            raise again(self._failure)
        reply = _Reply(expected)
        arrived = reply.arrived = self._loop.create_future()
        self._replies.append(reply)
        if self._flushing:
            self._outgoing.append(data)
        else:
            assert self._transport is not None
            self._transport.write(data)
            self._flushing = True
            self._loop.call_soon(self._flush)
        try:
            await arrived
        except BaseException:
            reply.abandoned = True  # its replies are dropped when they come
            raise
        if reply.error is not None:
            raise again(reply.error)
        return reply.values

    def _flush(self) -> None:
        self._flushing = False
        outgoing = self._outgoing
        if outgoing and self._transport is not None and self._failure is None:
            self._transport.write(b"".join(outgoing))
        outgoing.clear()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        try:
            complete, self._received = complete_replies(
                self._parser, self._replies, data, self._received, self._limit
            )
        except ConnectionError as error:  # ReplyTooLarge included
            self._fail(error)
            return
        for owner in complete:
            _wake(owner)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc)
        if not self._closed.done():
            self._closed.set_result(None)

    def _fail(self, error: BaseException | None) -> None:
        if self._failure is None:
            self._failure = lost(error)
            self._parser = new_parser()  # what it buffered goes now (a reply too large, say)
        for reply in self._replies:
            reply.error = self._failure
            _wake(reply)
        self._replies.clear()
        self._outgoing.clear()
        if self._transport is not None:
            self._transport.abort()

    async def aclose(self) -> None:
        self._fail(ConnectionError("closed"))
        if self._transport is not None:
            await asyncio.shield(self._closed)  # the socket is closed a loop iteration later


async def open_connection(
    address: RedisAddress, *, ssl_context: ssl.SSLContext | None = None, limit: int = REPLY_LIMIT
) -> RedisConnection:
    """Connect, log in and select the database.

    :param limit: the most bytes a reply may have (see :exc:`ReplyTooLarge`)

    :raises OSError: if the server cannot be reached
    :raises ReplyError: if it refuses the login (or the database)
    """
    require_hiredis()
    connection: RedisConnection
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # not asyncio: trio
        connection = StreamConnection(await _open_stream(address, ssl_context), limit)
    else:
        connection = await AsyncioConnection.open(address, ssl_context, limit)
    try:
        handshake = address.handshake()
        for reply in await connection.pipeline(handshake) if handshake else ():
            if isinstance(reply, ReplyError):
                raise reply
    except BaseException:
        await connection.aclose()
        raise
    return connection


async def _open_stream(address: RedisAddress, ssl_context: ssl.SSLContext | None) -> ByteStream:
    if address.path is not None:
        return await anyio.connect_unix(address.path)
    assert address.host is not None
    if address.tls:
        return await anyio.connect_tcp(
            address.host,
            address.port,
            ssl_context=ssl_context or ssl.create_default_context(),
            tls_standard_compatible=False,
        )
    return await anyio.connect_tcp(address.host, address.port)


def _wake(reply: _Reply) -> None:
    """Resume the request awaiting *reply* on asyncio (unless it was cancelled)."""
    arrived = reply.arrived
    if arrived is not None and not arrived.done():
        arrived.set_result(None)


class RedisClient:
    """A connection that reopens itself: the next request after a failure reconnects."""

    __slots__ = ("_address", "_connection", "_limit", "_lock", "_ssl_context")

    def __init__(
        self,
        address: RedisAddress,
        ssl_context: ssl.SSLContext | None,
        limit: int = REPLY_LIMIT,
    ) -> None:
        self._address = address
        self._ssl_context = ssl_context
        self._limit = limit
        self._connection: RedisConnection | None = None
        self._lock = anyio.Lock()

    @property
    def reply_limit(self) -> int:
        """The most bytes a reply may have: a larger one raises :exc:`ReplyTooLarge`."""
        return self._limit

    async def connection(self) -> RedisConnection:
        """The open connection, opening a new one if there is none or it failed."""
        connection = self._connection
        if connection is not None and not connection.broken:
            return connection
        async with self._lock:  # one reconnection, however many callers need it
            connection = self._connection
            if connection is None or connection.broken:
                connection = self._connection = await open_connection(
                    self._address, ssl_context=self._ssl_context, limit=self._limit
                )
        return connection

    def request(self, data: bytes, expected: int) -> Coroutine[Any, Any, list[Any]]:
        """:meth:`RedisConnection.request` on the open connection (opened if need be)."""
        connection = self._connection
        if connection is not None and not connection.broken:
            return connection.request(data, expected)  # no coroutine of its own: no hop
        return self._reopen_and_request(data, expected)

    async def _reopen_and_request(self, data: bytes, expected: int) -> list[Any]:
        return await (await self.connection()).request(data, expected)

    async def execute(self, *arguments: str | bytes | int | float) -> Any:
        """:meth:`RedisConnection.execute` on the open connection."""
        return await (await self.connection()).execute(*arguments)

    async def pipeline(self, commands: Iterable[Sequence[str | bytes | int | float]]) -> list[Any]:
        """:meth:`RedisConnection.pipeline` on the open connection."""
        return await (await self.connection()).pipeline(commands)

    async def aclose(self) -> None:
        """Close the connection, if one is open."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.aclose()
