"""Every way a channel over Redis can fail, said: to the caller, in words, without a password.

Failures reach the caller as one :exc:`~mtbus.ChannelError` (or ``ValueError``/``TypeError``
for a bad argument), never as a client library's exception or an exception group; a URL's
password shows nowhere (messages, reprs, tracebacks, log records). Publish's count stays
exact while a slow subscriber holds the pump back.
"""

from __future__ import annotations

import logging
import socket
import traceback
import uuid
from typing import TYPE_CHECKING, Any

import anyio
import pytest
import redis
from receiving import receive
from redis_server import RedisServer, free_port

from mtbus import Channel, ChannelError, Subscriber
from mtbus.backends import RedisBackend

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.anyio

PASSWORD = "s3cret"
MAX_ID = "18446744073709551615-18446744073709551615"  # the largest stream entry ID there is
MESSAGES = 3000  # enough for publishers and the pump to overtake each other many times
OPEN_FIRST = "a channel over Redis must be opened first, with `async with channel:`"


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A server of this module's own that wants a password."""
    with RedisServer(
        tmp_path_factory.mktemp("guarded"), extra_args=["--requirepass", PASSWORD]
    ) as server:
        yield server


def everything_said(error: BaseException) -> str:
    """The error's traceback, its causes and contexts included: all a log would show."""
    return "".join(traceback.format_exception(error))


# -- connecting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("credentials", "shown", "answer"),
    [
        pytest.param(
            ":wrong@",
            ":***@",
            "WRONGPASS invalid username-password pair or user is disabled.",
            id="wrong-password",
        ),
        pytest.param(
            f"nobody:{PASSWORD}@",
            "nobody:***@",
            "WRONGPASS invalid username-password pair or user is disabled.",
            id="unknown-user",
        ),
        pytest.param("", "", "NOAUTH Authentication required.", id="no-password"),
    ],
)
async def test_a_refused_login_fails_entering_with_one_channel_error(
    guarded_server: RedisServer, channel_name: str, credentials: str, shown: str, answer: str
) -> None:
    port = guarded_server.port
    backend = RedisBackend(f"redis://{credentials}127.0.0.1:{port}/0")
    with pytest.raises(ChannelError) as caught:
        async with Channel[int](channel_name, backend=backend):
            pytest.fail("entered a channel whose login was refused")
    assert type(caught.value) is ChannelError
    assert str(caught.value) == (
        f"cannot connect channel {channel_name!r} to Redis at "
        f"redis://{shown}127.0.0.1:{port}/0: authentication failed: {answer}"
    )
    assert "wrong" not in everything_said(caught.value)
    assert PASSWORD not in everything_said(caught.value)


async def test_the_right_password_opens_the_channel(
    guarded_server: RedisServer, channel_name: str
) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{guarded_server.port}/0"
    async with Channel[int](channel_name, backend=RedisBackend(url)) as channel:
        subscriber = await channel.subscribe()
        assert await channel.publish(1) == 1
        assert await receive(subscriber, 1) == [1]


async def test_a_key_that_is_not_a_stream_fails_entering(
    redis_url: str, channel_name: str, raw: redis.Redis
) -> None:
    backend = RedisBackend(redis_url)
    raw.set(backend.key(channel_name), "a string")
    with pytest.raises(ChannelError) as caught:
        async with Channel[int](channel_name, backend=backend):
            pytest.fail("entered a channel whose key holds a string")
    assert type(caught.value) is ChannelError
    assert str(caught.value) == (
        f"cannot connect channel {channel_name!r} to Redis at {redis_url}: "
        f"key {backend.key(channel_name)!r} is not a stream (WRONGTYPE Operation against a "
        f"key holding the wrong kind of value)"
    )


class BodyError(Exception):
    pass


async def test_the_bodys_own_exception_leaves_async_with_as_itself(
    redis_url: str, channel_name: str
) -> None:
    with pytest.raises(BodyError) as caught:
        async with Channel[int](channel_name, backend=RedisBackend(redis_url)):
            raise BodyError("from the body")
    assert type(caught.value) is BodyError
    assert str(caught.value) == "from the body"


async def test_a_closed_port_says_the_connection_was_refused(channel_name: str) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(ChannelError) as caught:
        async with Channel[int](channel_name, backend=RedisBackend(url)):
            pytest.fail("entered a channel with nobody listening")
    assert type(caught.value) is ChannelError
    assert str(caught.value) == (
        f"cannot connect channel {channel_name!r} to Redis at {url}: connection refused"
    )


async def test_an_unknown_host_is_named(channel_name: str) -> None:
    url = "redis://no-such-host.invalid:6379/0"
    with pytest.raises(ChannelError) as caught:
        async with Channel[int](channel_name, backend=RedisBackend(url)):
            pytest.fail("entered a channel on a host that does not exist")
    assert type(caught.value) is ChannelError
    prefix = f"cannot connect channel {channel_name!r} to Redis at {url}: "
    message = str(caught.value)
    assert message.startswith(f"{prefix}unknown host 'no-such-host.invalid' (")
    assert message.endswith(")")
    assert message != f"{prefix}unknown host 'no-such-host.invalid' ()"


async def test_a_server_that_never_answers_times_out(channel_name: str) -> None:
    with socket.socket() as listener:  # accepts connections (the kernel does), never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
        with pytest.raises(ChannelError) as caught:
            async with Channel[int](channel_name, backend=RedisBackend(url, connect_timeout=0.2)):
                pytest.fail("entered a channel whose server never answered")
    assert type(caught.value) is ChannelError
    assert str(caught.value) == (
        f"cannot connect channel {channel_name!r} to Redis at {url}: no answer within 0.2 s"
    )


async def test_a_missing_unix_socket_is_named(channel_name: str) -> None:
    path = f"/tmp/mtbus-{uuid.uuid4().hex}.sock"
    url = f"unix://{path}"
    with pytest.raises(ChannelError) as caught:
        async with Channel[int](channel_name, backend=RedisBackend(url)):
            pytest.fail("entered a channel on a socket that does not exist")
    assert type(caught.value) is ChannelError
    assert str(caught.value) == (
        f"cannot connect channel {channel_name!r} to Redis at {url}: no socket at {path!r}"
    )


# -- arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"maxlen": 2**64}, f"invalid maxlen {2**64}: must be <= {2**63 - 1}"),
        ({"maxlen": 0}, "invalid maxlen 0: must be >= 1"),
        ({"max_message_bytes": 0}, "invalid max_message_bytes 0: must be >= 1"),
        (
            {"max_message_bytes": (512 << 20) + 1},
            f"invalid max_message_bytes {(512 << 20) + 1}: must be <= {512 << 20}",
        ),
    ],
)
def test_options_out_of_range_are_refused_naming_them(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as caught:  # noqa: PT011 - the message is checked below
        RedisBackend(**options)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (12, "url must be a str, not int: 12"),
        (f"redis://:{PASSWORD}@h/0".encode(), "url must be a str, not bytes"),
        (None, "url must be a str, not NoneType: None"),
    ],
)
def test_a_url_that_is_not_a_str_is_a_type_error(url: object, message: str) -> None:
    with pytest.raises(TypeError) as caught:
        RedisBackend(url)  # type: ignore[arg-type]
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("since", "error", "message"),
    [
        (
            "9" * 23,
            ValueError,
            f"invalid since {'9' * 23!r}: both parts of a message ID are at most {2**64 - 1}",
        ),
        (
            "abc",
            ValueError,
            "invalid since 'abc': expected a message ID like '1700000000000-0', "
            "'0' (the oldest kept) or '$' (only new messages)",
        ),
        (5, TypeError, "since must be a str or None, not int: 5"),
    ],
)
async def test_a_bad_since_is_refused_and_the_channel_goes_on(
    redis_url: str, channel_name: str, since: Any, error: type[Exception], message: str
) -> None:
    async with Channel[int](channel_name, backend=RedisBackend(redis_url)) as channel:
        with pytest.raises(error) as caught:
            await channel.subscribe(since=since)
        assert type(caught.value) is error
        assert str(caught.value) == message
        assert channel.subscriber_count == 0
        subscriber = await channel.subscribe()
        assert await channel.publish(1) == 1
        assert await receive(subscriber, 1) == [1]
        everything = await channel.subscribe(since="0")
        assert await receive(everything, 1) == [1]


# -- what Redis refuses --------------------------------------------------------------------


async def test_a_stream_out_of_ids_refuses_publishing_and_still_serves_readers(
    redis_url: str, channel_name: str, raw: redis.Redis
) -> None:
    backend = RedisBackend(redis_url)
    raw.xadd(backend.key(channel_name), {"c": "json", "d": "1"}, id=MAX_ID)
    async with Channel[int](channel_name, backend=backend) as channel:
        live = await channel.subscribe()
        with pytest.raises(ChannelError) as caught:
            await channel.publish(2)
        assert type(caught.value) is ChannelError
        assert str(caught.value) == (
            f"cannot publish to channel {channel_name!r}: Redis refused it: "
            f"ERR The stream has exhausted the last possible ID, unable to add more items"
        )
        everything = await channel.subscribe(since="0")
        with anyio.fail_after(10):
            message = await everything.receive()
        assert (message.data, message.id) == (1, MAX_ID)
        assert live.statistics().pending == 0
    assert channel.statistics().undecodable == 0


async def test_a_channel_never_entered_says_to_enter_it(redis_url: str, channel_name: str) -> None:
    channel = Channel[int](channel_name, backend=RedisBackend(redis_url))
    with pytest.raises(ChannelError) as subscribing:
        await channel.subscribe()
    with pytest.raises(ChannelError) as catching_up:
        await channel.subscribe(since="0")
    with pytest.raises(ChannelError) as publishing:
        await channel.publish(1)
    for action, caught in [
        ("subscribe to", subscribing),
        ("subscribe to", catching_up),
        ("publish to", publishing),
    ]:
        assert type(caught.value) is ChannelError
        assert str(caught.value) == f"cannot {action} channel {channel_name!r}: {OPEN_FIRST}"
    assert channel.subscriber_count == 0


# -- passwords never show ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "location"),
    [
        ("redis", "127.0.0.1:{port}/0"),
        ("rediss", "127.0.0.1:{port}/0"),
        ("unix", "/tmp/mtbus-{socket}.sock"),
    ],
)
async def test_the_password_shows_nowhere_when_connecting_fails(
    channel_name: str, caplog: pytest.LogCaptureFixture, scheme: str, location: str
) -> None:
    caplog.set_level(logging.DEBUG)
    where = location.format(port=free_port(), socket=uuid.uuid4().hex)
    backend = RedisBackend(f"{scheme}://user:{PASSWORD}@{where}")
    redacted = f"{scheme}://user:***@{where}"
    assert backend.url == redacted
    assert repr(backend) == f"RedisBackend({redacted!r}, maxlen=10000, codec=JsonCodec())"
    with pytest.raises(ChannelError) as entering:
        async with Channel[int](channel_name, backend=backend):
            pytest.fail("entered a channel with nobody listening")
    with pytest.raises(ChannelError) as appending:
        await backend.append(channel_name, 1)
    for caught in (entering, appending):
        assert type(caught.value) is ChannelError
        assert f" at {redacted}: " in str(caught.value)
        assert PASSWORD not in everything_said(caught.value)
    assert PASSWORD not in caplog.text
    for record in caplog.records:
        assert PASSWORD not in record.getMessage()


async def test_a_reader_that_reconnects_logs_no_password(
    guarded_server: RedisServer, channel_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"redis://:{PASSWORD}@127.0.0.1:{guarded_server.port}/0"
    async with Channel[int](channel_name, backend=RedisBackend(url)) as channel:
        subscriber = await channel.subscribe()
        # Both of the channel's connections are open once it is entered: killing them
        # fails the reader's next read, whatever it is doing now.
        with redis.Redis.from_url(url) as admin:
            assert admin.client_kill_filter(_type="normal") == 2
        assert await channel.publish(1) == 1  # the publishing connection logs in again
        assert await receive(subscriber, 1) == [1]  # and so has the reader, after a warning
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert [record.getMessage().partition(" (")[0] for record in warnings] == [
        f"reader of channel {channel_name!r} failed"
    ]
    assert PASSWORD not in caplog.text
    for record in caplog.records:
        assert PASSWORD not in record.getMessage()


# -- publish's count under backpressure -----------------------------------------------------


async def publish_to_a_slow_subscriber(
    publishing: Channel[int], subscriber: Subscriber[int]
) -> tuple[list[int], list[int]]:
    """Publish MESSAGES while *subscriber* (a queue of one) takes them one at a time, letting
    the pump and the publisher run in between; what publish returned, and what arrived."""
    counts: list[int] = []
    received: list[int] = []

    async def consume_slowly() -> None:
        for _ in range(MESSAGES):
            received.append((await subscriber.receive()).data)
            await anyio.lowlevel.checkpoint()

    async def publish() -> None:
        counts.extend([await publishing.publish(number) for number in range(MESSAGES)])

    with anyio.fail_after(15):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(consume_slowly)
            tasks.start_soon(publish)
    return counts, received


async def test_publish_counts_exactly_while_a_slow_subscriber_holds_it_back(
    redis_url: str, channel_name: str
) -> None:
    async with Channel[int](channel_name, backend=RedisBackend(redis_url)) as channel:
        subscriber = await channel.subscribe(buffer_size=1, overflow="block")
        counts, received = await publish_to_a_slow_subscriber(channel, subscriber)
    assert counts == [1] * MESSAGES
    assert received == list(range(MESSAGES))


async def test_publish_counts_none_for_another_processs_slow_subscriber(
    redis_url: str, channel_name: str
) -> None:
    backend = RedisBackend(redis_url)
    async with (
        Channel[int](channel_name, backend=backend) as reading,
        Channel[int](channel_name, backend=backend) as publishing,
    ):
        subscriber = await reading.subscribe(buffer_size=1, overflow="block")
        counts, received = await publish_to_a_slow_subscriber(publishing, subscriber)
    assert counts == [0] * MESSAGES
    assert received == list(range(MESSAGES))
