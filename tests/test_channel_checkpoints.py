"""Loops that never have to wait still checkpoint: every 256 receives, and every 256
in-memory publishes, one is a full checkpoint (cancellation acts, other tasks run)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from mtbus import Channel, Publisher

if TYPE_CHECKING:
    from mtbus import Subscriber

pytestmark = pytest.mark.anyio

#: The documented interval (docs/channels.md).
EVERY = 256
BACKLOG = 10_000


def other_task_limit(anyio_backend: str) -> int:
    """Within how many calls another runnable task runs (during the last of them): trio
    runs the tasks ready at the same time in a random order, so a loop that yields every
    ``EVERY`` calls may make its next ``EVERY`` calls before the other task runs."""
    return EVERY if anyio_backend == "asyncio" else 2 * EVERY


async def with_backlog(channel: Channel[int]) -> Subscriber[int]:
    """A subscriber with ``BACKLOG`` messages queued."""
    subscriber = await channel.subscribe("n")
    marker = await channel.subscribe("end")
    items = [(number, "n", None) for number in range(BACKLOG)] + [(0, "end", None)]
    assert await Publisher(channel).publish_batch(items) == [None] * len(items)
    with anyio.fail_after(10):
        await marker.receive()  # delivered in order: the backlog is queued before it
    assert subscriber.statistics().pending == BACKLOG
    return subscriber


async def test_a_receive_loop_over_a_backlog_notices_cancellation(channel: Channel[int]) -> None:
    subscriber = await with_backlog(channel)
    received = 0
    with anyio.move_on_after(0) as scope:  # expired already: the next checkpoint raises
        while True:
            await subscriber.receive()
            received += 1
    assert scope.cancelled_caught
    assert received < EVERY
    assert subscriber.statistics().pending == BACKLOG - received  # nothing lost


async def test_async_for_over_a_backlog_notices_cancellation(channel: Channel[int]) -> None:
    subscriber = await with_backlog(channel)
    received = 0
    with anyio.move_on_after(0) as scope:
        async for _ in subscriber:
            received += 1
    assert scope.cancelled_caught
    assert received < EVERY


async def test_a_publish_loop_notices_cancellation(channel: Channel[int]) -> None:
    subscriber = await channel.subscribe()
    published = 0
    with anyio.move_on_after(0) as scope:
        while True:
            await channel.publish(published)
            published += 1
    assert scope.cancelled_caught
    assert published < EVERY
    with anyio.fail_after(10):  # what was published arrives (over Redis, a moment later)
        assert [(await subscriber.receive()).data for _ in range(published)] == [*range(published)]


async def test_a_receive_loop_lets_other_tasks_run(
    channel: Channel[int], anyio_backend: str
) -> None:
    subscriber = await with_backlog(channel)
    ran = anyio.Event()
    received = 0
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(set_event, ran)
        while not ran.is_set():
            await subscriber.receive()
            received += 1
    assert received <= other_task_limit(anyio_backend)


async def test_a_publish_loop_lets_other_tasks_run(
    channel: Channel[int], anyio_backend: str
) -> None:
    await channel.subscribe()
    ran = anyio.Event()
    published = 0
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(set_event, ran)
        while not ran.is_set():
            await channel.publish(published)
            published += 1
    assert published <= other_task_limit(anyio_backend)


async def set_event(event: anyio.Event) -> None:
    event.set()
