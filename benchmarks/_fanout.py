"""Scenario 4: channel fan-out, every message to 1 or 10 subscribers, each draining in a task.

One publisher (the task that started the consumers) publishes the numbers ``0 .. n-1`` on the
topic ``bench.tick``; every subscriber's consumer task receives exactly ``n`` messages and
records the last one, and afterwards every queue must be empty. All queues are unbounded
(the default of every library here), so what is timed is routing, queueing and draining, not
back-pressure. The hand-written baselines carry a ``(topic, data)`` tuple, as mtbus carries
a topic in its ``Message``:

- one ``asyncio.Queue`` per subscriber, ``put_nowait`` and ``await get()`` (asyncio only; the
  baseline of the ratios wherever it runs);
- one anyio memory object stream per subscriber, ``send_nowait`` first (falling back to
  ``await send``) and ``receive_nowait`` first (falling back to ``await receive``): the
  baseline on trio.

Peers: broadcaster's in-memory backend (a channel name per topic, asyncio only) and mtaio's
``Channel`` (exact topics, asyncio only). mtbus subscribers subscribe to ``bench.*``.
"""

from __future__ import annotations

import asyncio
import math
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from ._backends import ASYNCIO_ONLY
from ._harness import Contender

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

    from anyio.streams.memory import MemoryObjectReceiveStream

    from mtbus import Subscriber

    from ._harness import Workload
    from ._profile import Profile
    from ._tally import Tally

    #: Publishes the numbers 0 .. ops-1.
    PublishAll = Callable[[int], Awaitable[None]]
    #: Receives ops messages and returns the last one's number.
    Drain = Callable[[int], Awaitable[object]]

TOPIC = "bench.tick"


def fan_out(tally: Tally, publish_all: PublishAll, drains: Sequence[Drain]) -> Workload:
    """The workload shared by every library: start one task per drain, then publish."""
    records = [tally.consumer() for _ in drains]

    async def consume(drain: Drain, record: Callable[[object], None], ops: int) -> None:
        record(await drain(ops))

    async def workload(ops: int) -> None:
        async with anyio.create_task_group() as group:
            for drain, record in zip(drains, records, strict=True):
                group.start_soon(consume, drain, record, ops)
            await publish_all(ops)

    return workload


def buffered(receive: MemoryObjectReceiveStream[Any]) -> int:
    """How many items wait in an anyio memory object stream."""
    return receive.statistics().current_buffer_used


def pending(subscriber: Subscriber[Any]) -> int:
    """How many messages wait for an mtbus subscriber."""
    return subscriber.statistics().pending


@asynccontextmanager
async def baseline_queue(tally: Tally, subscribers: int) -> AsyncIterator[Workload]:
    """One ``asyncio.Queue`` per subscriber: ``put_nowait((topic, n))``, ``await get()``."""
    queues = [asyncio.Queue[tuple[str, int]]() for _ in range(subscribers)]
    for queue in queues:
        tally.watch_strays(queue.qsize)

    async def publish_all(ops: int) -> None:
        for number in range(ops):
            item = (TOPIC, number)
            for queue in queues:
                queue.put_nowait(item)

    def drain(queue: asyncio.Queue[tuple[str, int]]) -> Drain:
        async def run(ops: int) -> object:
            get = queue.get
            item = (TOPIC, -1)
            for _ in range(ops):
                item = await get()
            return item[1]

        return run

    yield fan_out(tally, publish_all, [drain(queue) for queue in queues])


@asynccontextmanager
async def baseline_stream(tally: Tally, subscribers: int) -> AsyncIterator[Workload]:
    """One unbounded anyio memory object stream per subscriber, used nowait-first."""
    streams = [
        anyio.create_memory_object_stream[tuple[str, int]](max_buffer_size=math.inf)
        for _ in range(subscribers)
    ]
    senders = [send for send, _ in streams]
    for _, receive in streams:
        tally.watch_strays(partial(buffered, receive))

    async def publish_all(ops: int) -> None:
        for number in range(ops):
            item = (TOPIC, number)
            for send in senders:
                try:
                    send.send_nowait(item)
                except anyio.WouldBlock:
                    await send.send(item)

    def drain(receive: MemoryObjectReceiveStream[tuple[str, int]]) -> Drain:
        async def run(ops: int) -> object:
            receive_nowait = receive.receive_nowait
            item = (TOPIC, -1)
            for _ in range(ops):
                try:
                    item = receive_nowait()
                except anyio.WouldBlock:
                    item = await receive.receive()
            return item[1]

        return run

    async with AsyncExitStack() as stack:
        for send, receive in streams:
            stack.push_async_exit(send)
            stack.push_async_exit(receive)
        yield fan_out(tally, publish_all, [drain(receive) for _, receive in streams])


@asynccontextmanager
async def mtbus_channel(tally: Tally, subscribers: int) -> AsyncIterator[Workload]:
    """An mtbus ``Channel``: ``await publish(n, topic)``, each subscriber ``await receive()``."""
    from mtbus import Channel

    async with Channel[int]("bench") as channel:
        subs = [await channel.subscribe("bench.*") for _ in range(subscribers)]
        for sub in subs:
            tally.watch_strays(partial(pending, sub))
        publish = channel.publish

        async def publish_all(ops: int) -> None:
            for number in range(ops):
                await publish(number, TOPIC)

        def drain(subscriber: Subscriber[int]) -> Drain:
            async def run(ops: int) -> object:
                receive = subscriber.receive
                data = -1
                for _ in range(ops):
                    data = (await receive()).data
                return data

            return run

        yield fan_out(tally, publish_all, [drain(sub) for sub in subs])


@asynccontextmanager
async def broadcaster_channel(tally: Tally, subscribers: int) -> AsyncIterator[Workload]:
    """broadcaster's ``memory://`` backend: ``await publish(channel, n)``, ``await get()``."""
    from broadcaster import Broadcast

    async with Broadcast("memory://") as broadcast, AsyncExitStack() as stack:
        subs = [
            await stack.enter_async_context(broadcast.subscribe(TOPIC)) for _ in range(subscribers)
        ]
        for sub in subs:
            # broadcaster has no public way to see what is still queued for a subscriber.
            tally.watch_strays(sub._queue.qsize)
        publish = broadcast.publish

        async def publish_all(ops: int) -> None:
            for number in range(ops):
                await publish(TOPIC, number)

        def drain(subscriber: Any) -> Drain:
            async def run(ops: int) -> object:
                get = subscriber.get
                message: object = -1
                for _ in range(ops):
                    message = (await get()).message
                return message

            return run

        yield fan_out(tally, publish_all, [drain(sub) for sub in subs])


@asynccontextmanager
async def mtaio_channel(tally: Tally, subscribers: int) -> AsyncIterator[Workload]:
    """mtaio's ``Channel``: ``await publish(n, topic)``, each subscriber ``await receive()``."""
    from mtaio.events import Channel

    channel = Channel("bench")
    subs = [await channel.subscribe([TOPIC]) for _ in range(subscribers)]
    for sub in subs:
        tally.watch_strays(sub.queue.qsize)
    publish = channel.publish

    async def publish_all(ops: int) -> None:
        for number in range(ops):
            await publish(number, TOPIC)

    def drain(subscriber: Any) -> Drain:
        async def run(ops: int) -> object:
            receive = subscriber.receive
            data: object = -1
            for _ in range(ops):
                data = (await receive()).data
            return data

        return run

    yield fan_out(tally, publish_all, [drain(sub) for sub in subs])


def contenders(profile: Profile) -> list[Contender]:
    """The contenders of ``fanout`` with 1 and with 10 subscribers."""
    ops = profile.fanout_messages
    found: list[Contender] = []
    for subscribers in (1, 10):
        case = "1 subscriber" if subscribers == 1 else f"{subscribers} subscribers"
        found += [
            Contender(
                "fanout",
                case,
                "baseline: asyncio.Queue",
                partial(baseline_queue, subscribers=subscribers),
                ops,
                ASYNCIO_ONLY,
                baseline=True,
            ),
            Contender(
                "fanout",
                case,
                "baseline: anyio memory stream",
                partial(baseline_stream, subscribers=subscribers),
                ops,
                baseline=True,
            ),
            Contender(
                "fanout", case, "mtbus", partial(mtbus_channel, subscribers=subscribers), ops
            ),
            Contender(
                "fanout",
                case,
                "broadcaster",
                partial(broadcaster_channel, subscribers=subscribers),
                ops,
                ASYNCIO_ONLY,
                "broadcaster",
            ),
            Contender(
                "fanout",
                case,
                "mtaio",
                partial(mtaio_channel, subscribers=subscribers),
                ops,
                ASYNCIO_ONLY,
                "mtaio",
            ),
        ]
    return found
