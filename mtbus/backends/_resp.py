"""The Redis wire protocol, as much of it as mtbus needs: addresses, commands, replies.

mtbus sends a handful of stream commands, so it speaks RESP itself instead of carrying a
general client: commands are packed and replies parsed by ``hiredis`` (Redis's reference C
parser). The connections that carry them are in ``_connections.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

import anyio

if TYPE_CHECKING:
    import asyncio
    from collections import deque
    from collections.abc import Iterable, Sequence


try:
    import hiredis
except ModuleNotFoundError:  # the error is raised when a RedisBackend is made
    hiredis = None  # type: ignore[assignment]


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
        self.redacted = redact(url)
        scheme, credentials, at, location = _split(url)
        try:
            parts = urlsplit(f"{scheme}://{location}")
            port = parts.port
        except ValueError as error:
            raise ValueError(f"invalid Redis URL {self.redacted!r}: {error}") from None
        user, colon, password = credentials.partition(":")
        self.username = unquote(user) if at and user else None
        self.password = unquote(password) if at and colon else None
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


def _split(url: str) -> tuple[str, str, str, str]:
    """*url* as its scheme, credentials, ``"@"`` (or ``""`` if none) and the rest.

    The credentials end at the last ``@`` (the last ``@/`` for a unix socket, whose path
    may hold ``@``): a password may hold ``/``, ``?`` or ``#``, which urllib would take
    for the end of the host part, and then quote in its errors.
    """
    scheme, _, rest = url.partition("://")
    if scheme == "unix":
        credentials, at, location = rest.rpartition("@/")
        if at:
            return scheme, credentials, "@", f"/{location}"
        if rest.startswith("/"):  # a path, whatever "@" it holds
            return scheme, "", "", rest
    credentials, at, location = rest.rpartition("@")
    return scheme, credentials, at, location


def redact(url: str) -> str:
    """*url* with its password (if any) replaced by ``***``."""
    if "://" not in url:
        return url
    scheme, credentials, at, location = _split(url)
    user, colon, _ = credentials.partition(":")
    return f"{scheme}://{user}:***@{location}" if at and colon else url


def _single(values: list[str] | None, default: str) -> str:
    return values[-1] if values else default


def pack(*arguments: str | bytes | int | float) -> bytes:
    """One command in RESP, ready to send."""
    packed: bytes = hiredis.pack_command(arguments)  # type: ignore[arg-type]  # its stub: 1-tuple
    return packed


class _Reply:
    """What one request waits for: *expected* replies, in order."""

    __slots__ = ("abandoned", "arrived", "error", "expected", "values", "woken")

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.values: list[Any] = []
        self.error: ConnectionError | None = None
        self.abandoned = False
        self.woken: anyio.Event | None = None  # set while it waits for another reader
        self.arrived: asyncio.Future[None] | None = None  # what it awaits, on asyncio


class RedisConnection:
    """One connection to a Redis server; concurrent requests share its round trips.

    Open it with :func:`open_connection`. :meth:`request` returns the server's replies in
    RESP2 form (``bytes``, ``int``, ``list``, ``None``; an error reply is a
    :exc:`ReplyError` *value*, raised only by :meth:`execute`).
    """

    __slots__ = ()

    _failure: ConnectionError | None

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
        if not packed:  # nothing to send (a request of no reply would never complete)
            await anyio.lowlevel.checkpoint()
            return []
        return await self.request(b"".join(packed), len(packed))

    async def request(self, data: bytes, expected: int) -> list[Any]:
        """Send *data* (*expected* packed commands, at least one) and return their replies.

        :raises ConnectionError: if the connection fails (or failed) before they came
        """
        raise NotImplementedError

    async def aclose(self) -> None:
        """Close the connection; requests still waiting fail with ``ConnectionError``."""
        raise NotImplementedError


def new_parser() -> hiredis.Reader:
    """A RESP parser whose error replies are :exc:`ReplyError` values."""
    return hiredis.Reader(replyError=ReplyError)


class ReplyTooLarge(ConnectionError):
    """A reply grew past its connection's limit; the connection was dropped, the rest unread.

    What Redis sends is bounded this way whoever wrote it: a stream entry of 500 MB, say,
    is never held in memory. Readers ask for fewer entries, or skip the one entry too large.
    """


def complete_replies(
    parser: hiredis.Reader, replies: deque[_Reply], data: bytes, received: int, limit: int
) -> tuple[list[_Reply], int]:
    """Feed *data* to *parser* and give each reply it completes to its request.

    *received* counts the bytes of the reply in progress before *data*.

    :return: the requests now complete, and the bytes of the reply still in progress
    :raises ConnectionError: if the server sent what is not RESP, or a reply too many
    :raises ReplyTooLarge: if the reply in progress has grown past *limit* bytes
    """
    parser.feed(data)
    complete = []
    replied = False
    try:
        while (value := parser.gets()) is not False:
            if not replies:
                raise ConnectionError(f"Redis sent a reply nobody asked for: {value!r:.80}")
            replied = True
            owner = replies[0]
            owner.values.append(value)
            if len(owner.values) == owner.expected:
                complete.append(replies.popleft())
    except hiredis.ProtocolError as error:
        raise ConnectionError(f"Redis sent something that is not RESP: {error}") from None
    received = parser.len() if replied else received + len(data)
    if received > limit:
        raise ReplyTooLarge(f"a reply from Redis grew past {limit} bytes; it was not read")
    return complete, received


def lost(error: BaseException | None) -> ConnectionError:
    """The error every request on a connection that failed with *error* gets."""
    if isinstance(error, ReplyTooLarge):
        return ReplyTooLarge(str(error))  # without its traceback, which holds the parser
    reason = (str(error) or type(error).__name__) if error is not None else "closed by the server"
    return ConnectionError(f"connection to Redis lost: {reason}")


def again(error: ConnectionError) -> ConnectionError:
    """A copy of a connection's failure to raise at one of its requests (of the same kind)."""
    return type(error)(str(error))
