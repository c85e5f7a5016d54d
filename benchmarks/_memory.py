"""Scenario 5: bytes per registered handler, per subscription and per queued message.

tracemalloc counts what is allocated, and still alive, while N items are added to a
container built beforehand (an emitter, a channel, a subscriber); the handlers and payloads
themselves exist before counting starts. Everything runs on asyncio, where every peer runs;
the numbers do not depend on the event loop.
"""

from __future__ import annotations

import asyncio
import gc
import math
import tracemalloc
from contextlib import AsyncExitStack
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import anyio

from ._backends import run_on
from ._results import MemoryResult
from ._tally import Tally
from ._workloads import NAME

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import TracebackType

    #: Adds the given number of items and returns the bytes they cost in total.
    Measure = Callable[[int], Awaitable[int]]


class AllocationMeter:
    """The bytes allocated inside a ``with`` block and still alive at its end."""

    allocated = 0

    def __enter__(self) -> AllocationMeter:
        gc.collect()
        tracemalloc.start()
        self._start = tracemalloc.get_traced_memory()[0]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        gc.collect()
        self.allocated = tracemalloc.get_traced_memory()[0] - self._start
        tracemalloc.stop()


def handlers(count: int) -> list[Callable[[object], Awaitable[None]]]:
    """*count* distinct ``async def`` handlers, made before anything is measured."""
    tally = Tally()
    return [tally.async_handler() for _ in range(count)]


async def mtbus_handlers(count: int) -> int:
    from mtbus import EventEmitter

    emitter, callees = EventEmitter(), handlers(count)
    with AllocationMeter() as meter:
        for handler in callees:
            emitter.on(NAME, handler)
    return meter.allocated


async def pyee_handlers(count: int) -> int:
    from pyee.asyncio import AsyncIOEventEmitter

    emitter, callees = AsyncIOEventEmitter(), handlers(count)
    with AllocationMeter() as meter:
        for handler in callees:
            emitter.add_listener(NAME, handler)
    return meter.allocated


async def blinker_handlers(count: int) -> int:
    from blinker import Signal

    signal, callees = Signal(), handlers(count)
    with AllocationMeter() as meter:
        for handler in callees:
            signal.connect(handler, weak=False)
    return meter.allocated


async def pymitter_handlers(count: int) -> int:
    from pymitter import EventEmitter

    emitter, callees = EventEmitter(), handlers(count)
    with AllocationMeter() as meter:
        for handler in callees:
            emitter.on(NAME, handler)
    return meter.allocated


async def aiosignal_handlers(count: int) -> int:
    from aiosignal import Signal

    signal: Signal[object] = Signal(owner=None)
    callees = handlers(count)
    with AllocationMeter() as meter:
        for handler in callees:
            signal.append(handler)
    return meter.allocated


async def mtaio_handlers(count: int) -> int:
    from mtaio.events import EventEmitter

    emitter, callees = EventEmitter(), handlers(count)
    with AllocationMeter() as meter:
        for handler in callees:
            emitter.add_listener(NAME, handler)
    return meter.allocated


async def mtbus_subscriptions(count: int) -> int:
    from mtbus import Channel

    async with Channel[int]("bench") as channel:
        with AllocationMeter() as meter:
            subscribers = [await channel.subscribe("bench.*") for _ in range(count)]
        del subscribers
    return meter.allocated


async def queue_subscriptions(count: int) -> int:
    with AllocationMeter() as meter:
        queues = [asyncio.Queue[object]() for _ in range(count)]
    del queues
    return meter.allocated


async def stream_subscriptions(count: int) -> int:
    with AllocationMeter() as meter:
        streams = [
            anyio.create_memory_object_stream[object](max_buffer_size=math.inf)
            for _ in range(count)
        ]
    for send, receive in streams:
        send.close()
        receive.close()
    return meter.allocated


async def broadcaster_subscriptions(count: int) -> int:
    from broadcaster import Broadcast

    async with Broadcast("memory://") as broadcast, AsyncExitStack() as stack:
        with AllocationMeter() as meter:
            for _ in range(count):
                await stack.enter_async_context(broadcast.subscribe(NAME))
    return meter.allocated


async def mtaio_subscriptions(count: int) -> int:
    from mtaio.events import Channel

    channel = Channel("bench")
    with AllocationMeter() as meter:
        subscribers = [await channel.subscribe([NAME]) for _ in range(count)]
    del subscribers
    return meter.allocated


def payloads(count: int) -> list[object]:
    """*count* distinct payloads (ints past the small-int cache), made before measuring."""
    return list(range(1_000_000, 1_000_000 + count))


async def mtbus_messages(count: int) -> int:
    from mtbus import Channel

    async with Channel[object]("bench") as channel:
        subscriber, data = await channel.subscribe("bench.*"), payloads(count)
        with AllocationMeter() as meter:
            for item in data:
                await channel.publish(item, NAME)
        del subscriber
    return meter.allocated


async def queue_messages(count: int) -> int:
    queue, data = asyncio.Queue[tuple[str, object]](), payloads(count)
    with AllocationMeter() as meter:
        for item in data:
            queue.put_nowait((NAME, item))
    return meter.allocated


async def stream_messages(count: int) -> int:
    send, receive = anyio.create_memory_object_stream[tuple[str, object]](max_buffer_size=math.inf)
    data = payloads(count)
    async with send, receive:
        with AllocationMeter() as meter:
            for item in data:
                send.send_nowait((NAME, item))
    return meter.allocated


async def broadcaster_messages(count: int) -> int:
    from broadcaster import Broadcast

    async with Broadcast("memory://") as broadcast, broadcast.subscribe(NAME) as subscriber:
        data = payloads(count)
        with AllocationMeter() as meter:
            for item in data:
                await broadcast.publish(NAME, item)
            await anyio.wait_all_tasks_blocked()  # its listener task has moved them over
        del subscriber
    return meter.allocated


async def mtaio_messages(count: int) -> int:
    from mtaio.events import Channel

    channel = Channel("bench")
    subscriber, data = await channel.subscribe([NAME]), payloads(count)
    with AllocationMeter() as meter:
        for item in data:
            await channel.publish(item, NAME)
    del subscriber
    return meter.allocated


@dataclass(frozen=True)
class MemoryCase:
    """One library's cost of one kind of item."""

    item: str
    library: str
    measure: Measure
    requires: str | None = None


CASES = (
    MemoryCase("handler", "mtbus", mtbus_handlers),
    MemoryCase("handler", "pyee", pyee_handlers, "pyee"),
    MemoryCase("handler", "blinker", blinker_handlers, "blinker"),
    MemoryCase("handler", "pymitter", pymitter_handlers, "pymitter"),
    MemoryCase("handler", "aiosignal", aiosignal_handlers, "aiosignal"),
    MemoryCase("handler", "mtaio", mtaio_handlers, "mtaio"),
    MemoryCase("subscription", "baseline: asyncio.Queue", queue_subscriptions),
    MemoryCase("subscription", "baseline: anyio memory stream", stream_subscriptions),
    MemoryCase("subscription", "mtbus", mtbus_subscriptions),
    MemoryCase("subscription", "broadcaster", broadcaster_subscriptions, "broadcaster"),
    MemoryCase("subscription", "mtaio", mtaio_subscriptions, "mtaio"),
    MemoryCase("queued message", "baseline: asyncio.Queue", queue_messages),
    MemoryCase("queued message", "baseline: anyio memory stream", stream_messages),
    MemoryCase("queued message", "mtbus", mtbus_messages),
    MemoryCase("queued message", "broadcaster", broadcaster_messages, "broadcaster"),
    MemoryCase("queued message", "mtaio", mtaio_messages, "mtaio"),
)


def measure_memory(count: int, installed: Callable[[str], bool]) -> list[MemoryResult]:
    """Measure every case whose library is installed, with *count* items each."""
    results = []
    for case in CASES:
        if case.requires is not None and not installed(case.requires):
            continue
        allocated = run_on("asyncio", partial(case.measure, count))
        results.append(MemoryResult(case.item, case.library, allocated / count, count))
    return results
