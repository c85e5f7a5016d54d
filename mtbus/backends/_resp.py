"""The Redis wire protocol over anyio: one connection, pipelined by whoever is waiting on it.

mtbus sends a handful of stream commands, so it speaks RESP itself instead of carrying a
general client: commands are packed and replies parsed by ``hiredis`` (Redis's reference C
parser), and the bytes travel over an anyio stream, so the same code runs on asyncio and trio.

A :class:`RedisConnection` pipelines by construction. Callers append their commands to one
outgoing buffer; whoever finds no write in flight sends everything buffered, so commands
issued while a write is in flight go out together in the next one. Replies come back in
order: the first caller that needs one reads the socket for everybody (no reader task, no
hop for a lone caller), hands each reply to its owner, and passes the reading on when its
own has come. A caller cancelled while it waits abandons its reply, which is read and thrown
away in turn, so the connection stays usable. A connection that fails is closed at once and
fails every caller waiting on it; its owner opens a new one (:class:`RedisClient`).
"""

from __future__ import annotations

import ssl
from collections import deque
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, unquote, urlsplit

import anyio

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from anyio.abc import ByteStream

try:
    import hiredis
except ModuleNotFoundError:  # the error is raised when a RedisBackend is made
    hiredis = None  # type: ignore[assignment]

#: The errors a stream raises when the other end is gone.
_STREAM_ERRORS: Final = (
    OSError,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
    ssl.SSLError,
)
_RECEIVE_SIZE: Final = 1 << 18  # bytes per socket read: a backlog arrives in few reads


def require_hiredis() -> None:
    """Raise an error that says how to install the Redis extra, if it is missing."""
    if hiredis is None:
        raise ModuleNotFoundError(
            "RedisBackend needs the hiredis package. Install it with: pip install 'mtbus[redis]'"
        )


class ReplyError(Exception):
    """An error reply from the server (``WRONGTYPE ...``, ``NOGROUP ...``, ``WRONGPASS ...``)."""


class RedisAddress:
    """Where a Redis server is and how to log in: a parsed ``redis://`` URL.

    ``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` (the same over TLS) and
    ``unix://[[user]:password@]/path/to/socket[?db=N]``. The password never appears in
    :attr:`redacted` (used in every message and ``repr``).
    """

    __slots__ = ("db", "host", "password", "path", "port", "redacted", "tls", "username")

    def __init__(self, url: object) -> None:
        if not isinstance(url, str):
            shown = (
                "" if isinstance(url, bytes | bytearray) else f": {url!r}"
            )  # bytes may hide a password
            raise TypeError(f"url must be a str, not {type(url).__name__}{shown}")
        try:
            parts = urlsplit(url)
            port = parts.port
            self.username = unquote(parts.username) if parts.username else None
            self.password = unquote(parts.password) if parts.password is not None else None
        except ValueError as error:
            raise ValueError(f"invalid Redis URL {redact(url)!r}: {error}") from None
        self.redacted = redact(url)
        if parts.scheme not in {"redis", "rediss", "unix"}:
            raise ValueError(
                f"invalid Redis URL {self.redacted!r}: expected redis://host:port/db, "
                f"rediss:// or unix://"
            )
        self.tls = parts.scheme == "rediss"
        self.host: str | None
        self.path: str | None
        if parts.scheme == "unix":
            self.host, self.port, self.path = None, 0, parts.path
            if not self.path:
                raise ValueError(f"invalid Redis URL {self.redacted!r}: no socket path")
            db_text = _single(parse_qs(parts.query).get("db"), "0")
        else:
            self.host, self.port, self.path = parts.hostname, port or 6379, None
            if not self.host:
                raise ValueError(f"invalid Redis URL {self.redacted!r}: no host")
            db_text = parts.path.strip("/") or _single(parse_qs(parts.query).get("db"), "0")
        if not db_text.isdigit():
            raise ValueError(
                f"invalid Redis URL {self.redacted!r}: the database must be a number >= 0, "
                f"not {db_text!r}"
            )
        self.db = int(db_text)

    def __repr__(self) -> str:
        return f"RedisAddress({self.redacted!r})"

    def handshake(self) -> list[tuple[str | int, ...]]:
        """The commands that log in and select the database on a new connection."""
        commands: list[tuple[str | int, ...]] = []
        if self.password is not None:
            login = (self.username, self.password) if self.username else (self.password,)
            commands.append(("AUTH", *login))
        if self.db:
            commands.append(("SELECT", self.db))
        return commands


def redact(url: str) -> str:
    """*url* with its password (if any) replaced by ``***``."""
    scheme, separator, rest = url.partition("://")
    credentials, at, location = rest.rpartition("@")
    if not separator or not at:
        return url
    user, colon, _ = credentials.partition(":")
    return f"{scheme}://{user}:***@{location}" if colon else url


def _single(values: list[str] | None, default: str) -> str:
    return values[-1] if values else default


def pack(*arguments: str | bytes | int | float) -> bytes:
    """One command in RESP, ready to send."""
    packed: bytes = hiredis.pack_command(arguments)  # type: ignore[arg-type]  # its stub: 1-tuple
    return packed


class _Reply:
    """What one request waits for: *expected* replies, in order."""

    __slots__ = ("abandoned", "error", "expected", "values", "woken")

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.values: list[Any] = []
        self.error: ConnectionError | None = None
        self.abandoned = False
        self.woken: anyio.Event | None = None  # set while its owner waits for somebody else


class RedisConnection:
    """One connection to a Redis server; concurrent requests share its round trips.

    Open it with :func:`open_connection`. :meth:`request` returns the server's replies in
    RESP2 form (``bytes``, ``int``, ``list``, ``None``; an error reply is a
    :exc:`ReplyError` *value*, raised only by :meth:`execute`).
    """

    __slots__ = ("_failure", "_outgoing", "_parser", "_reading", "_replies", "_sending", "_stream")

    def __init__(self, stream: ByteStream) -> None:
        self._stream = stream
        self._parser = hiredis.Reader(replyError=ReplyError)
        self._outgoing: list[bytes] = []
        self._replies: deque[_Reply] = deque()  # sent or about to be, oldest first
        self._sending = False
        self._reading = False
        self._failure: ConnectionError | None = None

    @property
    def broken(self) -> bool:
        """Whether it failed (or was closed): every request raises ``ConnectionError``."""
        return self._failure is not None

    async def execute(self, *arguments: str | bytes | int | float) -> Any:
        """Send one command and return its reply; an error reply is raised as ReplyError."""
        [reply] = await self.request(pack(*arguments), 1)
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    async def pipeline(self, commands: Iterable[Sequence[str | bytes | int | float]]) -> list[Any]:
        """Send several commands in one write; their replies, errors as ReplyError values."""
        packed = [pack(*command) for command in commands]
        return await self.request(b"".join(packed), len(packed))

    async def request(self, data: bytes, expected: int) -> list[Any]:
        """Send *data* (*expected* packed commands) and return their replies in order.

        :raises ConnectionError: if the connection fails (or failed) before they came
        """
        if self._failure is not None:
            raise ConnectionError(str(self._failure))
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
            raise
        if reply.error is not None:
            raise ConnectionError(str(reply.error))
        return reply.values

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
                parser.feed(data)
                self._dispatch()
        except _STREAM_ERRORS as error:
            await self._fail(error)
        except hiredis.ProtocolError as error:
            await self._fail(
                ConnectionError(f"the server sent something that is not RESP: {error}")
            )
        finally:
            self._reading = False
            for waiting in self._replies:
                if waiting.woken is not None and not waiting.abandoned:
                    waiting.woken.set()  # the next owner that waits reads now
                    break

    def _dispatch(self) -> None:
        """Give each complete reply in the parser to the request it belongs to."""
        parser = self._parser
        replies = self._replies
        while (value := parser.gets()) is not False:
            if not replies:
                raise hiredis.ProtocolError(f"a reply nobody asked for: {value!r:.80}")
            owner = replies[0]
            owner.values.append(value)
            if len(owner.values) == owner.expected:
                replies.popleft()
                if owner.woken is not None:
                    owner.woken.set()

    async def _fail(self, error: BaseException) -> None:
        """Close the connection and fail every request still waiting on it."""
        if self._failure is None:
            reason = str(error) or type(error).__name__
            self._failure = ConnectionError(f"connection to Redis lost: {reason}")
        for reply in self._replies:
            reply.error = self._failure
            if reply.woken is not None:
                reply.woken.set()
        self._replies.clear()
        self._outgoing.clear()
        with anyio.CancelScope(shield=True), suppress(*_STREAM_ERRORS):
            await self._stream.aclose()

    async def aclose(self) -> None:
        """Close the connection; requests still waiting fail with ``ConnectionError``."""
        await self._fail(ConnectionError("closed"))


async def open_connection(
    address: RedisAddress, *, ssl_context: ssl.SSLContext | None = None
) -> RedisConnection:
    """Connect, log in and select the database.

    :raises OSError: if the server cannot be reached
    :raises ReplyError: if it refuses the login (or the database)
    """
    require_hiredis()
    stream: ByteStream
    if address.path is not None:
        stream = await anyio.connect_unix(address.path)
    elif address.tls:
        assert address.host is not None
        stream = await anyio.connect_tcp(
            address.host,
            address.port,
            ssl_context=ssl_context or ssl.create_default_context(),
            tls_standard_compatible=False,
        )
    else:
        assert address.host is not None
        stream = await anyio.connect_tcp(address.host, address.port)
    connection = RedisConnection(stream)
    try:
        handshake = address.handshake()
        for reply in await connection.pipeline(handshake) if handshake else ():
            if isinstance(reply, ReplyError):
                raise reply
    except BaseException:
        await connection.aclose()
        raise
    return connection


class RedisClient:
    """A connection that reopens itself: the next request after a failure reconnects."""

    __slots__ = ("_address", "_connection", "_lock", "_ssl_context")

    def __init__(self, address: RedisAddress, ssl_context: ssl.SSLContext | None) -> None:
        self._address = address
        self._ssl_context = ssl_context
        self._connection: RedisConnection | None = None
        self._lock = anyio.Lock()

    async def connection(self) -> RedisConnection:
        """The open connection, opening a new one if there is none or it failed."""
        connection = self._connection
        if connection is not None and not connection.broken:
            return connection
        async with self._lock:  # one reconnection, however many callers need it
            connection = self._connection
            if connection is None or connection.broken:
                connection = self._connection = await open_connection(
                    self._address, ssl_context=self._ssl_context
                )
        return connection

    async def request(self, data: bytes, expected: int) -> list[Any]:
        """:meth:`RedisConnection.request` on the open connection."""
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
