"""The peers over Redis, asyncio only: broadcaster (pub/sub) and faststream (streams).

Each is used the way its documentation shows, with one subscriber in the same process that
receives every message, checked like mtbus's (count, and order per publisher).

- **broadcaster** publishes with Redis ``PUBLISH``: nothing is stored, and a message
  published before the subscription reached the server is gone. So before the clock starts,
  probes are published until one comes back (and are then ignored). broadcaster 0.3's Redis
  listener may also stop for good if it starts before the subscription is confirmed (it
  ends when redis-py reports no subscriptions, then waits for a flag only a new
  subscription sets): the flag is set again once subscribed, which restarts it.
- **faststream** appends with ``XADD`` (``broker.publish(..., stream=...)``) and its
  subscriber reads the stream with ``XREAD``; it starts at the stream's beginning
  (``last_id="0-0"``, a new stream every run), so nothing is missed however its reader
  starts. It calls the handler for each message, in order, in its reader task.
"""

from __future__ import annotations

import json
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from ._redis_flow import TOPIC, Arrivals, Quota, Sequencer, payload
from ._redis_local import drive

if TYPE_CHECKING:
    from ._redis_flow import Budget
    from ._redis_local import Run

#: The publisher name of broadcaster's probes, which the checks ignore.
PROBE = "probe"
PROBE_SECONDS = 10.0


class PeerUnavailable(Exception):
    """A peer could not be made to run here; the run goes on without it."""


async def broadcaster_run(url: str, budget: Budget, *, tasks: int) -> Run:
    """broadcaster over Redis pub/sub: *tasks* concurrent publishers, one subscriber."""
    from broadcaster import Broadcast

    arrivals = Arrivals(f"broadcaster ({tasks} publishers)")
    listening = anyio.Event()
    broadcast = Broadcast(url)
    async with broadcast, broadcast.subscribe(channel=TOPIC) as subscriber:
        restart_listener(broadcast)

        async def consume() -> None:
            while True:
                data = json.loads((await subscriber.get()).message)
                if data.get("sku") == PROBE:
                    listening.set()
                else:
                    arrivals.add(TOPIC, data)

        async def ready() -> None:
            probe = json.dumps(payload(0, PROBE))
            with anyio.move_on_after(PROBE_SECONDS):
                while not listening.is_set():
                    await broadcast.publish(channel=TOPIC, message=probe)
                    with anyio.move_on_after(0.05):
                        await listening.wait()
            if not listening.is_set():
                raise PeerUnavailable(
                    f"broadcaster: its subscriber received nothing in {PROBE_SECONDS:.0f} s"
                )

        async def publish(task: int, quota: Quota) -> None:
            sequencer = Sequencer(task)
            while quota.claim():
                message = json.dumps(sequencer.next(TOPIC))
                await broadcast.publish(channel=TOPIC, message=message)

        publishers = [partial(publish, task) for task in range(tasks)]
        return await drive(arrivals, consume, publishers, budget, ready)


def restart_listener(broadcast: Any) -> None:
    """Set broadcaster's Redis-listener flag again, now that the subscription is confirmed."""
    flag = getattr(getattr(broadcast, "_backend", None), "_ready", None)
    if flag is not None:
        flag.set()


async def faststream_run(url: str, budget: Budget) -> Run:
    """faststream's RedisBroker over a stream: one publisher, one subscriber."""
    from faststream.redis import RedisBroker, StreamSub

    stream = "bench:faststream"
    arrivals = Arrivals("faststream")
    quiet: dict[str, Any] = {"logger": None}  # no log line per message (typed LoggerProto)
    broker = RedisBroker(url, **quiet)

    @broker.subscriber(stream=StreamSub(stream, last_id="0-0"))
    async def handle(body: Any) -> None:
        arrivals.add(TOPIC, body)  # faststream swallows what this raises; arrivals keeps it

    async def publish(quota: Quota) -> None:
        sequencer = Sequencer(0)
        while quota.claim():
            await broker.publish(sequencer.next(TOPIC), stream=stream)

    async with broker:
        await broker.start()
        return await drive(arrivals, anyio.sleep_forever, [publish], budget)
