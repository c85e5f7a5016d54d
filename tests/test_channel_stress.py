"""Under load, with every queue small and the ``block`` policy, nothing is lost or reordered."""

from __future__ import annotations

import anyio
import pytest

from mtbus import Channel

pytestmark = pytest.mark.anyio

SUBSCRIBERS = 10
MESSAGES = 50_000


async def test_ten_subscribers_fifty_thousand_messages_under_block() -> None:
    channel = Channel[int]("stress", buffer_size=64, overflow="block")
    subscribers = [await channel.subscribe() for _ in range(SUBSCRIBERS)]
    received: list[list[int]] = [[] for _ in subscribers]

    async def consume(index: int) -> None:
        into = received[index]
        async for message in subscribers[index]:
            into.append(message.data)

    with anyio.fail_after(120):
        async with anyio.create_task_group() as group:
            for index in range(SUBSCRIBERS):
                group.start_soon(consume, index)
            for number in range(MESSAGES):
                assert await channel.publish(number) == SUBSCRIBERS
            await channel.close()

    expected = list(range(MESSAGES))
    for into, subscriber in zip(received, subscribers, strict=True):
        assert into == expected
        stats = subscriber.statistics()
        assert (stats.delivered, stats.dropped, stats.pending) == (MESSAGES, 0, 0)
