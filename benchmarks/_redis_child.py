"""One process of the cross-process Redis measurements: ``python -m benchmarks._redis_child``.

``subscribe`` opens the channel, subscribes to ``orders.*`` (from the stream's start with
``--since 0``), prints ``{"ready": true}`` when it is subscribed (live only), then checks
every message as it arrives until the end message, whose count it checks too. ``publish``
publishes from ``--tasks`` concurrent tasks, each with ``Publisher.publish_batch`` in
chunks of 100 on ``orders.eu`` and ``orders.us`` alternately, until ``--messages`` are out or
``--seconds`` have passed, then the end message ``{"end": <messages published>}``.

Each prints one JSON line last: its wall-clock times (``time.time()``, comparable across
processes), its counts, or ``{"error": ...}`` (exit status 2) if a check failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from typing import Any

import anyio

from mtbus import Channel, Publisher
from mtbus.backends import RedisBackend

from ._backends import BACKENDS, run_on
from ._redis_flow import (
    END_TOPIC,
    PATTERN,
    TOPICS,
    Arrivals,
    Budget,
    Quota,
    Sequencer,
    unwrapped,
)
from ._redis_local import raise_first
from ._tally import CorrectnessError

#: Messages per publish_batch call.
CHUNK = 100
#: A subscriber that gets nothing for this long gives up: the rest was lost.
IDLE_SECONDS = 30.0


def parser() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(prog="python -m benchmarks._redis_child")
    options.add_argument("role", choices=("publish", "subscribe"))
    options.add_argument("--url", required=True)
    options.add_argument("--channel", required=True)
    options.add_argument("--backend", choices=BACKENDS, default="asyncio")
    options.add_argument("--maxlen", type=int, default=10_000)
    options.add_argument("--since", help="subscribe with since= (e.g. 0: the whole stream)")
    options.add_argument("--messages", type=int, default=1_000)
    options.add_argument("--seconds", type=float, default=10.0)
    options.add_argument("--tasks", type=int, default=10)
    return options


def say(report: dict[str, Any]) -> None:
    """Print *report* as one JSON line for the parent process."""
    print(json.dumps(report), flush=True)


async def publish(args: argparse.Namespace) -> dict[str, Any]:
    """Publish the run's messages, then the end message; report when it started."""
    backend = RedisBackend(args.url, maxlen=args.maxlen)
    async with Channel[Any](args.channel, backend=backend) as channel:

        async def chunks(task: int, quota: Quota) -> None:
            publisher, sequencer = Publisher(channel), Sequencer(task)
            while size := quota.claim(CHUNK):
                items = []
                for number in range(size):
                    topic = TOPICS[number % 2]
                    items.append((sequencer.next(topic), topic, None))
                raise_first(await publisher.publish_batch(items))

        quota = Quota(Budget(args.seconds, args.messages))
        started = time.time()
        async with anyio.create_task_group() as tasks:
            for task in range(args.tasks):
                tasks.start_soon(chunks, task, quota)
        finished = time.time()
        await channel.publish({"end": quota.sent}, topic=END_TOPIC)
    return {"published": quota.sent, "started": started, "finished": finished}


async def subscribe(args: argparse.Namespace) -> dict[str, Any]:
    """Receive and check until the end message; report when it started and last received."""
    mode = "draining a backlog" if args.since is not None else "live"
    arrivals = Arrivals(f"mtbus subscriber process ({mode})", clock=time.time)
    backend = RedisBackend(args.url, maxlen=args.maxlen)
    stalled = False
    total = -1
    with unwrapped():
        async with Channel[Any](args.channel, backend=backend) as channel:
            started = time.time()
            subscriber = await channel.subscribe(PATTERN, since=args.since)
            if args.since is None:
                say({"ready": True})

            async def watchdog(scope: anyio.CancelScope) -> None:
                nonlocal stalled
                seen = -1
                while seen != arrivals.count:
                    seen = arrivals.count
                    await anyio.sleep(IDLE_SECONDS)
                stalled = True
                scope.cancel()

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(watchdog, tasks.cancel_scope)
                receive, add = subscriber.receive, arrivals.add
                while True:
                    message = await receive()
                    if message.topic == END_TOPIC:
                        total = message.data["end"]
                        break
                    add(message.topic, message.data)
                tasks.cancel_scope.cancel()
    if stalled:
        raise CorrectnessError(
            f"{arrivals.who}: nothing arrived for {IDLE_SECONDS:.0f} s after "
            f"{arrivals.count} messages, and no end message: the rest was lost"
        )
    arrivals.verify(total)
    return {"received": arrivals.count, "started": started, "last": arrivals.last}


def main(argv: list[str] | None = None) -> int:
    """Play one role; 0 if it went right, 2 if a check failed (reported as JSON)."""
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    role = publish if args.role == "publish" else subscribe
    try:
        report = run_on(args.backend, partial(role, args))
    except CorrectnessError as error:
        say({"error": str(error)})
        return 2
    say(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
