"""The Redis measurements inside the benchmark's own process: the raw client, then mtbus.

Connecting, subscribing and starting the consumer task happen before the clock starts. The
clock runs from the first publish to the last message received (to the last reply, for the
raw client, which has no subscriber). mtbus is used through its public API only, the way an
application would: a channel over a :class:`~mtbus.backends.RedisBackend`, a subscriber to
``orders.*`` drained by its own task, and publishers awaiting ``channel.publish`` (or
:meth:`~mtbus.Publisher.publish_batch`) with a 4-field dict on ``orders.eu``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from mtbus import Channel, Publisher
from mtbus.backends import RedisBackend
from mtbus.backends._connections import open_connection
from mtbus.backends._resp import RedisAddress

from ._redis_engine import encode, xadd
from ._redis_flow import PATTERN, TOPIC, Arrivals, Quota, Sequencer, unwrapped
from ._tally import CorrectnessError

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Sequence

    from ._redis_flow import Budget

    #: A task to start: a coroutine function taking no arguments.
    Task = Callable[[], Coroutine[Any, Any, None]]
    #: One publisher task: publishes until its quota is spent.
    PublishTask = Callable[[Quota], Coroutine[Any, Any, None]]

#: Seconds to wait for the last messages once the last publish returned.
DRAIN_SECONDS = 30.0
#: Seconds more before a run that is stuck (a publish that never returns) is given up.
STALL_SECONDS = 60.0
#: Seconds the consumer goes on checking after the last expected message: a late duplicate
#: would still show.
SETTLE_SECONDS = 0.1


@dataclass(frozen=True)
class Run:
    """What one timed run did: *messages* in *seconds*."""

    messages: int
    seconds: float


async def drive(
    arrivals: Arrivals,
    consume: Task,
    publishers: Sequence[PublishTask],
    budget: Budget,
    ready: Task | None = None,
) -> Run:
    """Run *consume* in its own task, then time *publishers* until every message arrived.

    :param ready: awaited after the consumer started and before the clock does
    :raises CorrectnessError: if *arrivals* saw a message lost, duplicated or out of order
    :raises TimeoutError: if the run is stuck
    """
    with unwrapped(), anyio.fail_after(budget.seconds + DRAIN_SECONDS + STALL_SECONDS):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(consume)
            if ready is not None:
                await ready()
            quota = Quota(budget)
            started = time.perf_counter()
            async with anyio.create_task_group() as publishing:
                for publish in publishers:
                    publishing.start_soon(publish, quota)
            await arrivals.wait_for(quota.sent, DRAIN_SECONDS)
            await anyio.sleep(SETTLE_SECONDS)
            tasks.cancel_scope.cancel()
    return Run(quota.sent, arrivals.last - started)


def raise_first(results: Sequence[Exception | None]) -> None:
    """Raise the first error :meth:`~mtbus.Publisher.publish_batch` reported, if any."""
    for error in results:
        if error is not None:
            raise error


async def mtbus_local(url: str, budget: Budget, *, tasks: int, batch: int = 0) -> Run:
    """mtbus: *tasks* concurrent publishers, each awaiting ``channel.publish`` (or, with
    *batch*, ``Publisher.publish_batch`` of *batch* messages), to a local subscriber."""
    who = f"mtbus ({tasks} publishers{f', batches of {batch}' if batch else ''})"
    async with Channel[dict[str, Any]]("bench.local", backend=RedisBackend(url)) as channel:
        subscriber = await channel.subscribe(PATTERN)
        arrivals = Arrivals(who)

        async def consume() -> None:
            receive, add = subscriber.receive, arrivals.add
            while True:
                message = await receive()
                add(message.topic, message.data)

        async def publish_each(task: int, quota: Quota) -> None:
            send, sequencer = channel.publish, Sequencer(task)
            while quota.claim():
                await send(sequencer.next(TOPIC), TOPIC)

        async def publish_batches(task: int, quota: Quota) -> None:
            publisher, sequencer = Publisher(channel), Sequencer(task)
            while size := quota.claim(batch):
                items = [(sequencer.next(TOPIC), TOPIC, None) for _ in range(size)]
                raise_first(await publisher.publish_batch(items))

        publish = publish_batches if batch else publish_each
        return await drive(
            arrivals, consume, [partial(publish, task) for task in range(tasks)], budget
        )


async def raw_client(url: str, budget: Budget, *, pipeline: int = 0) -> Run:
    """The client mtbus speaks Redis with, alone: ``XADD`` one at a time, or *pipeline* per
    write (``execute``, ``pipeline``); every reply must be an entry ID."""
    key = "bench:raw"
    connection = await open_connection(RedisAddress(url))
    try:
        sequencer = Sequencer(0)
        quota = Quota(budget)
        started = time.perf_counter()
        if not pipeline:
            execute = connection.execute
            while quota.claim():
                check_reply(await execute(*xadd(key, encode(sequencer.next(TOPIC)))))
        else:
            while size := quota.claim(pipeline):
                commands = [xadd(key, encode(sequencer.next(TOPIC))) for _ in range(size)]
                for reply in await connection.pipeline(commands):
                    check_reply(reply)
        elapsed = time.perf_counter() - started
    finally:
        await connection.aclose()
    return Run(quota.sent, elapsed)


def check_reply(reply: object) -> None:
    """Insist that *reply* is a stream entry ID, as ``XADD`` answers."""
    if not isinstance(reply, bytes) or b"-" not in reply:
        raise CorrectnessError(f"raw client: XADD answered {reply!r}, not an entry ID")
