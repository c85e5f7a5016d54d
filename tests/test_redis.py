"""The Redis backend against a real ``redis-server``: what memory cannot show.

Cursors and ``since=``, consumer groups, codecs, trimming gaps, dropped connections, a
server restart, other processes, bad URLs and shutdown. The contract shared with the memory
backend is in ``test_backends.py``.
"""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from receiving import receive
from redis_server import RedisServer, free_port

from mtbus import Channel, ChannelError, ChannelGapError, MessageDecodeError
from mtbus.backends import JsonCodec, MsgpackCodec, RedisBackend, UnsafePickleCodec

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import redis

pytestmark = pytest.mark.anyio


# -- cursors and since= ------------------------------------------------------------------


async def test_a_new_subscriber_resumes_after_its_cursor(redis_url: str, channel_name: str) -> None:
    backend = RedisBackend(redis_url)
    async with Channel[int](channel_name, backend=backend) as channel:
        first = await channel.subscribe("n.*")
        for number in range(5):
            await channel.publish(number, topic=f"n.{number}")
        assert first.cursor is None
        assert await receive(first, 3) == [0, 1, 2]
        cursor = first.cursor
        assert cursor is not None
    # A restart: a new channel object (a new process, say) picks up after the cursor.
    async with Channel[int](channel_name, backend=backend) as channel:
        resumed = await channel.subscribe("n.*", since=cursor)
        assert resumed.cursor == cursor
        await channel.publish(5, topic="n.5")
        await channel.publish(99, topic="other")
        assert await receive(resumed, 3) == [3, 4, 5]
        assert resumed.statistics().pending == 0
        everything = await channel.subscribe(since="0")
        assert await receive(everything, 7) == [0, 1, 2, 3, 4, 5, 99]


async def test_since_dollar_and_none_mean_only_new_messages(
    redis_url: str, channel_name: str
) -> None:
    async with Channel[int](channel_name, backend=RedisBackend(redis_url)) as channel:
        await channel.publish(1)
        new_only = await channel.subscribe(since="$")
        also_new = await channel.subscribe()
        await channel.publish(2)
        assert await receive(new_only, 1) == [2]
        assert await receive(also_new, 1) == [2]


async def test_catching_up_while_others_publish_loses_and_repeats_nothing(
    redis_url: str, channel_name: str
) -> None:
    backend = RedisBackend(redis_url)
    async with Channel[int](channel_name, backend=backend) as channel:
        for number in range(300):
            await channel.publish(number)
        late = await channel.subscribe(since="0", buffer_size=7)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_publish_range, channel, range(300, 600))
            assert await receive(late, 600) == list(range(600))


async def _publish_range(channel: Channel[int], numbers: range) -> None:
    for number in numbers:
        await channel.publish(number)


async def test_a_subscriber_made_after_publish_returned_misses_that_message(
    redis_url: str, channel_name: str
) -> None:
    async with Channel[int](channel_name, backend=RedisBackend(redis_url)) as channel:
        others = await channel.subscribe("other.*")
        # Nobody here matches: publish returns once Redis has each, before this process's
        # reader has read them back.
        assert [await channel.publish(n, topic="n.x") for n in range(200)] == [0] * 200
        late = await channel.subscribe("n.*")
        assert await channel.publish(200, topic="n.x") == 1
        assert await receive(late, 1) == [200]
        assert late.statistics().pending == 0
        assert others.statistics().delivered == 0


@pytest.mark.parametrize("since", ["", "abc", "1-2-3", "-1"])
async def test_bad_cursors_are_refused(redis_url: str, channel_name: str, since: str) -> None:
    async with Channel[int](channel_name, backend=RedisBackend(redis_url)) as channel:
        with pytest.raises(ValueError, match=rf"invalid since {since!r}: expected a message ID"):
            await channel.subscribe(since=since)
        with pytest.raises(TypeError, match=r"since must be a str or None, not int: 5"):
            await channel.subscribe(since=5)  # type: ignore[arg-type]
        assert channel.subscriber_count == 0


# -- gaps --------------------------------------------------------------------------------


async def test_a_cursor_older_than_the_kept_messages_is_reported_as_a_gap(
    redis_url: str, channel_name: str
) -> None:
    reported: list[Exception] = []
    backend = RedisBackend(redis_url, maxlen=10, on_error=reported.append)
    async with Channel[int](channel_name, backend=backend) as channel:
        watcher = await channel.subscribe()
        await channel.publish(0)
        assert await receive(watcher, 1) == [0]
        cursor = watcher.cursor
        assert cursor is not None
        for number in range(1, 500):  # "MAXLEN ~ 10" trims whole nodes of 100 entries
            await channel.publish(number)
        late = await channel.subscribe(since=cursor)
        await channel.publish(500)
        kept: list[int] = []
        with anyio.fail_after(10):
            while not kept or kept[-1] != 500:
                kept.append((await late.receive()).data)
    assert 1 < len(kept) < 500
    assert kept == list(range(kept[0], 501))  # the newest ones, in order, none twice
    assert channel.statistics().gaps == 1
    [gap] = reported
    assert isinstance(gap, ChannelGapError)
    assert gap.after == cursor
    assert gap.resumed_at is not None
    assert gap.reason == "trimmed (by a MAXLEN or XTRIM) before this process read them"
    assert f"after {cursor!r} are gone: trimmed" in str(gap)


async def test_a_reader_left_behind_by_trimming_reports_the_gap(
    redis_url: str, channel_name: str
) -> None:
    backend = RedisBackend(redis_url, maxlen=10)
    async with Channel[int](channel_name, backend=backend) as channel:
        slow = await channel.subscribe(buffer_size=1)
        # Another process publishes while this one's pump waits for room in `slow`.
        async with Channel[int](channel_name, backend=backend) as other:
            for number in range(200):
                await other.publish(number)
            await anyio.wait_all_tasks_blocked()
            for number in range(200, 1000):
                await other.publish(number)
        received: list[int] = []
        with anyio.fail_after(10):
            while not received or received[-1] != 999:
                received.append((await slow.receive()).data)
    assert channel.statistics().gaps >= 1
    assert received == sorted(set(received))  # in order, nothing twice
    assert len(received) < 1000


# -- failures of the connection and the server ---------------------------------------------


async def test_killing_the_readers_connection_mid_stream_loses_nothing(
    redis_url: str, channel_name: str, raw: redis.Redis
) -> None:
    backend = RedisBackend(redis_url)
    async with Channel[int](channel_name, backend=backend) as channel:
        subscriber = await channel.subscribe()
        async with Channel[int](channel_name, backend=backend) as publisher:
            for number in range(300):
                await publisher.publish(number)
                if number % 60 == 30:
                    _kill_blocked_readers(raw)
        assert await receive(subscriber, 300) == list(range(300))
        assert channel.statistics().gaps == 0


async def test_two_hundred_killed_reader_connections_lose_nothing_and_leave_nothing(
    redis_url: str, channel_name: str, raw: redis.Redis
) -> None:
    """Every kill costs the reader one reconnection, and nothing piles up (a pool slot, say)."""
    async with Channel[int](channel_name, backend=RedisBackend(redis_url)) as channel:
        subscriber = await channel.subscribe()
        for number in range(200):
            with anyio.fail_after(10):
                # The server has no event to wait on: poll until the reader is back in XREAD.
                while not _kill_blocked_readers(raw):  # noqa: ASYNC110
                    await anyio.sleep(0.001)
            await channel.publish(number)
            assert await receive(subscriber, 1) == [number]
        clients = [client for client in raw.client_list() if not client["cmd"].startswith("client")]
        assert len(clients) == 2  # the publishing connection and the reader's: no leftovers
        assert channel.statistics().gaps == 0


def _kill_blocked_readers(raw: redis.Redis) -> int:
    """Drop every connection that is waiting in XREAD (the pumps), as a network fault would."""
    killed = 0
    for client in raw.client_list():
        if client["cmd"] in {"xread", "xreadgroup"}:
            killed += raw.client_kill_filter(_id=client["id"])
    return killed


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of this test's own, with an append-only file, so a restart keeps the stream."""
    with RedisServer(tmp_path, persistent=True) as server:
        yield server


async def test_a_server_restart_loses_nothing_that_was_written(
    own_server: RedisServer, channel_name: str
) -> None:
    backend = RedisBackend(own_server.url)
    async with Channel[int](channel_name, backend=backend) as channel:
        subscriber = await channel.subscribe()
        for number in range(50):
            await channel.publish(number)
        await anyio.to_thread.run_sync(own_server.restart)
        for number in range(50, 100):
            await channel.publish(number)
        assert await receive(subscriber, 100) == list(range(100))


async def test_an_unreachable_server_fails_the_opening(channel_name: str) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    channel = Channel[int](channel_name, backend=RedisBackend(url))
    with pytest.raises(
        ChannelError, match=rf"cannot connect channel {channel_name!r} to Redis at {url}"
    ):
        async with channel:
            pass


async def test_a_channel_over_redis_must_be_opened(redis_url: str, channel_name: str) -> None:
    channel = Channel[int](channel_name, backend=RedisBackend(redis_url))
    with pytest.raises(ChannelError, match=r"must be opened first, with `async with channel:`"):
        await channel.publish(1)
    with pytest.raises(ChannelError, match=r"cannot subscribe to channel .* opened first"):
        await channel.subscribe(since="0")


async def test_append_publishes_one_message_without_a_channel_and_returns_its_id(
    redis_url: str, channel_name: str
) -> None:
    backend = RedisBackend(redis_url)
    async with Channel[Any](channel_name, backend=backend) as channel:
        subscriber = await channel.subscribe("order.*")
        entry_id = await backend.append(channel_name, {"n": 1}, "order.placed", {"k": "v"})
        with anyio.fail_after(10):
            message = await subscriber.receive()
    assert message.id == entry_id
    assert (message.data, message.topic, dict(message.metadata)) == (
        {"n": 1},
        "order.placed",
        {"k": "v"},
    )


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        (("bad name", 1), ValueError, r"invalid channel name 'bad name': contains whitespace"),
        (("orders", 1, "order.*"), ValueError, r"invalid topic 'order.\*'"),
        (("orders", 1, None, ["k"]), TypeError, r"metadata must be a mapping, not list"),
        (("orders", object()), TypeError, r"cannot encode a message for channel 'orders'"),
    ],
)
async def test_append_refuses_bad_input_before_connecting(
    arguments: tuple[Any, ...], error: type[Exception], match: str
) -> None:
    backend = RedisBackend(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    with pytest.raises(error, match=match):
        await backend.append(*arguments)


# -- other processes ---------------------------------------------------------------------

PUBLISHER = """
import sys, anyio
from mtbus import Channel
from mtbus.backends import RedisBackend

async def main():
    async with Channel(sys.argv[2], backend=RedisBackend(sys.argv[1])) as channel:
        for number in range(200):
            await channel.publish(number, topic=f"order.{'eu' if number % 2 else 'us'}.placed")

anyio.run(main, backend=sys.argv[3])
"""


async def test_messages_from_another_process_arrive_in_order(
    redis_url: str, channel_name: str, anyio_backend: str
) -> None:
    async with Channel[int](channel_name, backend=RedisBackend(redis_url)) as channel:
        europe = await channel.subscribe("order.eu.*")
        everything = await channel.subscribe("order.#")
        command = [sys.executable, "-c", PUBLISHER, redis_url, channel_name, anyio_backend]
        done = await anyio.run_process(command, check=False, stderr=subprocess.STDOUT)
        assert done.returncode == 0, done.stdout.decode()
        assert await receive(europe, 100) == list(range(1, 200, 2))
        assert await receive(everything, 200) == list(range(200))


async def test_the_command_line_publishes_and_listens(redis_url: str, channel_name: str) -> None:
    common = ["--redis", redis_url, "--channel", channel_name]
    mtbus = [sys.executable, "-m", "mtbus"]
    publish = [*mtbus, "publish", *common]
    await anyio.run_process([*publish, "user.login", '{"name": "ada"}', "--metadata", '{"n": 1}'])
    await anyio.run_process([*publish, "user.logout", "ada"])
    await anyio.run_process([*publish, "system.boot", "1"])
    listen = [*mtbus, "listen", "user.*", "--since", "0", "--count", "2", *common]
    with anyio.fail_after(30):
        done = await anyio.run_process(listen)
    lines = done.stdout.decode().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        'user.login {"name": "ada"} {"n": 1}',
        'user.logout "ada"',
    ]
    failed = await anyio.run_process([*mtbus, "listen", "--redis", "http://x"], check=False)
    assert failed.returncode == 2
    assert "invalid Redis URL 'http://x'" in failed.stderr.decode()


# -- codecs ------------------------------------------------------------------------------


async def test_msgpack_carries_bytes(redis_url: str, channel_name: str) -> None:
    backend = RedisBackend(redis_url, codec=MsgpackCodec())
    async with Channel[Any](channel_name, backend=backend) as channel:
        subscriber = await channel.subscribe()
        await channel.publish({"blob": b"\x00\xff"}, metadata={"k": [1, 2]})
        with anyio.fail_after(10):
            message = await subscriber.receive()
        assert message.data == {"blob": b"\x00\xff"}
        assert message.metadata == {"k": [1, 2]}
    # A JSON receiver still reads msgpack messages: both codecs are safe.
    async with Channel[Any](channel_name, backend=RedisBackend(redis_url)) as channel:
        reader = await channel.subscribe(since="0")
        assert await receive(reader, 1) == [{"blob": b"\x00\xff"}]


@pytest.mark.filterwarnings("ignore::mtbus.backends.UnsafeCodecWarning")
async def test_pickled_messages_are_refused_unless_pickle_is_the_receivers_codec(
    redis_url: str, channel_name: str
) -> None:
    reported: list[Exception] = []
    cautious = RedisBackend(redis_url, on_error=reported.append)
    trusting = RedisBackend(redis_url, codec=UnsafePickleCodec())
    async with (
        Channel[Any](channel_name, backend=cautious) as careful,
        Channel[Any](channel_name, backend=trusting) as pickling,
    ):
        refuses = await careful.subscribe()
        accepts = await pickling.subscribe()
        await pickling.publish({1, 2})  # a set: pickle can, JSON cannot
        await careful.publish("json")
        assert await receive(accepts, 2) == [{1, 2}, "json"]
        assert await receive(refuses, 1) == ["json"]  # the reader kept going
    assert careful.statistics().undecodable == 1
    [refusal] = reported
    assert isinstance(refusal, MessageDecodeError)
    assert "it was pickled, and unpickling runs code chosen by its writer" in str(refusal)


async def test_unencodable_and_oversized_messages_fail_at_publish(
    redis_url: str, channel_name: str
) -> None:
    backend = RedisBackend(redis_url, max_message_bytes=100)
    async with Channel[Any](channel_name, backend=backend) as channel:
        subscriber = await channel.subscribe()
        with pytest.raises(TypeError, match=r"cannot encode a message for channel .* set"):
            await channel.publish({1, 2})
        with pytest.raises(
            ValueError, match=r"message of 202 bytes .* larger than max_message_bytes=100"
        ):
            await channel.publish("x" * 200)
        await channel.publish("fits")
        assert await receive(subscriber, 1) == ["fits"]


async def test_foreign_entries_are_counted_and_skipped(
    redis_url: str, channel_name: str, raw: redis.Redis
) -> None:
    backend = RedisBackend(redis_url)
    async with Channel[Any](channel_name, backend=backend) as channel:
        subscriber = await channel.subscribe()
        raw.xadd(backend.key(channel_name), {"hello": "world"})
        raw.xadd(backend.key(channel_name), {"c": "json", "d": "{not json"})
        await channel.publish("after")
        assert await receive(subscriber, 1) == ["after"]
        assert channel.statistics().undecodable == 2


# -- configuration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "error", "match"),
    [
        (
            "http://localhost",
            ValueError,
            r"invalid Redis URL 'http://localhost': expected redis://",
        ),
        ("redis://", ValueError, r"invalid Redis URL 'redis://': no host"),
        ("redis://localhost:99999/0", ValueError, r"invalid Redis URL 'redis://localhost:99999/0'"),
        (6379, TypeError, r"url must be a str, not int: 6379"),
    ],
)
def test_bad_urls_are_refused(url: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        RedisBackend(url)


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match=r"invalid maxlen 0: must be >= 1"):
        RedisBackend(maxlen=0)
    with pytest.raises(TypeError, match=r"codec 'json' has no 'name': expected a Codec"):
        RedisBackend(codec="json")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"invalid claim_idle 0: must be a finite number > 0"):
        RedisBackend(claim_idle=0)
    with pytest.raises(ValueError, match=r"invalid connect_timeout -1: must be a finite number"):
        RedisBackend(connect_timeout=-1)
    with pytest.raises(TypeError, match=r"connect_timeout must be a number of seconds, not str"):
        RedisBackend(connect_timeout="10")  # type: ignore[arg-type]
    assert repr(RedisBackend()) == (
        "RedisBackend('redis://localhost:6379/0', maxlen=10000, codec=JsonCodec())"
    )
    assert RedisBackend(key_prefix="app:").key("orders") == "app:{orders}"
    with pytest.raises(TypeError, match=r"ssl_context must be an ssl.SSLContext or None, not str"):
        RedisBackend("rediss://localhost", ssl_context="tls")  # type: ignore[arg-type]
    secret = RedisBackend("redis://alice:s3cret@localhost:6380/2")
    assert secret.url == "redis://alice:***@localhost:6380/2"
    assert "s3cret" not in repr(secret)


def test_without_hiredis_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("mtbus.backends._resp.hiredis", None)
    with pytest.raises(ModuleNotFoundError, match=r"Install it with: pip install 'mtbus\[redis\]'"):
        RedisBackend()
    JsonCodec()  # the codecs themselves need nothing


# -- shutdown ----------------------------------------------------------------------------


async def test_leaving_the_channel_stops_every_reader(redis_url: str, channel_name: str) -> None:
    backend = RedisBackend(redis_url)
    async with Channel[int](channel_name, backend=backend) as channel:
        plain = await channel.subscribe()
        catching_up = await channel.subscribe(since="0")
        member = await channel.subscribe(group="g")
        await channel.publish(1)
        assert await receive(plain, 1) == [1]
    # Nothing is left running: the channel's task group has ended, subscribers are closed.
    assert plain.closed
    assert catching_up.closed
    assert member.closed
    assert [message.data async for message in catching_up] in ([], [1])
    with anyio.fail_after(5):
        await anyio.wait_all_tasks_blocked()


async def test_a_cancelled_publish_still_stores_the_message(
    redis_url: str, channel_name: str
) -> None:
    async with Channel[int](channel_name, backend=RedisBackend(redis_url)) as channel:
        subscriber = await channel.subscribe()
        with anyio.CancelScope() as scope:
            scope.cancel()  # cancelled as soon as it waits: after XADD or while sending it
            await channel.publish(1)
        assert scope.cancelled_caught
        await channel.publish(2)
        received = await receive(subscriber, 1)
        # The cancelled publish either never reached Redis or was delivered in order.
        assert received in ([1], [2])


async def test_unsubscribing_during_the_catch_up_stops_it(
    redis_url: str, channel_name: str
) -> None:
    async with Channel[int](channel_name, backend=RedisBackend(redis_url)) as channel:
        for number in range(50):
            await channel.publish(number)
        late = await channel.subscribe(since="0", buffer_size=1)
        assert await receive(late, 1) == [0]
        late.unsubscribe()
        await channel.publish(50)
        remaining = [message.data async for message in late]
        assert len(remaining) <= 1  # what was queued stays receivable; nothing more arrives
        assert channel.subscriber_count == 0


def test_mtbus_imports_without_hiredis() -> None:
    code = (
        "import sys; sys.modules['hiredis'] = None\n"
        "import mtbus, mtbus.backends\n"
        "from mtbus.backends import RedisBackend\n"
        "try:\n"
        "    RedisBackend()\n"
        "except ModuleNotFoundError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "RedisBackend needs the hiredis package. Install it with: pip install 'mtbus[redis]'\n"
    )
