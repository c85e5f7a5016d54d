"""Scenarios 1 and 2: one emit reaching 1 or 10 ``async def`` handlers, or 1 plain handler.

Every library dispatches one event name to counting no-op handlers, the way its users would
call it: mtbus, mtaio and pymitter ``await`` their emit, blinker ``send_async``/``send``,
aiosignal ``send``. pyee starts coroutine handlers as tasks and returns at once, so its
emit is followed by checkpoints until its handlers have run: "awaited to completion" holds
for everyone. Libraries without plain-function handlers (aiosignal, mtaio) sit out
``emit-sync``.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING

from anyio.lowlevel import checkpoint

from ._backends import ANY_BACKEND, ASYNCIO_ONLY
from ._harness import Contender
from ._workloads import NAME, PAYLOAD, awaiting, calling

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from contextlib import AbstractAsyncContextManager

    from ._harness import Workload
    from ._profile import Profile
    from ._tally import Tally

    #: A setup that still needs its handler count.
    EmitSetup = Callable[..., AbstractAsyncContextManager[Workload]]


@asynccontextmanager
async def baseline_async(tally: Tally, handlers: int) -> AsyncIterator[Workload]:
    """``await handler(event)`` for each handler: what dispatch costs with no library."""
    callees = tuple(tally.async_handler() for _ in range(handlers))

    async def workload(ops: int) -> None:
        for _ in range(ops):
            for handler in callees:
                await handler(PAYLOAD)

    yield workload


@asynccontextmanager
async def baseline_sync(tally: Tally, handlers: int) -> AsyncIterator[Workload]:
    """``handler(event)`` for each handler."""
    callees = tuple(tally.sync_handler() for _ in range(handlers))

    async def workload(ops: int) -> None:
        for _ in range(ops):
            for handler in callees:
                handler(PAYLOAD)

    yield workload


@asynccontextmanager
async def mtbus_emit(tally: Tally, handlers: int, sync: bool) -> AsyncIterator[Workload]:
    """``await emitter.emit(name, data)`` on an mtbus EventEmitter."""
    from mtbus import EventEmitter

    emitter = EventEmitter()
    for _ in range(handlers):
        emitter.on(NAME, tally.sync_handler() if sync else tally.async_handler())
    yield awaiting(emitter.emit)


def wait_for_tasks(emit: Callable[[str, object], object], tally: Tally, handlers: int) -> Workload:
    """Emit through a fire-and-forget *emit*, then yield until its handler tasks have run."""
    calls = tally.calls

    async def workload(ops: int) -> None:
        expected = calls()
        for _ in range(ops):
            emit(NAME, PAYLOAD)
            expected += handlers
            while calls() < expected:
                await checkpoint()

    return workload


@asynccontextmanager
async def pyee_asyncio(tally: Tally, handlers: int) -> AsyncIterator[Workload]:
    """pyee's ``AsyncIOEventEmitter``: coroutine handlers become asyncio tasks."""
    from pyee.asyncio import AsyncIOEventEmitter

    emitter = AsyncIOEventEmitter()
    for _ in range(handlers):
        emitter.add_listener(NAME, tally.async_handler())
    yield wait_for_tasks(emitter.emit, tally, handlers)


@asynccontextmanager
async def pyee_trio(tally: Tally, handlers: int) -> AsyncIterator[Workload]:
    """pyee's ``TrioEventEmitter``: coroutine handlers become tasks of its nursery."""
    from pyee.trio import TrioEventEmitter

    async with TrioEventEmitter() as emitter:
        for _ in range(handlers):
            emitter.add_listener(NAME, tally.async_handler())
        yield wait_for_tasks(emitter.emit, tally, handlers)


@asynccontextmanager
async def pyee_sync(tally: Tally, handlers: int) -> AsyncIterator[Workload]:
    """pyee's base ``EventEmitter``, which calls plain handlers inline."""
    from pyee import EventEmitter

    emitter = EventEmitter()
    for _ in range(handlers):
        emitter.add_listener(NAME, tally.sync_handler())
    yield calling(emitter.emit)


@asynccontextmanager
async def blinker_async(tally: Tally, handlers: int) -> AsyncIterator[Workload]:
    """blinker: ``await signal.send_async(sender)``; the sender is the payload."""
    from blinker import Signal

    signal = Signal()
    for _ in range(handlers):
        signal.connect(tally.async_handler(), weak=False)
    send = signal.send_async

    async def workload(ops: int) -> None:
        for _ in range(ops):
            await send(PAYLOAD)

    yield workload


@asynccontextmanager
async def blinker_sync(tally: Tally, handlers: int) -> AsyncIterator[Workload]:
    """blinker: ``signal.send(sender)``."""
    from blinker import Signal

    signal = Signal()
    for _ in range(handlers):
        signal.connect(tally.sync_handler(), weak=False)
    send = signal.send

    async def workload(ops: int) -> None:
        for _ in range(ops):
            send(PAYLOAD)

    yield workload


@asynccontextmanager
async def pymitter_async(tally: Tally, handlers: int) -> AsyncIterator[Workload]:
    """pymitter: ``await emitter.emit_async(name, data)`` (gathers with asyncio)."""
    from pymitter import EventEmitter

    emitter = EventEmitter()
    for _ in range(handlers):
        emitter.on(NAME, tally.async_handler())
    yield awaiting(emitter.emit_async)


@asynccontextmanager
async def pymitter_sync(tally: Tally, handlers: int) -> AsyncIterator[Workload]:
    """pymitter: ``emitter.emit(name, data)``, which calls plain handlers inline."""
    from pymitter import EventEmitter

    emitter = EventEmitter()
    for _ in range(handlers):
        emitter.on(NAME, tally.sync_handler())
    yield calling(emitter.emit)


@asynccontextmanager
async def aiosignal_async(tally: Tally, handlers: int) -> AsyncIterator[Workload]:
    """aiosignal: a frozen ``Signal`` and ``await signal.send(data)``."""
    from aiosignal import Signal

    signal: Signal[object] = Signal(owner=None)
    for _ in range(handlers):
        signal.append(tally.async_handler())
    signal.freeze()
    send = signal.send

    async def workload(ops: int) -> None:
        for _ in range(ops):
            await send(PAYLOAD)

    yield workload


@asynccontextmanager
async def mtaio_async(tally: Tally, handlers: int) -> AsyncIterator[Workload]:
    """mtaio 0.1 (the reference system): ``await emitter.emit(name, data)``."""
    from mtaio.events import EventEmitter

    emitter = EventEmitter()
    for _ in range(handlers):
        emitter.add_listener(NAME, tally.async_handler())
    yield awaiting(emitter.emit)


#: Each peer's library name (also its module), setup and backends, per scenario.
ASYNC_PEERS: tuple[tuple[str, EmitSetup, frozenset[str]], ...] = (
    ("pyee", pyee_asyncio, ASYNCIO_ONLY),
    ("pyee", pyee_trio, frozenset({"trio"})),
    ("blinker", blinker_async, ANY_BACKEND),
    ("pymitter", pymitter_async, ASYNCIO_ONLY),
    ("aiosignal", aiosignal_async, ANY_BACKEND),
    ("mtaio", mtaio_async, ASYNCIO_ONLY),
)
SYNC_PEERS: tuple[tuple[str, EmitSetup, frozenset[str]], ...] = (
    ("pyee", pyee_sync, ANY_BACKEND),
    ("blinker", blinker_sync, ANY_BACKEND),
    ("pymitter", pymitter_sync, ANY_BACKEND),
)


def emit_case(
    scenario: str,
    handlers: int,
    ops: int,
    baseline: tuple[str, EmitSetup],
    peers: tuple[tuple[str, EmitSetup, frozenset[str]], ...],
) -> list[Contender]:
    """The baseline, mtbus and *peers*, each emitting to *handlers* handlers."""
    case = "1 handler" if handlers == 1 else f"{handlers} handlers"
    name, setup = baseline
    sync = scenario == "emit-sync"
    return [
        Contender(scenario, case, name, partial(setup, handlers=handlers), ops, baseline=True),
        Contender(scenario, case, "mtbus", partial(mtbus_emit, handlers=handlers, sync=sync), ops),
        *(
            Contender(
                scenario,
                case,
                library,
                partial(setup, handlers=handlers),
                ops,
                backends,
                requires=library,
            )
            for library, setup, backends in peers
        ),
    ]


def contenders(profile: Profile) -> list[Contender]:
    """The contenders of ``emit-async`` (1 and 10 handlers) and ``emit-sync`` (1 handler)."""
    ops = profile.emit_ops
    awaited = ("baseline: await handler(event)", baseline_async)
    called = ("baseline: handler(event)", baseline_sync)
    return [
        *emit_case("emit-async", 1, ops, awaited, ASYNC_PEERS),
        *emit_case("emit-async", 10, ops, awaited, ASYNC_PEERS),
        *emit_case("emit-sync", 1, ops, called, SYNC_PEERS),
    ]
