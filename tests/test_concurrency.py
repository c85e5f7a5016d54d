"""EventEmitter: concurrent dispatch per priority level, and wait_for."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from mtbus import Event, EventEmitter, EventHandlerError, EventPriority

pytestmark = pytest.mark.anyio


def rendezvous(name: str, mine: anyio.Event, other: anyio.Event, trail: list[str]) -> Any:
    """A handler that can only finish once its partner handler has started."""

    async def handler(event: Event[Any]) -> None:
        mine.set()
        await other.wait()
        trail.append(name)

    return handler


@pytest.mark.parametrize("per_emit", [False, True], ids=["emitter", "per-emit"])
async def test_handlers_of_one_level_run_together(per_emit: bool) -> None:
    emitter = EventEmitter(concurrent=not per_emit)
    trail: list[str] = []
    a_started, b_started = anyio.Event(), anyio.Event()
    emitter.on("x", rendezvous("a", a_started, b_started, trail))
    emitter.on("x", rendezvous("b", b_started, a_started, trail))
    emitter.on("x", lambda e: trail.append("lower level"), priority=EventPriority.LOW)
    emitter.on("x", lambda e: trail.append("monitor"), priority=EventPriority.MONITOR)

    with anyio.fail_after(5):
        await emitter.emit("x", concurrent=True if per_emit else None)

    assert sorted(trail[:2]) == ["a", "b"]
    assert trail[2:] == ["lower level", "monitor"]


async def test_levels_run_in_priority_order_under_concurrent_dispatch() -> None:
    emitter = EventEmitter(concurrent=True)
    trail: list[str] = []

    def record(label: str) -> Any:
        async def handler(event: Event[Any]) -> None:
            await anyio.lowlevel.checkpoint()
            trail.append(label)

        return handler

    for label, priority in [("low", -5), ("high", 5), ("normal", 0), ("high2", 5)]:
        emitter.on("x", record(label), priority=priority)
    await emitter.emit("x")
    assert sorted(trail[:2]) == ["high", "high2"]
    assert trail[2:] == ["normal", "low"]


async def test_stopping_propagation_in_a_concurrent_level_skips_lower_levels_only() -> None:
    emitter = EventEmitter(concurrent=True)
    trail: list[str] = []

    @emitter.on("x")
    def stopper(event: Event[Any]) -> None:
        trail.append("stopper")
        event.propagate = False

    @emitter.on("x")
    async def sibling(event: Event[Any]) -> None:
        await anyio.lowlevel.checkpoint()
        trail.append("sibling")

    emitter.on("x", lambda e: trail.append("lower"), priority=EventPriority.LOW)
    emitter.on("x", lambda e: trail.append("monitor"), priority=EventPriority.MONITOR)
    event = await emitter.emit("x")
    assert trail == ["stopper", "sibling", "monitor"]
    assert event.propagate is False


async def test_concurrent_strict_emit_collects_errors_from_every_task() -> None:
    emitter = EventEmitter(concurrent=True, strict=True)
    ran: list[str] = []

    async def fails(event: Event[Any]) -> None:
        await anyio.lowlevel.checkpoint()
        raise ValueError("in task")

    def fails_sync(event: Event[Any]) -> None:
        raise KeyError("sync")

    emitter.on("x", fails)
    emitter.on("x", fails_sync)
    emitter.on("x", lambda e: ran.append("ok"))
    emitter.on("x", lambda e: ran.append("lower"), priority=EventPriority.LOW)
    with pytest.raises(EventHandlerError) as caught:
        await emitter.emit("x")
    assert sorted(type(error).__name__ for error in caught.value.errors) == [
        "KeyError",
        "ValueError",
    ]
    assert ran == ["ok", "lower"]


async def test_concurrent_emit_without_strict_isolates_failures() -> None:
    emitter = EventEmitter(concurrent=True)
    errors: list[str] = []
    emitter.add_hook("on_error", lambda event, error, handler: errors.append(str(error)))

    def fails(event: Event[Any]) -> None:
        raise RuntimeError("task failed")

    emitter.on("x", fails)
    emitter.on("x", fails)
    event = await emitter.emit("x", 1)
    assert event.data == 1
    assert errors == ["task failed", "task failed"]


async def test_hooks_run_before_and_after_all_levels_under_concurrent_dispatch() -> None:
    emitter = EventEmitter(concurrent=True)
    trail: list[str] = []
    emitter.add_hook("before_emit", lambda e: trail.append("before"))
    emitter.add_hook("after_emit", lambda e: trail.append("after"))
    emitter.on("x", lambda e: trail.append("handler"))
    emitter.on("x", lambda e: trail.append("monitor"), priority=EventPriority.MONITOR)
    await emitter.emit("x")
    assert trail == ["before", "handler", "monitor", "after"]


# -- wait_for ----------------------------------------------------------------------------


async def test_wait_for_returns_the_next_matching_event() -> None:
    emitter = EventEmitter()
    received: list[Event[Any]] = []

    async def waiter() -> None:
        received.append(await emitter.wait_for("job.*", timeout=5))

    async with anyio.create_task_group() as group:
        group.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        assert emitter.listener_count("job.*") == 1
        await emitter.emit("other")
        await emitter.emit("job.done", 42)
    assert [(event.name, event.data) for event in received] == [("job.done", 42)]
    assert emitter.listener_count() == 0


async def test_wait_for_with_check_skips_events_until_one_passes() -> None:
    emitter = EventEmitter()
    result: list[int] = []

    async def waiter() -> None:
        event = await emitter.wait_for("n", check=lambda e: e.data % 2 == 0)
        result.append(event.data)

    async with anyio.create_task_group() as group:
        group.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        for value in [1, 3, 4, 6]:
            await emitter.emit("n", value)
    assert result == [4]


async def test_wait_for_sees_events_whose_propagation_was_stopped() -> None:
    emitter = EventEmitter()

    @emitter.on("x", priority=EventPriority.HIGHEST)
    def stop(event: Event[Any]) -> None:
        event.propagate = False

    async with anyio.create_task_group() as group:

        async def waiter() -> None:
            event = await emitter.wait_for("x")
            assert event.propagate is False

        group.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        await emitter.emit("x")


async def test_wait_for_timeout_raises_and_leaves_no_listener() -> None:
    emitter = EventEmitter()
    with pytest.raises(TimeoutError):
        await emitter.wait_for("never", timeout=0)
    assert emitter.listener_count() == 0
    assert emitter.event_names() == []


async def test_cancelled_wait_for_leaves_no_listener() -> None:
    emitter = EventEmitter()
    async with anyio.create_task_group() as group:
        group.start_soon(emitter.wait_for, "x")
        await anyio.wait_all_tasks_blocked()
        assert emitter.listener_count("x") == 1
        group.cancel_scope.cancel()
    assert emitter.listener_count() == 0


async def test_wait_for_raises_what_check_raised() -> None:
    emitter = EventEmitter()

    def check(event: Event[Any]) -> bool:
        raise LookupError(f"cannot check {event.data}")

    async with anyio.create_task_group() as group:

        async def waiter() -> None:
            with pytest.raises(LookupError, match="cannot check 7"):
                await emitter.wait_for("x", check=check)

        group.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        await emitter.emit("x", 7)
    assert emitter.listener_count() == 0


async def test_wait_for_awaits_an_async_check() -> None:
    emitter = EventEmitter()
    checked: list[int] = []

    async def is_even(event: Event[Any]) -> bool:
        await anyio.lowlevel.checkpoint()
        checked.append(event.data)
        return bool(event.data % 2 == 0)

    result: list[Event[Any]] = []

    async def waiter() -> None:
        result.append(await emitter.wait_for("n", timeout=5, check=is_even))

    async with anyio.create_task_group() as group:
        group.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        for value in [1, 3, 4, 6]:
            await emitter.emit("n", value)
    assert [event.data for event in result] == [4]
    assert checked == [1, 3, 4]
    assert emitter.listener_count() == 0


async def test_wait_for_raises_what_an_async_check_raised() -> None:
    emitter = EventEmitter()

    async def check(event: Event[Any]) -> bool:
        await anyio.lowlevel.checkpoint()
        raise LookupError(f"cannot check {event.data}")

    async with anyio.create_task_group() as group:

        async def waiter() -> None:
            with pytest.raises(LookupError, match="cannot check 7"):
                await emitter.wait_for("x", check=check)

        group.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        await emitter.emit("x", 7)
    assert emitter.listener_count() == 0
