"""Scenario 3: wildcard routing with one matching pattern and S non-matching ones.

The event name (or topic) is ``bench.tick``; the matching pattern is ``bench.*``; the S
others alternate between ``n{i}.*`` (another first segment) and ``bench.*.n{i}`` (same
prefix, one segment too many), so a router cannot dismiss them all by the first segment.
Every non-matching pattern carries a stray handler (or subscriber) that must never run.

Handlers are plain functions, so what is timed is routing, not awaiting. Of the peers only
pymitter routes wildcards (``*`` per segment, by ``fnmatch``); it walks its whole pattern
tree on every emit, so it runs ``10 * ops / S`` emits per trial (at least 20; ns/op divides
by its own count). The other peers match exact names only and sit this scenario out; so does every
peer for channels, as none of their channels have wildcard subscriptions.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from ._harness import Contender
from ._workloads import NAME, PAYLOAD, awaiting, calling

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from ._harness import Workload
    from ._profile import Profile
    from ._tally import Tally

MATCHING = "bench.*"


def non_matching(size: int) -> list[str]:
    """*size* patterns that do not match :data:`NAME`."""
    return [f"n{index}.*" if index % 2 else f"bench.*.n{index}" for index in range(size)]


def register(on: Callable[[str, Callable[..., Any]], object], tally: Tally, size: int) -> None:
    """Register a stray handler on each of the S non-matching patterns, then the counted one."""
    stray = tally.stray_handler()
    for pattern in non_matching(size):
        on(pattern, stray)
    on(MATCHING, tally.sync_handler())


@asynccontextmanager
async def baseline_lookup(tally: Tally, size: int) -> AsyncIterator[Workload]:
    """A dict lookup of the name, then ``handler(event)``: routing that ignores S."""
    stray = tally.stray_handler()
    routes = dict.fromkeys(non_matching(size), (stray,))
    routes[NAME] = (tally.sync_handler(),)

    async def workload(ops: int) -> None:
        for _ in range(ops):
            for handler in routes[NAME]:
                handler(PAYLOAD)

    yield workload


@asynccontextmanager
async def mtbus_emitter(tally: Tally, size: int) -> AsyncIterator[Workload]:
    """``await emitter.emit(name, data)`` with S stray patterns registered."""
    from mtbus import EventEmitter

    emitter = EventEmitter()
    register(emitter.on, tally, size)
    yield awaiting(emitter.emit)


@asynccontextmanager
async def pymitter_emitter(tally: Tally, size: int) -> AsyncIterator[Workload]:
    """pymitter with ``wildcard=True``: ``emitter.emit(name, data)`` calls plain handlers."""
    from pymitter import EventEmitter

    emitter = EventEmitter(wildcard=True)
    register(emitter.on, tally, size)
    yield calling(emitter.emit)


@asynccontextmanager
async def baseline_stream(tally: Tally, size: int) -> AsyncIterator[Workload]:
    """One anyio memory stream, ``send_nowait((topic, data))`` then ``receive_nowait()``."""
    del size  # a single queue: nothing to route
    record = tally.consumer()
    send, receive = anyio.create_memory_object_stream[tuple[str, int]](max_buffer_size=1)
    async with send, receive:

        async def workload(ops: int) -> None:
            item = (NAME, -1)
            for number in range(ops):
                send.send_nowait((NAME, number))
                item = receive.receive_nowait()
            record(item[1])

        yield workload


@asynccontextmanager
async def mtbus_channel(tally: Tally, size: int) -> AsyncIterator[Workload]:
    """``await channel.publish(data, topic)`` then ``receive_nowait()``, S stray subscribers."""
    from mtbus import Channel

    record = tally.consumer()
    async with Channel[int]("bench") as channel:
        strays = [await channel.subscribe(pattern) for pattern in non_matching(size)]
        tally.watch_strays(lambda: sum(stray.statistics().pending for stray in strays))
        subscriber = await channel.subscribe(MATCHING)
        publish, receive = channel.publish, subscriber.receive_nowait

        async def workload(ops: int) -> None:
            data = -1
            for number in range(ops):
                await publish(number, NAME)
                data = receive().data
            record(data)

        yield workload


def case_name(size: int) -> str:
    """``S=10,000`` and the like."""
    return f"S={size:,}"


def contenders(profile: Profile) -> list[Contender]:
    """The contenders of ``routing-emitter`` and ``routing-channel``, for every S."""
    ops = profile.emit_ops
    found: list[Contender] = []
    for size in profile.routing_sizes:
        case = case_name(size)
        found += [
            Contender(
                "routing-emitter",
                case,
                "baseline: dict lookup, handler(event)",
                partial(baseline_lookup, size=size),
                ops,
                baseline=True,
            ),
            Contender("routing-emitter", case, "mtbus", partial(mtbus_emitter, size=size), ops),
            Contender(
                "routing-emitter",
                case,
                "pymitter",
                partial(pymitter_emitter, size=size),
                max(20, ops * 10 // size),
                requires="pymitter",
            ),
        ]
    for size in profile.routing_sizes:
        case = case_name(size)
        found += [
            Contender(
                "routing-channel",
                case,
                "baseline: anyio memory stream",
                partial(baseline_stream, size=size),
                ops,
                baseline=True,
            ),
            Contender("routing-channel", case, "mtbus", partial(mtbus_channel, size=size), ops),
        ]
    return found
