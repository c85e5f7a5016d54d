"""EventEmitter: what handlers return (``collect``), generator handlers, ``Event.failures``
for a lenient caller, and ``event_names(pattern)``."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from mtbus import (
    Event,
    EventEmitter,
    EventHandlerError,
    EventPriority,
    HandlerResult,
    HandlerResults,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

pytestmark = pytest.mark.anyio


def failing(message: str) -> Any:
    def fail(event: Event[Any]) -> None:
        raise ValueError(message)

    return fail


# -- collect ------------------------------------------------------------------------------


async def test_collect_returns_each_handler_with_its_value_in_the_order_they_ran() -> None:
    emitter = EventEmitter()

    async def price(event: Event[int]) -> int:
        return event.data * 10

    def tax(event: Event[int]) -> float:
        return event.data * 0.2

    def nothing(event: Event[int]) -> None:
        pass

    emitter.on("order.placed", tax)
    emitter.on("order.placed", price, priority=EventPriority.HIGH)
    emitter.on("order.*", nothing, priority=EventPriority.LOW)

    results = await emitter.collect("order.placed", 5)

    assert isinstance(results, HandlerResults)
    assert list(results) == [
        HandlerResult(price, 50),
        HandlerResult(tax, 1.0),
        HandlerResult(nothing, None),
    ]
    assert results.values == [50, 1.0, None]
    assert results.failed == []
    assert len(results) == 3
    assert results[0].handler is price
    assert results[1:] == [HandlerResult(tax, 1.0), HandlerResult(nothing, None)]
    assert results.event.name == "order.placed"
    assert results.event.data == 5
    assert repr(results) == "<HandlerResults for 'order.placed': 3 ran, 0 failed>"


async def test_collect_lists_a_failure_in_place_without_raising_even_when_strict(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emitter = EventEmitter(strict=True)
    reported: list[Exception] = []
    emitter.add_hook("on_error", lambda event, error, handler: reported.append(error))
    broken = failing("no stock")
    emitter.on("x", lambda event: "first", priority=EventPriority.HIGH)
    emitter.on("x", broken)
    emitter.on("x", lambda event: "last", priority=EventPriority.LOW)

    with caplog.at_level(logging.ERROR, logger="mtbus"):
        results = await emitter.collect("x")

    assert [result.value for result in results] == ["first", None, "last"]
    [failure] = results.failed
    assert failure.handler is broken
    assert failure.failed
    assert isinstance(failure.error, ValueError)
    assert str(failure.error) == "no stock"
    assert results.values == ["first", "last"]
    assert reported == [failure.error]  # still reported, as for any emit
    assert len(caplog.records) == 1
    assert results.event.failures == (failure,)


async def test_collect_follows_propagation_conditions_and_once() -> None:
    emitter = EventEmitter()

    def stop(event: Event[Any]) -> str:
        event.propagate = False
        return "stopped"

    emitter.on("x", stop, priority=EventPriority.HIGH)
    emitter.on("x", lambda event: "skipped")
    emitter.on("x", lambda event: "watched", priority=EventPriority.MONITOR)
    emitter.on("y", lambda event: "rejected", condition=lambda event: False)
    emitter.once("y", lambda event: "once")

    assert (await emitter.collect("x")).values == ["stopped", "watched"]
    assert (await emitter.collect("y")).values == ["once"]
    assert (await emitter.collect("y")).values == []


async def test_collect_lists_only_handlers_not_hooks_waiters_or_derived_emitters() -> None:
    emitter = EventEmitter()
    child = emitter.filter(lambda event: True)
    child_failure = failing("in the child")
    child.on("x", child_failure)
    hook_failure = failing("in the hook")
    emitter.add_hook("after_emit", hook_failure)
    emitter.add_hook("before_emit", lambda event: "hook value")
    emitter.on("x", lambda event: "handler value")

    async with anyio.create_task_group() as group:

        async def wait() -> None:
            await emitter.wait_for("x")

        group.start_soon(wait)
        await anyio.wait_all_tasks_blocked()
        results = await emitter.collect("x")

    assert results.values == ["handler value"]
    assert [failure.handler for failure in results.event.failures] == [
        child_failure,
        hook_failure,
    ]


async def test_collect_with_concurrent_dispatch_lists_each_handler_once() -> None:
    emitter = EventEmitter(concurrent=True)
    release = anyio.Event()

    async def slow(event: Event[Any]) -> str:
        await release.wait()
        return "slow"

    async def quick(event: Event[Any]) -> str:
        release.set()
        return "quick"

    emitter.on("x", slow)
    emitter.on("x", quick)
    emitter.on("x", failing("boom"), priority=EventPriority.LOW)

    results = await emitter.collect("x")

    # Listed as they finished: slow waited for quick.
    assert [result.value for result in results] == ["quick", "slow", None]
    assert [type(failure.error) for failure in results.failed] == [ValueError]
    assert (await emitter.collect("x", concurrent=False)).values == ["slow", "quick"]


async def test_collect_awaits_what_a_to_thread_handler_returns() -> None:
    emitter = EventEmitter()

    async def later() -> str:
        return "awaited"

    emitter.on("x", lambda event: f"thread {event.data}", to_thread=True)
    emitter.on("x", lambda event: later(), to_thread=True, priority=EventPriority.LOW)

    assert (await emitter.collect("x", 7)).values == ["thread 7", "awaited"]


async def test_a_held_back_event_has_no_results_until_the_batch_delivers_it() -> None:
    emitter = EventEmitter()
    emitter.on("x", lambda event: "ran")
    async with emitter.batch_operations() as batch:
        results = await emitter.collect("x", 1)
        assert list(results) == []
    assert batch.events == [results.event]


async def test_collect_checks_its_arguments() -> None:
    emitter = EventEmitter()
    with pytest.raises(ValueError, match=re.escape("invalid event name 'a.*'")):
        await emitter.collect("a.*")
    with pytest.raises(TypeError, match="metadata must be a mapping, not list"):
        await emitter.collect("a", metadata=[1])  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="concurrent must be a bool or None, not int: 1"):
        await emitter.collect("a", concurrent=1)  # type: ignore[call-overload]
    emitter.close()
    with pytest.raises(Exception, match="emitter is closed: cannot emit 'a'"):
        await emitter.collect("a")


# -- generator handlers -------------------------------------------------------------------


async def test_generator_handlers_run_to_the_end_and_collect_their_values() -> None:
    emitter = EventEmitter()
    finished: list[str] = []

    def steps(event: Event[int]) -> Iterator[int]:
        yield from range(event.data)
        finished.append("sync")

    async def pages(event: Event[int]) -> AsyncIterator[str]:
        for page in range(event.data):
            await anyio.lowlevel.checkpoint()
            yield f"page {page}"
        finished.append("async")

    emitter.on("x", steps)
    emitter.on("x", pages, priority=EventPriority.LOW)
    emitter.on("x", steps, to_thread=True, priority=EventPriority.LOWEST)

    results = await emitter.collect("x", 3)

    assert results.values == [[0, 1, 2], ["page 0", "page 1", "page 2"], [0, 1, 2]]
    assert finished == ["sync", "async", "sync"]
    # A plain emit runs them to the end too; it just does not keep what they yielded.
    finished.clear()
    await emitter.emit("x", 2)
    assert finished == ["sync", "async", "sync"]
    assert emitter.listeners("x") == [steps, pages, steps]
    assert emitter.off("x", pages)


async def test_a_generator_handler_that_raises_part_way_is_a_failure() -> None:
    emitter = EventEmitter()

    def partial(event: Event[Any]) -> Iterator[int]:
        yield 1
        raise ValueError("half done")

    emitter.on("x", partial)
    emitter.on("x", lambda event: "after", priority=EventPriority.LOW)
    event = await emitter.emit("x")
    [failure] = event.failures
    assert failure.handler is partial
    assert str(failure.error) == "half done"
    assert (await emitter.collect("x")).values == ["after"]


# -- failures visible to a lenient caller ---------------------------------------------------


async def test_a_lenient_emit_says_which_handlers_failed_and_with_what() -> None:
    emitter = EventEmitter()
    first, second = failing("first"), failing("second")
    ran: list[str] = []
    emitter.on("order.placed", first, priority=EventPriority.HIGH)
    emitter.on("order.placed", lambda event: ran.append("ok"))
    emitter.on("order.*", second, priority=EventPriority.LOW)

    event = await emitter.emit("order.placed")

    assert ran == ["ok"]
    assert [failure.handler for failure in event.failures] == [first, second]
    assert [str(failure.error) for failure in event.failures] == ["first", "second"]
    assert all(failure.failed and failure.value is None for failure in event.failures)
    shipped = await emitter.emit("order.shipped")
    assert [failure.handler for failure in shipped.failures] == [second]
    assert (await emitter.emit("nothing.here")).failures == ()


async def test_failures_of_hooks_and_conditions_are_listed_and_strict_errors_carry_them() -> None:
    emitter = EventEmitter()

    def broken_condition(event: Event[Any]) -> bool:
        raise KeyError("field")

    guarded = emitter.on("x", lambda event: None, condition=broken_condition)
    hook = failing("hook")
    emitter.add_hook("before_emit", hook)

    event = await emitter.emit("x")
    assert [failure.handler for failure in event.failures] == [hook, guarded]

    with pytest.raises(EventHandlerError) as caught:
        await emitter.emit("x", strict=True)
    assert [failure.error for failure in caught.value.event.failures] == list(caught.value.errors)


async def test_failures_under_concurrent_dispatch_and_in_derived_emitters_are_listed() -> None:
    emitter = EventEmitter(concurrent=True)
    doubled = emitter.map(lambda event: Event(event.name, event.data * 2))
    in_parent, in_child = failing("parent"), failing("child")
    emitter.on("x", in_parent)
    emitter.on("x", lambda event: None)
    doubled.on("x", in_child)

    event = await emitter.emit("x", 1)

    assert sorted(str(failure.error) for failure in event.failures) == ["child", "parent"]
    assert {failure.handler for failure in event.failures} == {in_parent, in_child}


async def test_a_failed_event_compares_and_converts_as_before() -> None:
    emitter = EventEmitter()
    emitter.on("x", failing("boom"))
    event = await emitter.emit("x", 1)
    assert event.failures
    twin = Event("x", 1, metadata={}, timestamp=event.timestamp)
    assert event == twin  # failures are not part of what an event is
    assert "failures" not in repr(event)


# -- event_names(pattern) -------------------------------------------------------------------


def test_event_names_selects_registered_names_and_patterns_by_pattern() -> None:
    emitter = EventEmitter()
    for name in ("user.login", "user.*", "user.#", "user.login.failed", "order.placed"):
        emitter.on(name, lambda event: None)

    assert emitter.event_names("user.*") == ["user.login", "user.*", "user.#"]
    assert emitter.event_names("user.#") == [
        "user.login",
        "user.*",
        "user.#",
        "user.login.failed",
    ]
    assert emitter.event_names("*.placed") == ["order.placed"]
    assert emitter.event_names("order.placed") == ["order.placed"]
    assert emitter.event_names("#") == emitter.event_names()
    assert emitter.event_names("nothing.*") == []


def test_event_names_refuses_a_bad_pattern_by_name() -> None:
    emitter = EventEmitter()
    with pytest.raises(ValueError, match=re.escape("invalid event name or pattern 'a..b'")):
        emitter.event_names("a..b")
    with pytest.raises(TypeError, match="event name or pattern must be a str, not int: 3"):
        emitter.event_names(3)  # type: ignore[arg-type]


async def test_what_a_plain_handler_returns_is_awaited_exactly_when_it_is_awaitable() -> None:
    """emit remembers the types of values that are never awaitable; values of other types
    are still awaited, whatever a handler returned before."""
    emitter = EventEmitter()
    awaited: list[str] = []

    class Ticket:
        def __await__(self) -> Iterator[None]:
            awaited.append("ticket")
            yield from anyio.lowlevel.checkpoint().__await__()

    async def coroutine() -> str:
        awaited.append("coroutine")
        return "done"

    returns: list[Any] = [1, Ticket(), "text", coroutine(), 2, Ticket(), iter([1]), [1]]

    def handler(event: Event[Any]) -> Any:
        return returns[event.data]

    emitter.on("x", handler)
    for index in range(len(returns)):
        await emitter.emit("x", index)
    assert awaited == ["ticket", "coroutine", "ticket"]
    # And through the guarded path.
    emitter.on("y", handler, condition=lambda event: True)
    await emitter.emit("y", 5)
    assert awaited == ["ticket", "coroutine", "ticket", "ticket"]
