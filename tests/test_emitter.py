"""EventEmitter: registration, dispatch order, wildcards, once/off, nesting, queries."""

from __future__ import annotations

import functools
import gc
import threading
import weakref
from typing import Any

import anyio
import pytest

from mtbus import Event, EventEmitter, EventPriority

pytestmark = pytest.mark.anyio


class Recorder:
    """Collects what handlers saw, labelled, in the order they ran."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def sync(self, label: str) -> Any:
        def handler(event: Event[Any]) -> None:
            self.calls.append((label, event.data))

        return handler

    def async_(self, label: str) -> Any:
        async def handler(event: Event[Any]) -> None:
            await anyio.lowlevel.checkpoint()
            self.calls.append((label, event.data))

        return handler

    @property
    def labels(self) -> list[str]:
        return [label for label, _ in self.calls]


async def test_emit_passes_one_event_to_every_handler_and_returns_it() -> None:
    emitter = EventEmitter()
    seen: list[Event[Any]] = []

    @emitter.on("user.created")
    async def first(event: Event[Any]) -> None:
        seen.append(event)

    @emitter.on("user.created")
    def second(event: Event[Any]) -> None:
        seen.append(event)

    event = await emitter.emit("user.created", {"id": 1}, {"source": "test"})

    assert seen == [event, event]
    assert seen[0] is seen[1] is event
    assert event.name == "user.created"
    assert event.data == {"id": 1}
    assert event.metadata == {"source": "test"}
    assert event.propagate is True


async def test_emit_without_handlers_still_returns_the_event() -> None:
    event = await EventEmitter().emit("nobody.listens")
    assert event.name == "nobody.listens"
    assert event.data is None
    assert event.metadata == {}


async def test_metadata_is_copied_not_shared_with_the_caller() -> None:
    emitter = EventEmitter()

    @emitter.on("x")
    def mutate(event: Event[Any]) -> None:
        event.metadata["touched"] = True

    given = {"trace": "abc"}
    event = await emitter.emit("x", metadata=given)
    assert given == {"trace": "abc"}
    assert event.metadata == {"trace": "abc", "touched": True}


async def test_decorators_return_the_function_unchanged() -> None:
    emitter = EventEmitter()

    async def handler(event: Event[Any]) -> None:
        pass

    assert emitter.on("a")(handler) is handler
    assert emitter.once("a")(handler) is handler
    assert emitter.on("a", handler) is handler
    assert emitter.once("a", handler) is handler
    assert emitter.add_listener("a", handler) is handler
    assert emitter.listener_count("a") == 5


async def test_sync_handler_returning_an_awaitable_is_awaited() -> None:
    emitter = EventEmitter()
    recorder = Recorder()
    inner = recorder.async_("inner")
    emitter.on("x", lambda event: inner(event))
    await emitter.emit("x", 1)
    assert recorder.calls == [("inner", 1)]


async def test_callable_object_with_async_call_is_awaited() -> None:
    emitter = EventEmitter()
    calls: list[int] = []

    class Handler:
        async def __call__(self, event: Event[int]) -> None:
            await anyio.lowlevel.checkpoint()
            calls.append(event.data)

    emitter.on("x", Handler())
    await emitter.emit("x", 7)
    assert calls == [7]


async def test_sync_handler_return_value_is_ignored() -> None:
    emitter = EventEmitter(strict=True)
    emitter.on("x", lambda event: 42)
    event = await emitter.emit("x")
    assert event.name == "x"


# -- priorities and propagation ------------------------------------------------------------


async def test_handlers_run_from_highest_to_lowest_priority_then_monitors() -> None:
    emitter = EventEmitter()
    recorder = Recorder()
    emitter.on("x", recorder.sync("monitor"), priority=EventPriority.MONITOR)
    emitter.on("x", recorder.sync("lowest"), priority=EventPriority.LOWEST)
    emitter.on("x", recorder.async_("normal"))
    emitter.on("x", recorder.sync("highest"), priority=EventPriority.HIGHEST)
    emitter.on("x", recorder.async_("low"), priority=EventPriority.LOW)
    emitter.on("x", recorder.sync("high"), priority=EventPriority.HIGH)

    await emitter.emit("x")

    assert recorder.labels == ["highest", "high", "normal", "low", "lowest", "monitor"]


async def test_equal_priorities_run_in_registration_order() -> None:
    emitter = EventEmitter()
    recorder = Recorder()
    for label in ["a", "b", "c", "d"]:
        emitter.on("x", recorder.sync(label))
    emitter.on("x", recorder.sync("first"), priority=EventPriority.HIGH)
    await emitter.emit("x")
    assert recorder.labels == ["first", "a", "b", "c", "d"]


async def test_int_priorities_interleave_with_enum_members() -> None:
    emitter = EventEmitter()
    recorder = Recorder()
    emitter.on("x", recorder.sync("normal"), priority=EventPriority.NORMAL)
    emitter.on("x", recorder.sync("int 10"), priority=10)
    emitter.on("x", recorder.sync("high"), priority=EventPriority.HIGH)
    emitter.on("x", recorder.sync("int -1"), priority=-1)
    emitter.on("x", recorder.sync("int 1000"), priority=1000)
    await emitter.emit("x")
    assert recorder.labels == ["int 1000", "high", "int 10", "normal", "int -1"]


@pytest.mark.parametrize("concurrent", [False, True], ids=["sequential", "concurrent"])
async def test_monitors_run_last_whatever_the_int_priorities(concurrent: bool) -> None:
    emitter = EventEmitter(concurrent=concurrent)
    recorder = Recorder()
    monitor = recorder.sync("monitor")
    emitter.on("x", monitor, priority=EventPriority.MONITOR)
    emitter.on("x", recorder.sync("int -1000000"), priority=-1_000_000)
    emitter.on("x", recorder.sync("int -1001"), priority=-1001)
    emitter.on("x", recorder.sync("lowest"), priority=EventPriority.LOWEST)
    emitter.on("x", recorder.sync("int -500"), priority=-500)
    emitter.on("x", recorder.sync("int 10**30"), priority=10**30)
    await emitter.emit("x")
    assert recorder.labels == [
        "int 10**30",
        "lowest",
        "int -500",
        "int -1001",
        "int -1000000",
        "monitor",
    ]
    assert emitter.listeners("x")[-1] is monitor


async def test_handlers_below_the_monitor_value_are_skipped_when_propagation_stops() -> None:
    emitter = EventEmitter()
    recorder = Recorder()

    @emitter.on("x", priority=EventPriority.LOWEST)
    def stop(event: Event[Any]) -> None:
        event.propagate = False

    emitter.on("x", recorder.sync("monitor"), priority=EventPriority.MONITOR)
    emitter.on("x", recorder.sync("int -5000"), priority=-5000)
    await emitter.emit("x")
    assert recorder.labels == ["monitor"]


async def test_stopping_propagation_skips_lower_handlers_but_not_monitors() -> None:
    emitter = EventEmitter()
    recorder = Recorder()

    @emitter.on("x", priority=EventPriority.HIGH)
    def gate(event: Event[Any]) -> None:
        recorder.calls.append(("gate", None))
        event.propagate = False

    emitter.on("x", recorder.sync("same level, later"), priority=EventPriority.HIGH)
    emitter.on("x", recorder.sync("normal"))
    emitter.on("x", recorder.sync("monitor 1"), priority=EventPriority.MONITOR)
    emitter.on("x", recorder.async_("monitor 2"), priority=EventPriority.MONITOR)

    event = await emitter.emit("x")

    assert recorder.labels == ["gate", "monitor 1", "monitor 2"]
    assert event.propagate is False


async def test_monitors_observe_the_final_state_of_the_event() -> None:
    emitter = EventEmitter()
    observed: list[tuple[bool, Any]] = []

    @emitter.on("x", priority=EventPriority.MONITOR)
    def monitor(event: Event[Any]) -> None:
        observed.append((event.propagate, event.data))

    @emitter.on("x")
    def handler(event: Event[Any]) -> None:
        event.data["handled"] = True
        event.propagate = False

    await emitter.emit("x", {})
    assert observed == [(False, {"handled": True})]


# -- conditions --------------------------------------------------------------------------


async def test_condition_skips_the_handler_when_false() -> None:
    emitter = EventEmitter()
    recorder = Recorder()
    emitter.on("alert", recorder.sync("high only"), condition=lambda e: e.data == "high")
    emitter.on("alert", recorder.sync("always"))
    await emitter.emit("alert", "low")
    await emitter.emit("alert", "high")
    assert recorder.calls == [("always", "low"), ("high only", "high"), ("always", "high")]


# -- wildcards ---------------------------------------------------------------------------


async def test_wildcard_patterns_route_by_segment() -> None:
    emitter = EventEmitter()
    recorder = Recorder()
    emitter.on("user.*", recorder.sync("user.*"))
    emitter.on("user.#", recorder.sync("user.#"))
    emitter.on("*.login", recorder.sync("*.login"))
    emitter.on("user.login", recorder.sync("exact"))

    for name in ["user", "user.login", "user.login.failed", "admin.login", "other"]:
        await emitter.emit(name, name)

    assert recorder.calls == [
        ("user.#", "user"),
        ("user.*", "user.login"),
        ("user.#", "user.login"),
        ("*.login", "user.login"),
        ("exact", "user.login"),
        ("user.#", "user.login.failed"),
        ("*.login", "admin.login"),
    ]


@pytest.mark.parametrize("catch_all", ["*", "#"])
async def test_bare_star_and_hash_receive_every_event(catch_all: str) -> None:
    emitter = EventEmitter()
    names: list[str] = []
    emitter.on(catch_all, lambda event: names.append(event.name))
    for name in ["a", "a.b", "a.b.c"]:
        await emitter.emit(name)
    assert names == ["a", "a.b", "a.b.c"]


async def test_a_function_registered_under_two_matching_patterns_runs_twice() -> None:
    emitter = EventEmitter()
    calls: list[str] = []

    def handler(event: Event[Any]) -> None:
        calls.append(event.name)

    emitter.on("order.*", handler)
    emitter.on("order.placed", handler)
    await emitter.emit("order.placed")
    assert calls == ["order.placed", "order.placed"]


async def test_patterns_added_or_removed_after_a_name_was_emitted_take_effect() -> None:
    emitter = EventEmitter()
    recorder = Recorder()
    pattern = recorder.sync("pattern")
    emitter.on("a.b", recorder.sync("exact"))
    await emitter.emit("a.b", 1)
    emitter.on("a.*", pattern, priority=EventPriority.HIGH)
    await emitter.emit("a.b", 2)
    emitter.off("a.*", pattern)
    await emitter.emit("a.b", 3)
    assert recorder.calls == [("exact", 1), ("pattern", 2), ("exact", 2), ("exact", 3)]


async def test_many_distinct_names_keep_routing_correctly() -> None:
    emitter = EventEmitter()
    counts: dict[str, int] = {}

    def count(event: Event[Any]) -> None:
        counts[event.name] = counts.get(event.name, 0) + 1

    emitter.on("item.*", count)
    for round_ in range(2):
        for index in range(5000):
            await emitter.emit(f"item.n{index}")
        if round_ == 0:
            emitter.on("item.#", count)
    assert len(counts) == 5000
    assert set(counts.values()) == {3}


# -- once and off ------------------------------------------------------------------------


async def test_once_handler_runs_only_once() -> None:
    emitter = EventEmitter()
    recorder = Recorder()
    emitter.once("app.started", recorder.async_("once"))
    emitter.on("app.started", recorder.sync("always"))
    await emitter.emit("app.started", 1)
    await emitter.emit("app.started", 2)
    assert recorder.calls == [("once", 1), ("always", 1), ("always", 2)]
    assert emitter.listener_count("app.started") == 1


async def test_once_handler_is_not_used_up_by_a_rejecting_condition() -> None:
    emitter = EventEmitter()
    recorder = Recorder()
    emitter.once("x", recorder.sync("once"), condition=lambda e: e.data > 1)
    for value in [1, 2, 3]:
        await emitter.emit("x", value)
    assert recorder.calls == [("once", 2)]


async def test_once_handler_emitting_its_own_event_does_not_run_again() -> None:
    emitter = EventEmitter()
    calls: list[int] = []

    @emitter.once("x")
    async def handler(event: Event[int]) -> None:
        calls.append(event.data)
        await emitter.emit("x", event.data + 1)

    await emitter.emit("x", 1)
    assert calls == [1]


async def test_once_handler_runs_once_under_concurrent_emits() -> None:
    emitter = EventEmitter()
    calls: list[int] = []
    release = anyio.Event()

    @emitter.once("x")
    async def handler(event: Event[int]) -> None:
        calls.append(event.data)
        await release.wait()

    async with anyio.create_task_group() as group:
        for value in range(5):
            group.start_soon(emitter.emit, "x", value)
        await anyio.wait_all_tasks_blocked()
        release.set()
    assert len(calls) == 1


async def test_off_removes_by_original_function_for_on_once_and_threads() -> None:
    emitter = EventEmitter()
    recorder = Recorder()
    plain, once, threaded = recorder.sync("plain"), recorder.async_("once"), recorder.sync("t")
    emitter.on("x", plain)
    emitter.once("x", once)
    emitter.on("x", threaded, to_thread=True)

    assert emitter.off("x", plain) is True
    assert emitter.remove_listener("x", once) is True
    assert emitter.off("x", threaded) is True
    assert emitter.off("x", plain) is False
    await emitter.emit("x")
    assert recorder.calls == []
    assert emitter.listener_count() == 0
    assert emitter.event_names() == []


async def test_off_removes_the_most_recent_duplicate_only() -> None:
    emitter = EventEmitter()
    calls: list[str] = []

    def handler(event: Event[Any]) -> None:
        calls.append(event.name)

    emitter.on("x", handler, priority=EventPriority.HIGH)
    emitter.on("x", handler)
    emitter.off("x", handler)
    assert emitter.listener_count("x") == 1
    await emitter.emit("x")
    assert calls == ["x"]


async def test_off_accepts_a_bound_method_fetched_again() -> None:
    emitter = EventEmitter()

    class Service:
        def __init__(self) -> None:
            self.seen = 0

        def handle(self, event: Event[Any]) -> None:
            self.seen += 1

    service = Service()
    emitter.on("x", service.handle)
    assert emitter.off("x", service.handle) is True
    await emitter.emit("x")
    assert service.seen == 0


async def test_off_needs_the_exact_name_or_pattern_it_was_registered_under() -> None:
    emitter = EventEmitter()
    handler = Recorder().sync("h")
    emitter.on("user.*", handler)
    assert emitter.off("user.login", handler) is False
    assert emitter.off("user.*", handler) is True


async def test_remove_all_listeners_for_a_name_or_everything() -> None:
    emitter = EventEmitter()
    recorder = Recorder()
    emitter.on("a", recorder.sync("a1"))
    emitter.once("a", recorder.sync("a2"))
    emitter.on("b.*", recorder.sync("b"))
    emitter.on("c", recorder.sync("c"))

    assert emitter.remove_all_listeners("a") == 2
    assert emitter.remove_all_listeners("a") == 0
    assert emitter.event_names() == ["b.*", "c"]
    await emitter.emit("a")
    await emitter.emit("b.x")
    assert recorder.labels == ["b"]

    assert emitter.remove_all_listeners() == 2
    await emitter.emit("b.x")
    await emitter.emit("c")
    assert recorder.labels == ["b"]
    assert emitter.listener_count() == 0


async def test_queries_report_exact_keys_in_dispatch_order() -> None:
    emitter = EventEmitter()
    recorder = Recorder()
    low, high, pattern = recorder.sync("low"), recorder.sync("high"), recorder.sync("p")
    emitter.on("x", low, priority=EventPriority.LOW)
    emitter.on("x", high, priority=EventPriority.HIGH)
    emitter.on("x.*", pattern)

    assert emitter.listeners("x") == [high, low]
    assert emitter.listeners("x.*") == [pattern]
    assert emitter.listeners("y") == []
    assert emitter.listener_count("x") == 2
    assert emitter.listener_count("x.*") == 1
    assert emitter.listener_count() == 3
    assert emitter.event_names() == ["x", "x.*"]
    assert repr(emitter) == "<EventEmitter listeners=3>"


# -- changes during an emit, nesting ----------------------------------------------------


async def test_registration_during_an_emit_applies_from_the_next_emit() -> None:
    emitter = EventEmitter()
    recorder = Recorder()
    late = recorder.sync("late")

    @emitter.on("x")
    def register_another(event: Event[Any]) -> None:
        recorder.calls.append(("register", event.data))
        emitter.on("x", late, priority=EventPriority.LOWEST)

    await emitter.emit("x", 1)
    emitter.off("x", register_another)
    await emitter.emit("x", 2)
    assert recorder.calls == [("register", 1), ("late", 2)]


async def test_removal_during_an_emit_applies_from_the_next_emit() -> None:
    emitter = EventEmitter()
    recorder = Recorder()
    victim = recorder.sync("victim")

    @emitter.on("x", priority=EventPriority.HIGH)
    def remove_victim(event: Event[Any]) -> None:
        emitter.off("x", victim)

    emitter.on("x", victim)
    await emitter.emit("x", 1)
    await emitter.emit("x", 2)
    assert recorder.calls == [("victim", 1)]


async def test_handlers_can_emit_again_without_deadlock() -> None:
    emitter = EventEmitter()
    trail: list[str] = []

    @emitter.on("order.placed")
    async def placed(event: Event[int]) -> None:
        trail.append(f"placed {event.data}")
        await emitter.emit("order.charged", event.data)
        if event.data < 3:
            await emitter.emit("order.placed", event.data + 1)

    @emitter.on("order.charged")
    def charged(event: Event[int]) -> None:
        trail.append(f"charged {event.data}")

    with anyio.fail_after(5):
        await emitter.emit("order.placed", 1)
    assert trail == ["placed 1", "charged 1", "placed 2", "charged 2", "placed 3", "charged 3"]


async def test_emitters_are_independent() -> None:
    first, second = EventEmitter(), EventEmitter()
    recorder = Recorder()
    first.on("x", recorder.sync("first"))
    await second.emit("x")
    assert recorder.calls == []
    assert second.listener_count() == 0


# -- threads -----------------------------------------------------------------------------


async def test_to_thread_runs_a_sync_handler_in_a_worker_thread() -> None:
    emitter = EventEmitter()
    threads: list[int] = []

    @emitter.on("x", to_thread=True)
    def blocking(event: Event[Any]) -> None:
        threads.append(threading.get_ident())

    @emitter.on("x", priority=EventPriority.LOW)
    def inline(event: Event[Any]) -> None:
        threads.append(threading.get_ident())

    await emitter.emit("x")
    assert len(threads) == 2
    assert threads[0] != threading.get_ident()
    assert threads[1] == threading.get_ident()


async def test_an_awaitable_returned_by_a_to_thread_handler_is_awaited_in_the_loop() -> None:
    emitter = EventEmitter()
    trail: list[tuple[str, int]] = []

    async def finish(event: Event[Any]) -> None:
        await anyio.lowlevel.checkpoint()
        trail.append(("awaited", threading.get_ident()))

    def start(event: Event[Any]) -> Any:
        trail.append(("started", threading.get_ident()))
        return finish(event)

    emitter.on("x", start, to_thread=True)
    emitter.once("x", start, to_thread=True)
    emitter.on("x", lambda event: trail.append(("next", threading.get_ident())), priority=-1)
    await emitter.emit("x")
    loop = threading.get_ident()
    assert [label for label, _ in trail] == ["started", "awaited", "started", "awaited", "next"]
    assert [thread == loop for _, thread in trail] == [False, True, False, True, True]


async def test_to_thread_refuses_async_handlers_and_async_callable_objects() -> None:
    emitter = EventEmitter()

    class AsyncCallable:
        async def __call__(self, event: Event[Any]) -> None:
            pass

    async def coroutine_function(event: Event[Any]) -> None:
        pass

    for handler in (coroutine_function, AsyncCallable(), functools.partial(coroutine_function)):
        with pytest.raises(TypeError, match="to_thread=True needs a plain"):
            emitter.on("x", handler, to_thread=True)
    assert emitter.listener_count() == 0


async def test_an_emitter_can_be_weakly_referenced_and_collected() -> None:
    emitter = EventEmitter()
    emitter.on("x", lambda event: None)
    reference = weakref.ref(emitter)
    assert reference() is emitter
    del emitter
    gc.collect()
    assert reference() is None
