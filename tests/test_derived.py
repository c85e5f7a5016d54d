"""Derived emitters (filter, map, buffer), pipes, close and garbage collection."""

from __future__ import annotations

import gc
import logging
from typing import Any

import anyio
import pytest

from mtbus import Event, EventEmitError, EventEmitter, EventHandlerError, EventPriority

pytestmark = pytest.mark.anyio


def collect(emitter: EventEmitter, pattern: str = "#") -> list[Event[Any]]:
    seen: list[Event[Any]] = []
    emitter.on(pattern, seen.append)
    return seen


# -- filter ------------------------------------------------------------------------------


async def test_filter_forwards_only_events_the_predicate_accepts() -> None:
    emitter = EventEmitter()
    high = emitter.filter(lambda event: event.data.get("priority") == "high")
    seen = collect(high, "alert")

    await emitter.emit("alert", {"priority": "high", "n": 1})
    await emitter.emit("alert", {"priority": "low", "n": 2})
    await emitter.emit("other", {"priority": "high", "n": 3})

    assert [event.data["n"] for event in seen] == [1]


async def test_derived_handlers_get_a_copy_of_the_event() -> None:
    emitter = EventEmitter()
    every = emitter.filter(lambda event: True)

    @every.on("order.placed")
    def stop(event: Event[Any]) -> None:
        event.propagate = False
        event.metadata["seen_by_child"] = True

    original = await emitter.emit("order.placed", {"id": 1}, {"source": "test"})
    seen: list[Event[Any]] = []
    every.on("#", seen.append, priority=EventPriority.MONITOR)
    await emitter.emit("order.placed", {"id": 2}, {"source": "test"})

    assert original.propagate is True
    assert original.metadata == {"source": "test"}
    copy = seen[0]
    assert copy.data == {"id": 2}
    assert copy.metadata == {"source": "test", "seen_by_child": True}


async def test_copy_keeps_name_data_and_timestamp() -> None:
    emitter = EventEmitter()
    derived = emitter.filter(lambda event: True)
    seen = collect(derived)
    event = await emitter.emit("a.b", 5)
    assert (seen[0].name, seen[0].data, seen[0].timestamp) == ("a.b", 5, event.timestamp)
    assert seen[0] is not event


async def test_event_name_limits_what_feeds_the_derived_emitter() -> None:
    emitter = EventEmitter()
    users = emitter.filter(lambda event: True, "user.*")
    seen = collect(users)
    for name in ["user.login", "order.placed", "user.logout", "user.login.failed"]:
        await emitter.emit(name)
    assert [event.name for event in seen] == ["user.login", "user.logout"]


async def test_async_predicates_are_awaited() -> None:
    emitter = EventEmitter()

    async def even(event: Event[int]) -> bool:
        await anyio.lowlevel.checkpoint()
        return event.data % 2 == 0

    evens = emitter.filter(even)
    seen = collect(evens)
    for n in range(5):
        await emitter.emit("n", n)
    assert [event.data for event in seen] == [0, 2, 4]


async def test_derived_emitters_see_events_whose_propagation_was_stopped() -> None:
    emitter = EventEmitter()
    derived = emitter.filter(lambda event: True)
    order: list[str] = []

    @emitter.on("x", priority=EventPriority.HIGHEST)
    def stop(event: Event[Any]) -> None:
        order.append("parent handler")
        event.propagate = False

    derived.on("x", lambda event: order.append("derived handler"))
    await emitter.emit("x")
    assert order == ["parent handler", "derived handler"]


async def test_a_raising_predicate_is_reported_by_the_parent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emitter = EventEmitter()
    reported: list[tuple[str, Any]] = []
    emitter.add_hook(
        "on_error", lambda event, error, handler: reported.append((event.name, handler))
    )

    def broken(event: Event[Any]) -> bool:
        raise ValueError("bad predicate")

    derived = emitter.filter(broken)
    ran: list[str] = []
    emitter.on("x", lambda event: ran.append("parent"))
    derived.on("x", lambda event: ran.append("derived"))

    with caplog.at_level(logging.ERROR, logger="mtbus"):
        await emitter.emit("x")

    assert ran == ["parent"]
    assert reported == [("x", broken)]
    assert "filter predicate" in caplog.text
    assert "broken failed for event 'x'" in caplog.text
    with pytest.raises(EventHandlerError, match="bad predicate") as failure:
        await emitter.emit("x", strict=True)
    assert isinstance(failure.value.errors[0], ValueError)


# -- map ---------------------------------------------------------------------------------


async def test_map_may_change_name_data_and_metadata() -> None:
    emitter = EventEmitter()
    renamed = emitter.map(
        lambda event: Event(f"audit.{event.name}", [event.data], metadata={"mapped": True})
    )
    seen = collect(renamed)
    await emitter.emit("user.login", "ada")
    assert [(event.name, event.data, event.metadata) for event in seen] == [
        ("audit.user.login", ["ada"], {"mapped": True})
    ]


async def test_chained_derived_emitters() -> None:
    emitter = EventEmitter()
    chain = emitter.filter(lambda event: event.data > 1).map(
        lambda event: Event(event.name, event.data * 10)
    )
    seen = collect(chain)
    gc.collect()  # the intermediate filter stays alive: the map holds it
    for n in range(4):
        await emitter.emit("n", n)
    assert [event.data for event in seen] == [20, 30]


async def test_async_transforms_are_awaited() -> None:
    emitter = EventEmitter()

    async def double(event: Event[int]) -> Event[int]:
        await anyio.lowlevel.checkpoint()
        return Event(event.name, event.data * 2)

    doubled = emitter.map(double)
    seen = collect(doubled)
    await emitter.emit("n", 21)
    assert seen[0].data == 42


async def test_a_transform_returning_the_same_event_gives_the_child_a_copy() -> None:
    emitter = EventEmitter()

    def mark(event: Event[Any]) -> Event[Any]:
        event.metadata["marked"] = True
        return event

    marked = emitter.map(mark)
    marked.on("x", lambda event: setattr(event, "propagate", False))
    event = await emitter.emit("x")
    assert event.propagate is True
    assert event.metadata == {"marked": True}


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ({"not": "an event"}, "map transform must return an Event, not dict"),
        (None, "map transform must return an Event, not NoneType"),
    ],
)
async def test_a_transform_must_return_an_event(result: object, message: str) -> None:
    emitter = EventEmitter(strict=True)
    derived = emitter.map(lambda event: result)
    seen = collect(derived)
    with pytest.raises(EventHandlerError, match=message):
        await emitter.emit("x")
    assert seen == []


async def test_a_transform_to_an_invalid_name_is_a_transform_failure() -> None:
    emitter = EventEmitter(strict=True)
    derived = emitter.map(lambda event: Event("bad..name", None))
    collect(derived)
    with pytest.raises(EventHandlerError, match=r"invalid event name 'bad\.\.name'"):
        await emitter.emit("x")


# -- failures downstream -----------------------------------------------------------------


async def test_derived_handler_failures_reach_the_parents_hooks_and_strict_emits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emitter = EventEmitter()
    reported: list[str] = []
    emitter.add_hook("on_error", lambda event, error, handler: reported.append(repr(error)))
    derived = emitter.filter(lambda event: True).map(lambda event: event)

    @derived.on("x")
    def broken(event: Event[Any]) -> None:
        raise KeyError("deep")

    with caplog.at_level(logging.ERROR, logger="mtbus"):
        await emitter.emit("x")
    assert reported == ["KeyError('deep')"]
    assert caplog.text.count("failed for event 'x'") == 1  # logged once, where it happened

    with pytest.raises(EventHandlerError) as failure:
        await emitter.emit("x", strict=True)
    assert [type(error) for error in failure.value.errors] == [KeyError]


async def test_derived_emitters_inherit_concurrent_and_strict() -> None:
    emitter = EventEmitter(concurrent=True, strict=True)
    derived = emitter.filter(lambda event: True)
    both_started = anyio.Event()
    started: list[int] = []

    async def handler(event: Event[Any]) -> None:
        started.append(1)
        if len(started) == 2:
            both_started.set()
        with anyio.fail_after(5):
            await both_started.wait()

    derived.on("x", handler)
    derived.on("x", handler)
    await emitter.emit("x")  # would deadlock if the two did not run together
    derived.on("y", lambda event: 1 / 0)
    with pytest.raises(EventHandlerError):
        await derived.emit("y")


# -- buffer ------------------------------------------------------------------------------


async def test_buffer_delivers_lists_of_size_per_name() -> None:
    emitter = EventEmitter()
    buffered = emitter.buffer(2)
    seen = collect(buffered)
    for name, n in [("a", 1), ("b", 1), ("a", 2), ("a", 3), ("b", 2), ("a", 4)]:
        await emitter.emit(name, n)
    assert [(event.name, [each.data for each in event.data]) for event in seen] == [
        ("a", [1, 2]),
        ("b", [1, 2]),
        ("a", [3, 4]),
    ]


async def test_flush_delivers_partial_buffers() -> None:
    emitter = EventEmitter()
    buffered = emitter.buffer(3, "metric.*")
    seen = collect(buffered)
    await emitter.emit("metric.cpu", 1)
    await emitter.emit("metric.mem", 2)
    await emitter.emit("metric.cpu", 3)
    await emitter.emit("other", 0)
    assert await buffered.flush() == 3
    assert [(event.name, [each.data for each in event.data]) for event in seen] == [
        ("metric.cpu", [1, 3]),
        ("metric.mem", [2]),
    ]
    assert await buffered.flush() == 0
    assert await emitter.flush() == 0  # not a buffer: nothing to do


async def test_close_drops_a_partial_buffer_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emitter = EventEmitter()
    buffered = emitter.buffer(10)
    seen = collect(buffered)
    await emitter.emit("x", 1)
    await emitter.emit("x", 2)
    with caplog.at_level(logging.WARNING, logger="mtbus"):
        buffered.close()
    assert seen == []
    assert "buffer closed with 2 undelivered events" in caplog.text


async def test_aclose_flushes_then_closes_the_whole_tree() -> None:
    emitter = EventEmitter()
    outer = emitter.buffer(10)
    inner = outer.buffer(10)
    seen = collect(inner)
    await emitter.emit("x", 1)
    await emitter.emit("x", 2)
    await outer.aclose()
    assert outer.closed
    assert inner.closed
    assert [[[each.data for each in chunk.data] for chunk in event.data] for event in seen] == [
        [[1, 2]]
    ]
    assert emitter.listener_count() == 0


@pytest.mark.parametrize(
    ("size", "error", "message"),
    [
        (0, ValueError, "invalid buffer size 0: must be >= 1"),
        (-3, ValueError, "invalid buffer size -3"),
        (True, TypeError, "buffer size must be an int, not bool: True"),
        (2.0, TypeError, "buffer size must be an int, not float: 2.0"),
        ("2", TypeError, "buffer size must be an int, not str: '2'"),
    ],
)
def test_bad_buffer_sizes_are_rejected(size: Any, error: type[Exception], message: str) -> None:
    emitter = EventEmitter()
    with pytest.raises(error, match=message):
        emitter.buffer(size)
    assert emitter.listener_count() == 0


# -- validation --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["filter", "map"])
def test_predicates_and_transforms_must_be_callable(method: str) -> None:
    emitter = EventEmitter()
    what = "predicate" if method == "filter" else "transform"
    with pytest.raises(TypeError, match=f"{what} must be callable, not int: 3"):
        getattr(emitter, method)(3)


@pytest.mark.parametrize("method", ["filter", "map", "buffer"])
def test_derived_event_names_are_validated(method: str) -> None:
    emitter = EventEmitter()
    first: Any = 2 if method == "buffer" else (lambda event: event)
    with pytest.raises(ValueError, match=r"invalid event name or pattern 'a\.\.b'"):
        getattr(emitter, method)(first, "a..b")
    assert emitter.listener_count() == 0


# -- close and garbage collection --------------------------------------------------------


async def test_close_detaches_from_the_parent_and_closes_descendants() -> None:
    emitter = EventEmitter()
    child = emitter.filter(lambda event: True)
    grandchild = child.map(lambda event: event)
    seen = collect(grandchild)
    assert emitter.listener_count() == 1

    child.close()
    child.close()  # idempotent

    assert child.closed
    assert grandchild.closed
    assert not emitter.closed
    assert emitter.listener_count() == 0
    await emitter.emit("x")
    assert seen == []


async def test_a_closed_emitter_refuses_registrations_and_emits() -> None:
    emitter = EventEmitter()
    emitter.close()
    with pytest.raises(EventEmitError, match="emitter is closed: cannot emit 'x'"):
        await emitter.emit("x")
    with pytest.raises(
        EventEmitError, match="emitter is closed: cannot register a handler for 'x'"
    ):
        emitter.on("x", print)
    with pytest.raises(EventEmitError, match="emitter is closed"):
        emitter.on("x")
    with pytest.raises(EventEmitError, match="emitter is closed"):
        emitter.once("x", print)
    with pytest.raises(EventEmitError, match="emitter is closed"):
        emitter.add_hook("before_emit", print)
    with pytest.raises(EventEmitError, match="emitter is closed: cannot derive an emitter"):
        emitter.filter(lambda event: True)
    with pytest.raises(EventEmitError, match="emitter is closed"):
        await emitter.wait_for("x", timeout=1)
    with pytest.raises(EventEmitError, match="emitter is closed"):
        emitter.pipe(EventEmitter())
    with pytest.raises(EventEmitError, match="emitter is closed"):
        EventEmitter().pipe(emitter)
    assert emitter.listener_count() == 0
    assert emitter.remove_listener("x", print) is False


async def test_closing_removes_handlers_and_pipes() -> None:
    emitter, target = EventEmitter(), EventEmitter()
    emitter.on("x", print)
    emitter.pipe(target)
    emitter.close()
    assert emitter.listener_count() == 0
    assert emitter.unpipe() == 0


async def test_a_dropped_derived_emitter_leaves_no_listener_behind() -> None:
    emitter = EventEmitter()
    derived = emitter.filter(lambda event: True).map(lambda event: event)
    derived.on("x", print)
    assert emitter.listener_count() == 1
    del derived
    gc.collect()
    assert emitter.listener_count() == 0
    await emitter.emit("x")


async def test_a_dropped_child_does_not_keep_its_handlers_running() -> None:
    emitter = EventEmitter()
    seen: list[str] = []
    emitter.filter(lambda event: True).on("x", lambda event: seen.append("child"))
    gc.collect()
    await emitter.emit("x")
    assert seen == []


async def test_the_parent_does_not_keep_children_alive_but_children_keep_parents() -> None:
    import weakref

    emitter = EventEmitter()
    child = emitter.filter(lambda event: True)
    child_ref = weakref.ref(child)
    parent_ref = weakref.ref(emitter)
    del emitter
    gc.collect()
    assert parent_ref() is not None  # the child holds it
    del child
    gc.collect()
    assert child_ref() is None
    assert parent_ref() is None


# -- pipe --------------------------------------------------------------------------------


async def test_pipe_forwards_copies_and_returns_the_target() -> None:
    source, target, last = EventEmitter(), EventEmitter(), EventEmitter()
    assert source.pipe(target).pipe(last, "order.*") is last
    seen_target, seen_last = collect(target), collect(last)

    event = await source.emit("order.placed", {"id": 1})
    await source.emit("user.login")

    assert [each.name for each in seen_target] == ["order.placed", "user.login"]
    assert [each.name for each in seen_last] == ["order.placed"]
    assert seen_target[0] is not event
    assert seen_target[0].data is event.data


async def test_unpipe_stops_forwarding() -> None:
    source, one, two = EventEmitter(), EventEmitter(), EventEmitter()
    source.pipe(one)
    source.pipe(two)
    seen_one, seen_two = collect(one), collect(two)
    assert source.unpipe(one) == 1
    await source.emit("x")
    assert (len(seen_one), len(seen_two)) == (0, 1)
    assert source.unpipe() == 1
    assert source.unpipe() == 0
    assert source.listener_count() == 0


async def test_pipes_that_close_a_loop_are_refused() -> None:
    a, b, c = EventEmitter(), EventEmitter(), EventEmitter()
    with pytest.raises(EventEmitError, match="pipe would create a cycle"):
        a.pipe(a)
    a.pipe(b)
    b.pipe(c)
    with pytest.raises(EventEmitError, match=r"cycle: EventEmitter@0x\w+ -> .* -> .* -> "):
        c.pipe(a)
    derived = a.filter(lambda event: True)
    with pytest.raises(EventEmitError, match="cycle"):
        derived.pipe(a)
    with pytest.raises(EventEmitError, match="cycle"):
        c.pipe(a, "only.this")  # patterns do not matter: a map could rename
    assert c.listener_count() == 0
    await a.emit("x")  # and nothing recursed


async def test_pipe_into_a_closed_emitter_stops_quietly() -> None:
    source, target = EventEmitter(), EventEmitter()
    source.pipe(target)
    target.close()
    await source.emit("x")
    assert source.listener_count() == 0


async def test_pipe_target_failures_count_in_strict_emits_of_the_source() -> None:
    source, target = EventEmitter(), EventEmitter()
    source.pipe(target)
    target_errors: list[Exception] = []
    source_errors: list[Exception] = []
    target.add_hook("on_error", lambda event, error, handler: target_errors.append(error))
    source.add_hook("on_error", lambda event, error, handler: source_errors.append(error))
    target.on("x", lambda event: 1 / 0)

    await source.emit("x")
    with pytest.raises(EventHandlerError) as failure:
        await source.emit("x", strict=True)

    assert [type(error) for error in failure.value.errors] == [ZeroDivisionError]
    assert len(target_errors) == 2
    assert source_errors == []  # a pipe target is not a derived emitter: its own hooks


def test_pipe_needs_an_emitter() -> None:
    with pytest.raises(TypeError, match="can only pipe to an EventEmitter, not str: 'x'"):
        EventEmitter().pipe("x")  # type: ignore[type-var]
