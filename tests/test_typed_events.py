"""Events as classes: ``emitter.on(OrderPlaced)``, ``await emitter.emit(OrderPlaced(...))``.

A class stands for its event name (declared or derived), so names, patterns and monitors see
typed events; handlers on a class run for instances of it and of its subclasses, as chosen
when the plan is built; a named emit never runs them.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import threading
from typing import Any, ClassVar

import anyio
import attrs
import pydantic
import pytest

from mtbus import Event, EventEmitError, EventEmitter, EventPriority, event_name

pytestmark = pytest.mark.anyio


@dataclasses.dataclass
class OrderPlaced:
    order_id: int


@dataclasses.dataclass
class RushOrderPlaced(OrderPlaced):
    courier: str = "bike"


@dataclasses.dataclass
class OrderShipped:
    order_id: int


class Declared:
    __event_name__ = "billing.invoice.sent"


class DeclaredChild(Declared):
    """Does not inherit its base's declared name: a subclass is another event."""


@attrs.define
class AttrsOrder:
    order_id: int


class PydanticOrder(pydantic.BaseModel):
    order_id: int


class PlainOrder:
    def __init__(self, order_id: int) -> None:
        self.order_id = order_id


# -- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("class_name", "expected"),
    [
        ("OrderPlaced", "order.placed"),
        ("HTTPRequestFailed", "http.request.failed"),
        ("Order2Shipped", "order2.shipped"),
        ("V2Order", "v2.order"),
        ("Tick", "tick"),
        ("URL", "url"),
        ("order_placed", "order.placed"),
        ("_PrivateThing", "private.thing"),
        ("ÄrgerGemeldet", "ärger.gemeldet"),
    ],
)
def test_a_class_name_gives_a_dotted_lower_case_event_name(class_name: str, expected: str) -> None:
    assert event_name(type(class_name, (), {})) == expected


def test_a_declared_name_wins_and_is_not_inherited() -> None:
    assert event_name(Declared) == "billing.invoice.sent"
    assert event_name(DeclaredChild) == "declared.child"


@pytest.mark.parametrize(
    ("declared", "error", "message"),
    [
        ("order.*", ValueError, "invalid Bad.__event_name__ 'order.*': wildcards"),
        ("", ValueError, "invalid Bad.__event_name__ '': empty"),
        (42, TypeError, "Bad.__event_name__ must be a str, not int: 42"),
    ],
)
def test_an_invalid_declared_name_is_refused_by_name(
    declared: object, error: type[Exception], message: str
) -> None:
    bad = type("Bad", (), {"__event_name__": declared})
    with pytest.raises(error, match=f"^{message}"):
        event_name(bad)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (int, "int is a built-in type, not an event class"),
        (type, "type is a metaclass, not an event class"),
        (OrderPlaced(1), "an event class must be a class, not OrderPlaced"),
        (type("_", (), {}), "cannot derive an event name from the class name '_'"),
    ],
)
def test_what_cannot_be_an_event_class_is_refused(value: Any, message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        event_name(value)


# -- dispatch ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [OrderPlaced, AttrsOrder, lambda order_id: PydanticOrder(order_id=order_id), PlainOrder],
    ids=["dataclass", "attrs", "pydantic", "plain"],
)
async def test_every_kind_of_class_is_an_event(make: Any) -> None:
    instance = make(7)
    emitter = EventEmitter()
    received: list[Event[Any]] = []
    emitter.on(type(instance), received.append)
    event = await emitter.emit(instance)
    assert received == [event]
    assert event.data is instance
    assert event.name == event_name(type(instance))


async def test_handlers_on_a_base_class_receive_subclass_instances() -> None:
    emitter = EventEmitter()
    calls: list[tuple[str, str]] = []
    emitter.on(OrderPlaced, lambda event: calls.append(("base", event.name)))
    emitter.on(RushOrderPlaced, lambda event: calls.append(("rush", event.name)))
    emitter.on(OrderShipped, lambda event: calls.append(("shipped", event.name)))
    await emitter.emit(RushOrderPlaced(1))
    await emitter.emit(OrderPlaced(2))
    assert calls == [
        ("base", "rush.order.placed"),
        ("rush", "rush.order.placed"),
        ("base", "order.placed"),
    ]


async def test_names_patterns_and_monitors_see_typed_events_in_priority_order() -> None:
    emitter = EventEmitter()
    calls: list[str] = []
    emitter.on("#", lambda event: calls.append("monitor"), priority=EventPriority.MONITOR)
    emitter.on("order.*", lambda event: calls.append("pattern"), priority=EventPriority.LOW)
    emitter.on(OrderPlaced, lambda event: calls.append("class"), priority=EventPriority.HIGH)
    emitter.on("order.placed", lambda event: calls.append("name"))
    emitter.on("order.shipped", lambda event: calls.append("other name"))
    await emitter.emit(OrderPlaced(1))
    assert calls == ["class", "name", "pattern", "monitor"]


async def test_a_named_emit_does_not_run_handlers_on_a_class() -> None:
    """Their events are instances: a named emit's data need not be one."""
    emitter = EventEmitter()
    calls: list[object] = []
    emitter.on(OrderPlaced, lambda event: calls.append(("class", event.data)))
    emitter.on("order.placed", lambda event: calls.append(("name", event.data)))
    await emitter.emit("order.placed", {"order_id": 1})
    await emitter.emit("order.placed", OrderPlaced(2))
    assert calls == [("name", {"order_id": 1}), ("name", OrderPlaced(2))]


async def test_stopping_propagation_and_conditions_work_on_typed_events() -> None:
    emitter = EventEmitter()
    calls: list[str] = []

    def stop(event: Event[OrderPlaced]) -> None:
        calls.append("stop")
        event.propagate = False

    emitter.on(OrderPlaced, stop, condition=lambda event: event.data.order_id > 1)
    emitter.on(OrderPlaced, lambda event: calls.append("after"), priority=EventPriority.LOW)
    emitter.on("#", lambda event: calls.append("monitor"), priority=EventPriority.MONITOR)
    await emitter.emit(OrderPlaced(1))
    await emitter.emit(OrderPlaced(2))
    assert calls == ["after", "monitor", "stop", "monitor"]


async def test_plans_follow_registrations_made_after_the_first_typed_emit() -> None:
    emitter = EventEmitter()
    calls: list[str] = []
    await emitter.emit(RushOrderPlaced(1))  # builds (and caches) the plan for the class

    def on_base(event: Event[OrderPlaced]) -> None:
        calls.append("base")

    emitter.on(OrderPlaced, on_base)
    emitter.on("rush.order.placed", lambda event: calls.append("name"))
    emitter.on("rush.#", lambda event: calls.append("pattern"))
    await emitter.emit(RushOrderPlaced(2))
    assert calls == ["base", "name", "pattern"]
    assert emitter.off(OrderPlaced, on_base)
    calls.clear()
    await emitter.emit(RushOrderPlaced(3))
    assert calls == ["name", "pattern"]


async def test_a_once_handler_on_a_class_runs_once_for_a_subclass() -> None:
    emitter = EventEmitter()
    calls: list[int] = []
    emitter.once(OrderPlaced, lambda event: calls.append(event.data.order_id))
    await emitter.emit(RushOrderPlaced(1))
    await emitter.emit(RushOrderPlaced(2))
    await emitter.emit(OrderPlaced(3))
    assert calls == [1]
    assert emitter.listener_count() == 0


async def test_queries_take_a_class_for_the_handlers_registered_on_it() -> None:
    emitter = EventEmitter()

    def on_class(event: Event[OrderPlaced]) -> None: ...

    def on_name(event: Event[Any]) -> None: ...

    emitter.on(OrderPlaced, on_class)
    emitter.on("order.placed", on_name)
    assert emitter.listeners(OrderPlaced) == [on_class]
    assert emitter.listeners("order.placed") == [on_class, on_name]
    assert emitter.listener_count(OrderPlaced) == 1
    assert emitter.listener_count("order.placed") == 2
    assert emitter.event_names() == ["order.placed"]
    assert emitter.remove_all_listeners(OrderPlaced) == 1
    assert emitter.listeners("order.placed") == [on_name]


async def test_off_with_a_class_removes_only_the_registration_on_the_class() -> None:
    emitter = EventEmitter()
    calls: list[str] = []

    def record(event: Event[Any]) -> None:
        calls.append(event.name)

    emitter.on(OrderPlaced, record)
    emitter.on("order.placed", record)
    emitter.on(OrderPlaced, record)
    assert emitter.off(OrderPlaced, record)
    assert emitter.off(OrderPlaced, record)
    assert not emitter.off(OrderPlaced, record)
    await emitter.emit(OrderPlaced(1))
    assert calls == ["order.placed"]  # the registration by name is left
    assert emitter.off("order.placed", record)
    assert emitter.listener_count() == 0


async def test_the_event_of_a_typed_emit_compares_as_any_event() -> None:
    emitter = EventEmitter()
    event = await emitter.emit(OrderPlaced(1), metadata={"source": "test"})
    same = Event("order.placed", OrderPlaced(1), True, {"source": "test"}, event.timestamp)
    assert event == same
    assert dataclasses.asdict(event)["data"] == {"order_id": 1}


# -- mistakes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e: e.emit(OrderPlaced), r"emit\(OrderPlaced\) is given the class itself"),
        (lambda e: e.emit(OrderPlaced(1), {"x": 1}), "takes no data .* got data={'x': 1}"),
        (lambda e: e.emit(42), "must be a str or an instance of an event class, not int: 42"),
        (lambda e: e.collect(OrderPlaced), "is given the class itself"),
    ],
)
async def test_a_typed_emit_that_cannot_be_is_refused_before_anything_runs(
    call: Any, message: str
) -> None:
    emitter = EventEmitter()
    calls: list[object] = []
    emitter.on("#", calls.append)
    emitter.on(OrderPlaced, calls.append)
    with pytest.raises(TypeError, match=message):
        await call(emitter)
    assert calls == []


@pytest.mark.parametrize(
    ("register", "message"),
    [
        (lambda e: e.on(int, print), "int is a built-in type, not an event class"),
        (lambda e: e.on(OrderPlaced, print, batched=True), "register a batched handler by name"),
        (lambda e: e.on(type("Bad", (), {"__event_name__": "a.#"})), "invalid Bad.__event"),
    ],
)
def test_a_registration_on_a_class_that_cannot_be_is_refused(register: Any, message: str) -> None:
    emitter = EventEmitter()
    with pytest.raises((TypeError, ValueError), match=message):
        register(emitter)
    assert emitter.listener_count() == 0


async def test_a_closed_emitter_refuses_a_typed_emit() -> None:
    emitter = EventEmitter()
    emitter.close()
    with pytest.raises(EventEmitError, match=r"emitter is closed: cannot emit 'order\.placed'"):
        await emitter.emit(OrderPlaced(1))


class Color(str, enum.Enum):  # noqa: UP042 (the mixin whose str() is not its value)
    RED = "color.red"


class Shape(enum.StrEnum):
    ROUND = "shape.round"


async def test_a_str_subclass_is_emitted_by_its_value() -> None:
    emitter = EventEmitter()
    names: list[str] = []
    emitter.on("#", lambda event: names.append(event.name))
    await emitter.emit(Color.RED)
    await emitter.emit(Shape.ROUND)
    await emitter.collect(Color.RED)
    async with emitter.batch_operations():
        await emitter.emit(Color.RED)
    assert names == ["color.red", "shape.round", "color.red", "color.red"]
    assert all(type(name) is str for name in names)


# -- typed events through every other way in -------------------------------------------


async def test_typed_events_stay_typed_in_batches_and_derived_emitters() -> None:
    emitter = EventEmitter()
    calls: list[str] = []
    emitter.on(OrderPlaced, lambda event: calls.append(f"parent {event.data.order_id}"))
    child = emitter.filter(lambda event: event.data.order_id > 1)
    child.on(OrderPlaced, lambda event: calls.append(f"child {event.data.order_id}"))
    async with emitter.batch_operations():
        await emitter.emit(RushOrderPlaced(1))
        await emitter.emit(RushOrderPlaced(2))
        assert calls == []
    assert calls == ["parent 1", "parent 2", "child 2"]


async def test_collect_wait_for_emit_soon_and_emit_after_take_typed_events() -> None:
    emitter = EventEmitter()
    emitter.on(OrderPlaced, lambda event: event.data.order_id * 10)
    results = await emitter.collect(RushOrderPlaced(4))
    assert results.values == [40]
    assert results.event.name == "rush.order.placed"
    async with emitter, anyio.create_task_group() as tasks:
        waited: list[Event[OrderPlaced]] = []

        async def wait() -> None:
            waited.append(await emitter.wait_for(OrderPlaced, timeout=5))

        tasks.start_soon(wait)
        await anyio.wait_all_tasks_blocked()
        handle = emitter.emit_soon(RushOrderPlaced(5))
        await handle.wait()
        later = emitter.emit_after(0, OrderPlaced(6))
        await later.wait()
    assert [event.data for event in waited] == [RushOrderPlaced(5)]
    assert (handle.name, later.name) == ("rush.order.placed", "order.placed")
    assert later.emitted == 1


async def test_emit_sync_takes_a_typed_event_from_another_thread() -> None:
    emitter = EventEmitter()
    threads: list[int] = []
    emitter.on(OrderPlaced, lambda event: threads.append(threading.get_ident()))
    async with emitter:
        event = await anyio.to_thread.run_sync(emitter.emit_sync, RushOrderPlaced(1))
    assert event.name == "rush.order.placed"
    assert threads == [threading.get_ident()]


async def test_a_traced_typed_emit_logs_its_event_name(caplog: pytest.LogCaptureFixture) -> None:
    emitter = EventEmitter()

    def charge(event: Event[OrderPlaced]) -> None: ...

    emitter.on(OrderPlaced, charge)
    with caplog.at_level(logging.DEBUG, logger="mtbus"):
        await emitter.emit(RushOrderPlaced(1))
    assert "emit 'rush.order.placed': 1 listener matches" in caplog.text
    assert "charge for 'rush.order.placed' returned" in caplog.text


class Sharing:
    """Two classes may share an event name: each still reaches only its own handlers."""

    class First:
        __event_name__: ClassVar[str] = "shared.name"

    class Second:
        __event_name__: ClassVar[str] = "shared.name"


async def test_two_classes_of_one_name_keep_their_own_handlers() -> None:
    emitter = EventEmitter()
    calls: list[str] = []
    emitter.on(Sharing.First, lambda event: calls.append("first"))
    emitter.on(Sharing.Second, lambda event: calls.append("second"))
    emitter.on("shared.name", lambda event: calls.append("name"))
    await emitter.emit(Sharing.First())
    await emitter.emit(Sharing.Second())
    assert calls == ["first", "name", "second", "name"]
