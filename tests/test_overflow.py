"""Full queues: each overflow policy, backpressure, and what unblocks a blocked publisher."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from mtbus import Channel, ChannelClosedError, ChannelFullError, Subscriber

pytestmark = pytest.mark.anyio


def queued(subscriber: Subscriber[Any]) -> list[Any]:
    return [subscriber.receive_nowait().data for _ in range(subscriber.statistics().pending)]


async def test_drop_oldest_keeps_the_newest_messages_and_counts_the_rest() -> None:
    channel = Channel[int]("events", buffer_size=3, overflow="drop_oldest")
    subscriber = await channel.subscribe()
    for number in range(5):
        assert await channel.publish(number) == 1
    assert queued(subscriber) == [2, 3, 4]
    stats = subscriber.statistics()
    assert (stats.delivered, stats.dropped, stats.pending) == (5, 2, 0)


async def test_drop_newest_keeps_the_oldest_messages_and_counts_the_rest() -> None:
    channel = Channel[int]("events", buffer_size=3, overflow="drop_newest")
    subscriber = await channel.subscribe()
    delivered = [await channel.publish(number) for number in range(5)]
    assert delivered == [1, 1, 1, 0, 0]
    assert queued(subscriber) == [0, 1, 2]
    stats = subscriber.statistics()
    assert (stats.delivered, stats.dropped) == (3, 2)


async def test_error_policy_raises_after_delivering_to_everyone_else() -> None:
    channel = Channel[int]("events")
    strict = await channel.subscribe(buffer_size=1, overflow="error")
    relaxed = await channel.subscribe()
    await channel.publish(1)
    with pytest.raises(
        ChannelFullError, match="message to topic 'a' dropped for 1 full subscriber"
    ):
        await channel.publish(2, topic="a")
    assert queued(relaxed) == [1, 2]
    assert queued(strict) == [1]
    assert strict.statistics().dropped == 1


async def test_policies_can_differ_per_subscriber() -> None:
    channel = Channel[int]("events", buffer_size=1, overflow="drop_newest")
    newest = await channel.subscribe()
    oldest = await channel.subscribe(overflow="drop_oldest")
    roomy = await channel.subscribe(buffer_size=0)
    for number in range(3):
        await channel.publish(number)
    assert (queued(newest), queued(oldest), queued(roomy)) == ([0], [2], [0, 1, 2])


async def test_block_makes_the_publisher_wait_for_room() -> None:
    channel = Channel[int]("events", buffer_size=1)
    subscriber = await channel.subscribe()
    await channel.publish(1)
    published = anyio.Event()

    async def publish_second() -> None:
        await channel.publish(2)
        published.set()

    async with anyio.create_task_group() as group:
        group.start_soon(publish_second)
        await anyio.wait_all_tasks_blocked()
        assert not published.is_set()
        assert subscriber.receive_nowait().data == 1  # makes room
        await published.wait()
    assert queued(subscriber) == [2]
    assert subscriber.statistics().dropped == 0


async def test_one_slow_subscriber_under_block_loses_and_reorders_nothing() -> None:
    channel = Channel[int]("events", buffer_size=2)
    slow = await channel.subscribe()
    fast = await channel.subscribe(buffer_size=0)
    got_slow: list[int] = []

    async def consume_slowly() -> None:
        async for message in slow:
            got_slow.append(message.data)
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as group:
        group.start_soon(consume_slowly)
        for number in range(200):
            await channel.publish(number)
        await channel.close()
    assert got_slow == list(range(200))
    assert queued(fast) == list(range(200))


async def test_unsubscribing_a_full_subscriber_releases_the_blocked_publisher() -> None:
    channel = Channel[int]("events", buffer_size=1)
    stuck = await channel.subscribe()
    other = await channel.subscribe(buffer_size=0)
    await channel.publish(1)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:

            async def publish() -> None:
                assert await channel.publish(2) == 1  # only `other` got it

            group.start_soon(publish)
            await anyio.wait_all_tasks_blocked()
            stuck.unsubscribe()  # never waits, even though its queue is full
    assert queued(other) == [1, 2]
    assert queued(stuck) == [1]


async def test_closing_the_channel_fails_a_blocked_publisher() -> None:
    channel = Channel[int]("events", buffer_size=1)
    subscriber = await channel.subscribe()
    await channel.publish(1)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:

            async def publish() -> None:
                with pytest.raises(ChannelClosedError, match="closed while a publisher waited"):
                    await channel.publish(2)

            group.start_soon(publish)
            await anyio.wait_all_tasks_blocked()
            await channel.close()
    assert queued(subscriber) == [1]


async def test_a_cancelled_blocked_publish_keeps_what_it_delivered() -> None:
    channel = Channel[int]("events")
    first = await channel.subscribe()
    full = await channel.subscribe(buffer_size=1)
    await channel.publish(1)
    with anyio.move_on_after(0.01) as scope:
        await channel.publish(2)
    assert scope.cancelled_caught
    assert queued(first) == [1, 2]
    assert queued(full) == [1]
    assert await channel.publish(3) == 2  # the full subscriber had room again


async def test_several_blocked_publishers_all_get_through() -> None:
    channel = Channel[tuple[int, int]]("events", buffer_size=1)
    subscriber = await channel.subscribe()
    received: list[tuple[int, int]] = []

    async def publish(source: int) -> None:
        for number in range(20):
            await channel.publish((source, number))

    async with anyio.create_task_group() as group:
        for source in range(3):
            group.start_soon(publish, source)
        while len(received) < 60:
            received.append((await subscriber.receive()).data)
    for source in range(3):
        assert [n for s, n in received if s == source] == list(range(20))
