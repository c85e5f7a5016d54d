"""The anyio contract of emits: loops of them can be cancelled and let other tasks run, a
handler's BaseException leaves as itself, and a cancelled emit uses up no once-handler that
did not run."""

from __future__ import annotations

import itertools
import random
import threading
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

from mtbus import Event, EventEmitter

# The interval is a tuning constant, not state: the tests hold for whatever it is.
from mtbus._core._pacing import CHECKPOINT_INTERVAL

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

pytestmark = pytest.mark.anyio

N = CHECKPOINT_INTERVAL


def test_the_interval_is_small_enough_to_matter() -> None:
    assert 1 < N <= 256


# -- loops of emits notice cancellation and let other tasks run --------------------------


def plain(calls: list[int]) -> Callable[[Event[Any]], None]:
    return lambda event: calls.append(1)


def async_not_yielding(calls: list[int]) -> Callable[[Event[Any]], Awaitable[None]]:
    async def handler(event: Event[Any]) -> None:
        calls.append(1)

    return handler


@pytest.mark.parametrize("make_handler", [plain, async_not_yielding])
@pytest.mark.parametrize("concurrent", [False, True], ids=["sequential", "concurrent"])
async def test_an_emit_loop_in_a_cancelled_scope_stops_within_the_interval(
    make_handler: Callable[[list[int]], Callable[[Event[Any]], Any]], concurrent: bool
) -> None:
    emitter = EventEmitter(concurrent=concurrent)
    calls: list[int] = []
    emitter.on("x", make_handler(calls))
    await emitter.emit("x")  # the countdown is now part-way: the bound still holds
    emits = 0
    with anyio.CancelScope() as scope:
        scope.cancel()
        for _ in range(10 * N):
            await emitter.emit("x")
            emits += 1
    assert scope.cancelled_caught
    assert emits < N
    assert len(calls) == 1 + emits  # the emit that noticed ran no handler


async def test_emits_of_names_nobody_listens_to_notice_cancellation_too() -> None:
    emitter = EventEmitter()
    emits = 0
    with anyio.CancelScope() as scope:
        scope.cancel()
        for index in range(10 * N):
            await emitter.emit(f"name.{index % 7}")
            emits += 1
    assert scope.cancelled_caught
    assert emits < N


async def test_emits_held_back_by_a_suppression_notice_cancellation() -> None:
    emitter = EventEmitter()
    async with emitter.suppress_events() as suppressed:
        with anyio.CancelScope() as scope:
            scope.cancel()
            for _ in range(10 * N):
                await emitter.emit("x")
    assert scope.cancelled_caught
    assert len(suppressed) < N


async def test_a_long_replay_notices_cancellation() -> None:
    emitter = EventEmitter()
    calls: list[int] = []
    emitter.on("x", plain(calls))
    with anyio.CancelScope() as scope:
        scope.cancel()
        await emitter.replay_events([Event("x") for _ in range(10 * N)])
    assert scope.cancelled_caught
    assert len(calls) < N


async def test_a_long_batch_commit_notices_cancellation_and_lists_the_rest() -> None:
    emitter = EventEmitter()
    calls: list[int] = []
    emitter.on("x", plain(calls))
    with anyio.CancelScope() as scope:
        async with emitter.batch() as batch:
            for _ in range(10 * N):
                await emitter.emit("x")
            scope.cancel()
    assert scope.cancelled_caught
    assert len(calls) < N
    assert len(calls) + len(batch.discarded) == 10 * N


def turn_bound(anyio_backend: str) -> int:
    """How many emits a loop makes at most before another runnable task runs: one interval
    on asyncio (FIFO); on trio, which may run a task's batch before or after the others',
    twice that."""
    return N if anyio_backend == "asyncio" else 2 * N


@pytest.mark.parametrize("make_handler", [plain, async_not_yielding])
async def test_another_task_runs_within_the_interval_of_an_emit_loop(
    make_handler: Callable[[list[int]], Callable[[Event[Any]], Any]], anyio_backend: str
) -> None:
    emitter = EventEmitter()
    calls: list[int] = []
    emitter.on("x", make_handler(calls))
    seen_at: list[int] = []

    async def other() -> None:
        seen_at.append(len(calls))

    async with anyio.create_task_group() as group:
        group.start_soon(other)
        for _ in range(3 * N):
            await emitter.emit("x")
    assert seen_at
    assert seen_at[0] < turn_bound(anyio_backend)


async def test_two_tasks_emitting_in_loops_take_turns(anyio_backend: str) -> None:
    emitter = EventEmitter()
    trail: list[str] = []
    emitter.on("#", lambda event: trail.append(event.name))
    async with anyio.create_task_group() as group:
        for name in ("a", "b"):
            group.start_soon(_emit_many, emitter, name, 4 * N)
    runs = [len(list(run)) for _, run in itertools.groupby(trail)]
    assert len(runs) > 4
    assert max(runs) <= turn_bound(anyio_backend)


async def _emit_many(emitter: EventEmitter, name: str, count: int) -> None:
    for _ in range(count):
        await emitter.emit(name)


# -- BaseException stays itself ------------------------------------------------------------


class Abort(BaseException):
    """A BaseException of the application's own, not an Exception."""


def raising(error: BaseException) -> Callable[[Event[Any]], None]:
    def handler(event: Event[Any]) -> None:
        raise error

    return handler


@pytest.mark.parametrize(
    "error", [Abort("stop"), SystemExit(3), KeyboardInterrupt()], ids=lambda e: type(e).__name__
)
@pytest.mark.parametrize("concurrent", [False, True], ids=["sequential", "concurrent"])
async def test_a_handlers_base_exception_leaves_emit_as_itself(
    error: BaseException, concurrent: bool
) -> None:
    emitter = EventEmitter(concurrent=concurrent)
    reports: list[object] = []
    emitter.add_hook("on_error", lambda event, error, handler: reports.append(error))
    trail: list[str] = []

    async def sibling(event: Event[Any]) -> None:
        trail.append("sibling")
        await anyio.lowlevel.checkpoint()

    emitter.on("x", sibling)
    emitter.on("x", raising(error))
    emitter.on("x", sibling)
    emitter.on("x", lambda event: trail.append("lower"), priority=-1)
    with anyio.fail_after(5), pytest.raises(type(error)) as caught:
        await emitter.emit("x")
    assert caught.value is error
    assert caught.value.__context__ is None
    assert reports == []  # not a handler failure: never isolated
    assert "lower" not in trail
    # The emitter still works afterwards.
    trail.clear()
    emitter.remove_all_listeners()
    emitter.on("x", sibling)
    emitter.on("x", sibling)
    await emitter.emit("x")
    assert trail == ["sibling", "sibling"]


async def test_a_base_exception_in_a_concurrent_level_cancels_its_siblings() -> None:
    emitter = EventEmitter(concurrent=True)
    cancelled: list[str] = []

    async def sibling(event: Event[Any]) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.append("sibling")

    async def raiser(event: Event[Any]) -> None:
        await anyio.wait_all_tasks_blocked()
        raise Abort("stop")

    emitter.on("x", sibling)
    emitter.on("x", raiser)
    with anyio.fail_after(5), pytest.raises(Abort, match="stop"):
        await emitter.emit("x")
    assert cancelled == ["sibling"]


async def test_cancelling_a_concurrent_emit_from_outside_still_cancels() -> None:
    emitter = EventEmitter(concurrent=True)
    started = anyio.Event()

    async def waits(event: Event[Any]) -> None:
        started.set()
        await anyio.sleep_forever()

    emitter.on("x", waits)
    emitter.on("x", waits)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(emitter.emit, "x")
            await started.wait()
            group.cancel_scope.cancel()


# -- once-handlers run in worker threads ---------------------------------------------------


async def test_a_once_thread_handler_waiting_for_a_thread_survives_a_cancelled_emit() -> None:
    emitter = EventEmitter()
    ran: list[int] = []

    def handler(event: Event[Any]) -> None:
        ran.append(threading.get_ident())

    def before(event: Event[Any]) -> None:
        ran.append(0)

    emitter.once("x", before, to_thread=True)
    emitter.once("x", handler, to_thread=True)
    emitter.on("x", lambda event: None)
    limiter = anyio.to_thread.current_default_thread_limiter()
    borrowers = [object() for _ in range(int(limiter.total_tokens))]
    for borrower in borrowers:
        await limiter.acquire_on_behalf_of(borrower)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(emitter.emit, "x")
            await anyio.wait_all_tasks_blocked()  # waiting for a worker thread
            group.cancel_scope.cancel()
    finally:
        for borrower in borrowers:
            limiter.release_on_behalf_of(borrower)
    assert ran == []
    assert emitter.listeners("x")[:2] == [before, handler]  # still there, in their place
    await emitter.emit("x")
    await emitter.emit("x")
    assert ran[0] == 0
    assert ran[1] != threading.get_ident()
    assert len(ran) == 2
    assert emitter.listener_count("x") == 1


async def test_a_once_thread_handler_runs_once_under_concurrent_emits() -> None:
    emitter = EventEmitter()
    ran: list[int] = []
    release = threading.Event()

    def handler(event: Event[Any]) -> None:
        release.wait(5)
        ran.append(event.data)

    emitter.once("x", handler, to_thread=True)
    async with anyio.create_task_group() as group:
        group.start_soon(emitter.emit, "x", 1)
        await anyio.wait_all_tasks_blocked()
        for data in (2, 3):
            await emitter.emit("x", data)  # it is taken: these do not run it
        release.set()
    assert ran == [1]
    assert emitter.listener_count() == 0


async def test_once_thread_handlers_are_used_up_only_when_they_ran() -> None:
    emitter = EventEmitter()
    runs: dict[int, int] = {}
    lock = threading.Lock()
    handlers = []
    for index in range(40):

        def handler(event: Event[Any], index: int = index) -> None:
            with lock:
                runs[index] = runs.get(index, 0) + 1

        handlers.append(handler)
        emitter.once("x", handler, to_thread=True)

    chance = random.Random(20240501)
    for _ in range(150):
        checkpoints = chance.randrange(12)
        async with anyio.create_task_group() as group:
            group.start_soon(emitter.emit, "x")
            for _ in range(checkpoints):
                await anyio.lowlevel.checkpoint()
            group.cancel_scope.cancel()
        registered = emitter.listeners("x")
        for index, handler in enumerate(handlers):
            assert runs.get(index, 0) == (0 if handler in registered else 1)
        if not registered:
            break
    while emitter.listener_count("x"):
        await emitter.emit("x")
    assert runs == dict.fromkeys(range(40), 1)
