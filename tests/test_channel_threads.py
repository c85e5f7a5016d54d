"""Calls from another thread that would wake a waiting task are refused, before they change
anything; through anyio's ``from_thread`` helpers they work."""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from mtbus import Channel, ChannelClosedError

if TYPE_CHECKING:
    from collections.abc import Callable

    from mtbus import Subscriber

pytestmark = pytest.mark.anyio


async def in_a_thread(call: Callable[[], object]) -> BaseException | None:
    """Run *call* in a plain ``threading.Thread``; what it raised, if anything."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as error:  # handed back to the test, whatever it is
            raised.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    await anyio.to_thread.run_sync(thread.join)
    return raised[0] if raised else None


async def receive_all(
    subscriber: Subscriber[int], into: list[int], got_one: anyio.Event | None = None
) -> None:
    async for message in subscriber:
        into.append(message.data)
        if got_one is not None:
            got_one.set()


async def test_unsubscribe_from_another_thread_is_refused_while_a_receiver_waits(
    channel: Channel[int],
) -> None:
    subscriber = await channel.subscribe()
    received: list[int] = []
    got_one = anyio.Event()
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(receive_all, subscriber, received, got_one)
            await anyio.wait_all_tasks_blocked()
            error = await in_a_thread(subscriber.unsubscribe)
            assert isinstance(error, RuntimeError)
            assert re.search(
                r"^cannot unsubscribe from another thread than the event loop's, where a "
                r"task waits on <Subscriber of .*: use "
                r"anyio\.from_thread\.run_sync\(subscriber\.unsubscribe\)$",
                str(error),
            )
            assert not subscriber.closed  # nothing changed
            assert channel.subscriber_count == 1
            await channel.publish(1)  # and the subscriber still works
            await got_one.wait()  # over Redis, it arrives a moment later
            await anyio.wait_all_tasks_blocked()  # the receiver waits again
            # The right way: the call runs in the event loop's thread.
            await anyio.to_thread.run_sync(anyio.from_thread.run_sync, subscriber.unsubscribe)
    assert subscriber.closed
    assert received == [1]  # the waiting receiver was woken, and its iteration ended


async def test_unsubscribe_from_another_thread_is_refused_while_a_publisher_waits() -> None:
    channel = Channel[int]("events")
    subscriber = await channel.subscribe(buffer_size=1)
    await channel.publish(1)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(channel.publish, 2)  # waits for room
            await anyio.wait_all_tasks_blocked()
            error = await in_a_thread(subscriber.unsubscribe)
            assert isinstance(error, RuntimeError)
            assert "use anyio.from_thread.run_sync(subscriber.unsubscribe)" in str(error)
            assert not subscriber.closed
            # The right way releases the blocked publisher (on trio it used to sleep forever).
            await anyio.to_thread.run_sync(anyio.from_thread.run_sync, subscriber.unsubscribe)
    assert subscriber.closed
    assert [message.data async for message in subscriber] == [1]


async def test_unsubscribe_from_another_thread_is_fine_when_nobody_waits(
    channel: Channel[int],
) -> None:
    subscriber = await channel.subscribe()
    assert await in_a_thread(subscriber.unsubscribe) is None
    assert subscriber.closed


async def test_publishing_from_another_event_loop_is_refused_while_a_receiver_waits() -> None:
    channel = Channel[int]("events")
    idle = await channel.subscribe()  # first in delivery order, and nobody waits on it
    waited_on = await channel.subscribe()
    received: list[int] = []

    def publish_from_another_loop() -> None:
        anyio.run(channel.publish, 1)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(receive_all, waited_on, received)
            await anyio.wait_all_tasks_blocked()
            error = await in_a_thread(publish_from_another_loop)
            assert isinstance(error, RuntimeError)
            assert re.search(
                r"^cannot publish to <Channel 'events' .*> from another thread than the event "
                r"loop's, where a task waits on <Subscriber of 'events' .*: use "
                r"channel\.publish_sync\(data\) inside 'async with channel:', "
                r"or anyio\.from_thread\.run\(channel\.publish, data\)$",
                str(error),
            )
            # Nothing was delivered, not even to the subscriber before the waited-on one.
            assert idle.statistics().pending == idle.statistics().delivered == 0
            assert channel.statistics().published == 0
            # The right way:
            assert await anyio.to_thread.run_sync(publish_from_a_worker_thread, channel, 2) == 2
            await channel.close()
    assert received == [2]
    assert [message.data async for message in idle] == [2]


def publish_from_a_worker_thread(channel: Channel[int], data: int) -> int:
    return anyio.from_thread.run(channel.publish, data)


async def test_closing_from_another_event_loop_is_refused_while_a_receiver_waits() -> None:
    channel = Channel[int]("events")
    subscriber = await channel.subscribe()
    received: list[int] = []
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(receive_all, subscriber, received)
            await anyio.wait_all_tasks_blocked()
            error = await in_a_thread(lambda: anyio.run(channel.close))
            assert isinstance(error, RuntimeError)
            assert "use anyio.from_thread.run(channel.close)" in str(error)
            assert not channel.closed
            assert not subscriber.closed
            await anyio.to_thread.run_sync(anyio.from_thread.run, channel.close)
    assert channel.closed
    assert received == []


async def test_receiving_from_another_event_loop_is_refused_while_a_publisher_waits() -> None:
    channel = Channel[int]("events")
    subscriber = await channel.subscribe(buffer_size=1)
    await channel.publish(1)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(channel.publish, 2)  # waits for room
            await anyio.wait_all_tasks_blocked()
            error = await in_a_thread(subscriber.receive_nowait)
            assert isinstance(error, RuntimeError)
            assert "use anyio.from_thread.run_sync(subscriber.receive_nowait)" in str(error)
            assert subscriber.statistics().pending == 1  # nothing taken
            message: Any = await anyio.to_thread.run_sync(
                anyio.from_thread.run_sync, subscriber.receive_nowait
            )
            assert message.data == 1
    assert subscriber.receive_nowait().data == 2
    await channel.close()
    with pytest.raises(ChannelClosedError):
        await subscriber.receive()
