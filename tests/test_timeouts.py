"""EventEmitter: a handler's ``timeout=`` cancels it, fails it with TimeoutError, and lets
the others run: for async handlers, handlers in worker threads, and concurrent dispatch."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest

from mtbus import Event, EventEmitter, EventHandlerError, EventPriority

pytestmark = pytest.mark.anyio

#: Long enough that a handler that should finish in time does, short enough to keep the
#: suite quick: the hung handlers below would otherwise wait forever.
SHORT = 0.05


async def hang(event: Event[Any]) -> None:
    await anyio.sleep_forever()


async def test_a_hung_handler_is_cancelled_and_reported_and_the_rest_still_run() -> None:
    emitter = EventEmitter()
    reported: list[tuple[Exception, Any]] = []
    emitter.add_hook("on_error", lambda event, error, handler: reported.append((error, handler)))
    ran: list[str] = []
    cancelled = anyio.Event()

    async def hung(event: Event[Any]) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()

    emitter.on("x", hung, timeout=SHORT, priority=EventPriority.HIGH)
    emitter.on("x", lambda event: ran.append("next"))

    with anyio.fail_after(5):
        event = await emitter.emit("x")

    assert cancelled.is_set()
    assert ran == ["next"]
    [(error, handler)] = reported
    assert handler is hung
    assert isinstance(error, TimeoutError)
    assert str(error) == f"{hung.__module__}.{hung.__qualname__} ran past its timeout of 0.05 s"
    assert [failure.error for failure in event.failures] == [error]


async def test_a_strict_emit_raises_the_timeout_after_every_handler_ran() -> None:
    emitter = EventEmitter(strict=True)
    ran: list[str] = []
    emitter.on("x", hang, timeout=SHORT)
    emitter.on("x", lambda event: ran.append("after"), priority=EventPriority.LOW)

    with anyio.fail_after(5), pytest.raises(EventHandlerError) as caught:
        await emitter.emit("x")

    assert ran == ["after"]
    [error] = caught.value.errors
    assert isinstance(error, TimeoutError)


async def test_a_handler_that_finishes_in_time_returns_its_value() -> None:
    emitter = EventEmitter()

    async def quick(event: Event[int]) -> int:
        await anyio.lowlevel.checkpoint()
        return event.data + 1

    emitter.on("x", quick, timeout=60)
    emitter.on("y", quick, timeout=float("inf"))

    assert (await emitter.collect("x", 1)).values == [2]
    assert (await emitter.collect("y", 2)).values == [3]
    assert (await emitter.emit("x", 1)).failures == ()


async def test_a_handler_in_a_worker_thread_is_abandoned_at_its_timeout() -> None:
    emitter = EventEmitter()
    release = threading.Event()
    finished = threading.Event()

    def blocked(event: Event[Any]) -> str:
        release.wait(10)
        finished.set()
        return "late"

    emitter.on("x", blocked, to_thread=True, timeout=SHORT)
    emitter.on("x", lambda event: "next", priority=EventPriority.LOW)

    with anyio.fail_after(5):
        results = await emitter.collect("x")

    assert not finished.is_set()  # the emit did not wait for the thread
    assert [type(result.error) for result in results] == [TimeoutError, type(None)]
    assert results.values == ["next"]
    release.set()
    await anyio.to_thread.run_sync(finished.wait, 10)


async def test_timeouts_apply_to_each_handler_under_concurrent_dispatch() -> None:
    emitter = EventEmitter(concurrent=True)
    started = anyio.Event()

    async def patient(event: Event[Any]) -> str:
        # Outlives its hung neighbour's timeout: only that one is cancelled.
        await started.wait()
        await anyio.sleep(SHORT * 2)
        return "patient"

    async def hung(event: Event[Any]) -> None:
        started.set()
        await anyio.sleep_forever()

    emitter.on("x", hung, timeout=SHORT)
    emitter.on("x", patient, timeout=60)

    with anyio.fail_after(5):
        results = await emitter.collect("x")

    assert results.values == ["patient"]
    [failure] = results.failed
    assert failure.handler is hung
    assert isinstance(failure.error, TimeoutError)


async def test_an_outer_cancellation_is_not_reported_as_a_timeout() -> None:
    emitter = EventEmitter()
    reported: list[Exception] = []
    emitter.add_hook("on_error", lambda event, error, handler: reported.append(error))
    emitter.on("x", hang, timeout=60)

    with anyio.move_on_after(SHORT) as scope:
        await emitter.emit("x")

    assert scope.cancelled_caught
    assert reported == []


async def test_a_once_handler_in_a_thread_that_timed_out_before_starting_runs_next_time() -> None:
    emitter = EventEmitter()
    ran: list[int] = []
    emitter.once("x", lambda event: ran.append(event.data), to_thread=True, timeout=SHORT)
    limiter = anyio.to_thread.current_default_thread_limiter()
    done = anyio.Event()

    async def hold_the_only_thread() -> None:
        async with limiter:
            await done.wait()

    previous = limiter.total_tokens
    limiter.total_tokens = 1
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(hold_the_only_thread)
            await anyio.wait_all_tasks_blocked()
            with anyio.fail_after(5):
                event = await emitter.emit("x", 1)  # its thread cannot start
            done.set()
    finally:
        limiter.total_tokens = previous

    assert isinstance(event.failures[0].error, TimeoutError)
    assert ran == []
    assert emitter.listener_count("x") == 1  # given back: it never ran
    await emitter.emit("x", 2)
    assert ran == [2]
    assert emitter.listener_count("x") == 0
