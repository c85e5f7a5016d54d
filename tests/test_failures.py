"""EventEmitter: failure isolation, strict mode, hooks, and cancellation."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest

from mtbus import Event, EventEmitter, EventHandlerError, EventPriority, MtbusError

pytestmark = pytest.mark.anyio


def failing(message: str) -> Any:
    def handler(event: Event[Any]) -> None:
        raise ValueError(message)

    return handler


async def test_a_raising_handler_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emitter = EventEmitter()
    ran: list[str] = []

    @emitter.on("employee.created", priority=EventPriority.HIGH)
    async def flaky(event: Event[Any]) -> None:
        raise RuntimeError("oops")

    @emitter.on("employee.created")
    async def welcome(event: Event[Any]) -> None:
        ran.append("welcome")

    with caplog.at_level(logging.ERROR, logger="mtbus"):
        event = await emitter.emit("employee.created", {"id": 1})

    assert ran == ["welcome"]
    assert event.name == "employee.created"
    [record] = caplog.records
    assert record.name == "mtbus"
    assert "flaky" in record.getMessage()
    assert "'employee.created'" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)


async def test_a_raising_condition_counts_as_a_failing_handler() -> None:
    emitter = EventEmitter(strict=True)
    ran: list[str] = []

    def broken_condition(event: Event[Any]) -> bool:
        raise KeyError("missing")

    emitter.on("x", lambda e: ran.append("guarded"), condition=broken_condition)
    emitter.on("x", lambda e: ran.append("plain"))
    with pytest.raises(EventHandlerError) as caught:
        await emitter.emit("x")
    assert ran == ["plain"]
    assert [type(error) for error in caught.value.errors] == [KeyError]


async def test_on_error_hooks_receive_event_error_and_original_handler() -> None:
    emitter = EventEmitter()
    reports: list[tuple[str, str, Any]] = []
    broken = failing("bad data")

    def sync_hook(event: Event[Any], error: Exception, handler: Any) -> None:
        reports.append(("sync", str(error), handler))

    async def async_hook(event: Event[Any], error: Exception, handler: Any) -> None:
        await anyio.lowlevel.checkpoint()
        reports.append((event.name, str(error), handler))

    emitter.add_hook("on_error", sync_hook)
    emitter.add_hook("on_error", async_hook)
    emitter.on("x", broken, to_thread=True)
    await emitter.emit("x")
    assert reports == [("sync", "bad data", broken), ("x", "bad data", broken)]


async def test_a_raising_on_error_hook_is_logged_and_the_emit_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emitter = EventEmitter()
    ran: list[str] = []

    def bad_hook(event: Event[Any], error: Exception, handler: Any) -> None:
        raise RuntimeError("hook broke")

    emitter.add_hook("on_error", bad_hook)
    emitter.on("x", failing("first"))
    emitter.on("x", lambda e: ran.append("second"))
    with caplog.at_level(logging.ERROR, logger="mtbus"):
        await emitter.emit("x")
    assert ran == ["second"]
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "bad_hook" in messages[1]


async def test_strict_mode_raises_every_error_after_all_handlers_ran() -> None:
    emitter = EventEmitter(strict=True)
    ran: list[str] = []
    emitter.on("x", failing("one"), priority=EventPriority.HIGH)
    emitter.on("x", lambda e: ran.append("middle"))
    emitter.on("x", failing("two"), priority=EventPriority.LOW)
    emitter.on("x", lambda e: ran.append("monitor"), priority=EventPriority.MONITOR)

    with pytest.raises(EventHandlerError, match=r"^2 handlers failed for event 'x': ") as caught:
        await emitter.emit("x", 5)

    assert ran == ["middle", "monitor"]
    assert [str(error) for error in caught.value.errors] == ["one", "two"]
    assert caught.value.event.data == 5
    assert isinstance(caught.value, MtbusError)


async def test_strict_can_be_chosen_per_emit() -> None:
    lenient, strict = EventEmitter(), EventEmitter(strict=True)
    for emitter in (lenient, strict):
        emitter.on("x", failing("boom"))

    with pytest.raises(EventHandlerError, match=r"^1 handler failed for event 'x': ValueError"):
        await lenient.emit("x", strict=True)
    event = await strict.emit("x", strict=False)
    assert event.name == "x"


async def test_strict_emit_without_failures_returns_the_event() -> None:
    emitter = EventEmitter(strict=True)
    emitter.on("x", lambda e: None)
    event = await emitter.emit("x", 1)
    assert event.data == 1


# -- hooks -------------------------------------------------------------------------------


async def test_before_and_after_emit_hooks_wrap_the_handlers() -> None:
    emitter = EventEmitter()
    trail: list[str] = []

    async def before(event: Event[Any]) -> None:
        await anyio.lowlevel.checkpoint()
        trail.append(f"before {event.name}")

    def after(event: Event[Any]) -> None:
        trail.append(f"after {event.name} propagate={event.propagate}")

    emitter.add_hook("before_emit", before)
    emitter.add_hook("after_emit", after)
    emitter.on("a.*", lambda e: trail.append("handler"))
    await emitter.emit("a.b")
    await emitter.emit("unheard")
    assert trail == [
        "before a.b",
        "handler",
        "after a.b propagate=True",
        "before unheard",
        "after unheard propagate=True",
    ]


async def test_before_emit_hook_can_veto_the_handlers_but_not_the_monitors() -> None:
    emitter = EventEmitter()
    trail: list[str] = []

    def veto(event: Event[Any]) -> None:
        event.propagate = event.data != "blocked"

    emitter.add_hook("before_emit", veto)
    emitter.add_hook("after_emit", lambda e: trail.append(f"after {e.data}"))
    emitter.on("x", lambda e: trail.append(f"handler {e.data}"))
    emitter.on("x", lambda e: trail.append(f"monitor {e.data}"), priority=EventPriority.MONITOR)
    await emitter.emit("x", "blocked")
    await emitter.emit("x", "allowed")
    assert trail == [
        "monitor blocked",
        "after blocked",
        "handler allowed",
        "monitor allowed",
        "after allowed",
    ]


async def test_a_raising_hook_is_isolated_and_counted_in_strict_mode() -> None:
    emitter = EventEmitter(strict=True)
    ran: list[str] = []
    emitter.add_hook("before_emit", failing("before"))
    emitter.add_hook("after_emit", failing("after"))
    emitter.on("x", lambda e: ran.append("handler"))
    with pytest.raises(EventHandlerError) as caught:
        await emitter.emit("x")
    assert ran == ["handler"]
    assert [str(error) for error in caught.value.errors] == ["before", "after"]


async def test_log_lines_name_hooks_as_hooks_and_objects_by_their_class(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emitter = EventEmitter()

    class Handler:
        def __call__(self, event: Event[Any]) -> None:
            raise RuntimeError("object failed")

    def before(event: Event[Any]) -> None:
        raise RuntimeError("hook failed")

    emitter.add_hook("before_emit", before)
    emitter.on("x", Handler())
    with caplog.at_level(logging.ERROR, logger="mtbus"):
        await emitter.emit("x")
    assert [record.getMessage() for record in caplog.records] == [
        f"before_emit hook {__name__}.{before.__qualname__} failed for event 'x'",
        f"handler {__name__}.{Handler.__qualname__} object failed for event 'x'",
    ]


async def test_removed_hooks_no_longer_run() -> None:
    emitter = EventEmitter()
    trail: list[str] = []

    def before(event: Event[Any]) -> None:
        trail.append("before")

    def after(event: Event[Any]) -> None:
        trail.append("after")

    def on_error(event: Event[Any], error: Exception, handler: Any) -> None:
        trail.append("on_error")

    emitter.add_hook("before_emit", before)
    emitter.add_hook("after_emit", after)
    emitter.add_hook("on_error", on_error)
    emitter.on("x", failing("x"))
    await emitter.emit("x")
    assert emitter.remove_hook("before_emit", before) is True
    assert emitter.remove_hook("after_emit", after) is True
    assert emitter.remove_hook("on_error", on_error) is True
    assert emitter.remove_hook("on_error", on_error) is False
    assert emitter.remove_hook("after_emit", before) is False
    await emitter.emit("x")
    assert trail == ["before", "on_error", "after"]


def test_unknown_hook_type_is_rejected() -> None:
    emitter = EventEmitter()
    with pytest.raises(ValueError, match=r"unknown hook type 'before': expected one of"):
        emitter.add_hook("before", print)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match=r"unknown hook type 'after_emitt'"):
        emitter.remove_hook("after_emitt", print)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"after_emit hook must be callable, not int: 3"):
        emitter.add_hook("after_emit", 3)  # type: ignore[call-overload]


# -- cancellation ------------------------------------------------------------------------


async def test_cancellation_inside_a_handler_is_never_swallowed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emitter = EventEmitter(strict=True)
    ran: list[str] = []

    with anyio.CancelScope() as scope:

        @emitter.on("x", priority=EventPriority.HIGH)
        async def cancels(event: Event[Any]) -> None:
            scope.cancel()
            await anyio.lowlevel.checkpoint()
            ran.append("after checkpoint")

        emitter.on("x", lambda e: ran.append("later handler"))
        emitter.on("x", lambda e: ran.append("monitor"), priority=EventPriority.MONITOR)
        await emitter.emit("x")
        ran.append("after emit")

    assert scope.cancelled_caught
    assert ran == []
    assert caplog.records == []


async def test_an_emit_blocked_in_a_handler_can_be_cancelled_from_outside() -> None:
    emitter = EventEmitter()
    entered = anyio.Event()

    @emitter.on("slow")
    async def slow(event: Event[Any]) -> None:
        entered.set()
        await anyio.sleep_forever()

    async with anyio.create_task_group() as group:
        group.start_soon(emitter.emit, "slow")
        await entered.wait()
        group.cancel_scope.cancel()
    assert emitter.listener_count("slow") == 1


async def test_concurrent_dispatch_propagates_cancellation() -> None:
    emitter = EventEmitter(concurrent=True)
    ran: list[str] = []
    with anyio.CancelScope() as scope:

        async def cancels(event: Event[Any]) -> None:
            scope.cancel()
            await anyio.sleep_forever()

        async def sibling(event: Event[Any]) -> None:
            await anyio.sleep_forever()

        emitter.on("x", cancels)
        emitter.on("x", sibling)
        emitter.on("x", lambda e: ran.append("lower"), priority=EventPriority.LOW)
        await emitter.emit("x")
    assert scope.cancelled_caught
    assert ran == []


async def test_failures_and_a_stop_midway_keep_order_and_strictness() -> None:
    # Plain handlers (no condition, no once) take emit's quick path; a failure or a stop
    # hands the rest over to the general one, which must pick up right after the handler.
    emitter = EventEmitter(strict=True)
    ran: list[str] = []
    calls = 0

    async def twice(event: Event[Any]) -> None:
        nonlocal calls
        calls += 1
        ran.append(f"twice{calls}")
        if calls == 1:
            raise ValueError("first call")

    def stopper(event: Event[Any]) -> None:
        ran.append("stopper")
        event.propagate = False
        raise KeyError("stopped")

    emitter.on("job", twice, priority=EventPriority.HIGH)
    emitter.on("job", twice, priority=EventPriority.HIGH)
    emitter.on("job", stopper)
    emitter.on("job", lambda event: ran.append("skipped"), priority=EventPriority.LOW)
    emitter.on("job", lambda event: ran.append("monitor"), priority=EventPriority.MONITOR)

    with pytest.raises(EventHandlerError) as caught:
        await emitter.emit("job")

    assert ran == ["twice1", "twice2", "stopper", "monitor"]
    assert [type(error) for error in caught.value.errors] == [ValueError, KeyError]
    assert caught.value.event.propagate is False
