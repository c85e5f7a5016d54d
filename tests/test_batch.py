"""Batches (commit on success, batched handlers, nesting, task scope) and suppression."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from mtbus import Batch, Event, EventEmitError, EventEmitter, EventHandlerError, EventPriority
from mtbus.testing import record_events

pytestmark = pytest.mark.anyio


async def test_emits_in_a_batch_are_dispatched_in_order_when_it_ends() -> None:
    emitter = EventEmitter()
    with record_events(emitter) as seen:
        async with emitter.batch_operations() as batch:
            first = await emitter.emit("a", 1)
            await emitter.emit("b", 2)
            assert seen.pairs == []
            assert batch.events == [first, batch.events[1]]
            assert first.name == "a"
        assert seen.pairs == [("a", 1), ("b", 2)]
        assert batch.discarded == []
        assert [event.data for event in batch.events] == [1, 2]


async def test_batch_is_an_alias() -> None:
    emitter = EventEmitter()
    with record_events(emitter) as seen:
        async with emitter.batch() as batch:
            await emitter.emit("a")
            assert seen.pairs == []
        assert isinstance(batch, Batch)
        assert seen.pairs == [("a", None)]


async def test_a_failing_block_discards_its_events() -> None:
    emitter = EventEmitter()
    with record_events(emitter) as seen:
        batch = emitter.batch_operations()

        async def failing_block() -> None:
            async with batch:
                await emitter.emit("a", 1)
                await emitter.emit("b", 2)
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await failing_block()
        assert seen.pairs == []
        assert [(event.name, event.data) for event in batch.discarded] == [("a", 1), ("b", 2)]
        assert batch.events == []
        await emitter.emit("after")
        assert seen.pairs == [("after", None)]  # the emitter is back to normal


async def test_a_cancelled_block_discards_its_events() -> None:
    emitter = EventEmitter()
    with record_events(emitter) as seen:
        batch = emitter.batch()
        with anyio.move_on_after(0):
            async with batch:
                await emitter.emit("a")
                await anyio.sleep_forever()
        assert seen.pairs == []
        assert len(batch.discarded) == 1


async def test_nested_batches_flatten_into_the_outermost() -> None:
    emitter = EventEmitter()
    with record_events(emitter) as seen:
        async with emitter.batch() as outer:
            await emitter.emit("a")
            async with emitter.batch() as inner:
                await emitter.emit("b")
            assert seen.pairs == []  # the inner block ending dispatches nothing
            assert [event.name for event in inner.events] == ["b"]
            failed = emitter.batch()

            async def failing_block() -> None:
                async with failed:
                    await emitter.emit("c")
                    raise KeyError("c")

            with pytest.raises(KeyError):
                await failing_block()
            await emitter.emit("d")
        assert [name for name, _ in seen.pairs] == ["a", "b", "d"]
        assert [event.name for event in failed.discarded] == ["c"]
        assert [event.name for event in outer.events] == ["a", "b", "d"]


async def test_an_outer_failure_discards_what_nested_batches_kept() -> None:
    emitter = EventEmitter()
    with record_events(emitter) as seen:
        outer = emitter.batch()

        async def failing_block() -> None:
            async with outer:
                async with emitter.batch():
                    await emitter.emit("inner")
                raise ValueError("late")

        with pytest.raises(ValueError, match="late"):
            await failing_block()
        assert seen.pairs == []
        assert [event.name for event in outer.discarded] == ["inner"]


async def test_batched_handlers_get_one_event_with_the_matched_events() -> None:
    emitter = EventEmitter()
    calls: list[tuple[str, list[Any]]] = []

    @emitter.on("item.*", batched=True)
    async def bulk(event: Event[list[Event[Any]]]) -> None:
        calls.append((event.name, [each.data for each in event.data]))

    with record_events(emitter) as per_event:
        async with emitter.batch_operations():
            for n in range(3):
                await emitter.emit("item.processed", n)
            await emitter.emit("other", "x")
            await emitter.emit("item.failed", 9)

        assert calls == [("item.*", [0, 1, 2, 9])]
        assert [event.data for event in per_event.matching("item.*")] == [0, 1, 2, 9]


async def test_batched_handlers_run_after_the_events_in_priority_order() -> None:
    emitter = EventEmitter()
    order: list[str] = []
    emitter.on("x", lambda event: order.append("low batched"), batched=True, priority=-10)
    emitter.on("x", lambda event: order.append("high batched"), batched=True, priority=10)
    emitter.on("x", lambda event: order.append(f"handler {event.data}"))
    async with emitter.batch():
        await emitter.emit("x", 1)
        await emitter.emit("x", 2)
    assert order == ["handler 1", "handler 2", "high batched", "low batched"]


async def test_outside_a_batch_a_batched_handler_gets_a_one_element_list() -> None:
    emitter = EventEmitter()
    got: list[Event[Any]] = []
    emitter.add_listener("user.*", got.append, batched=True)
    event = await emitter.emit("user.login", "ada")
    assert len(got) == 1
    assert got[0].name == "user.*"
    assert got[0].data == [event]


async def test_batched_handlers_honour_conditions_once_and_propagation() -> None:
    emitter = EventEmitter()
    evens: list[list[int]] = []
    once: list[list[int]] = []
    monitor: list[list[int]] = []
    emitter.on(
        "n",
        lambda event: evens.append([each.data for each in event.data]),
        batched=True,
        condition=lambda event: event.data % 2 == 0,
    )
    emitter.once("n", lambda event: once.append([each.data for each in event.data]), batched=True)
    emitter.on(
        "n",
        lambda event: monitor.append([each.data for each in event.data]),
        batched=True,
        priority=EventPriority.MONITOR,
    )

    @emitter.on("n", priority=EventPriority.HIGHEST)
    def stop_threes(event: Event[int]) -> None:
        if event.data == 3:
            event.propagate = False

    async with emitter.batch():
        for n in range(5):
            await emitter.emit("n", n)
    async with emitter.batch():
        await emitter.emit("n", 6)

    assert evens == [[0, 2, 4], [6]]
    assert once == [[0, 1, 2, 4]]
    assert monitor == [[0, 1, 2, 3, 4], [6]]
    assert emitter.listener_count("n") == 3


async def test_strict_batches_raise_every_failure_after_the_whole_commit() -> None:
    emitter = EventEmitter(strict=True)
    with record_events(emitter) as seen:
        emitter.on("bad", lambda event: 1 / 0)
        emitter.on("bad", lambda event: int("x"), batched=True)

        async def block() -> None:
            async with emitter.batch():
                await emitter.emit("bad")
                await emitter.emit("good")

        with pytest.raises(EventHandlerError) as failure:
            await block()
        assert [name for name, _ in seen.pairs] == ["bad", "good"]
        assert [type(error) for error in failure.value.errors] == [ZeroDivisionError, ValueError]
        assert failure.value.event.name == "bad"


async def test_lenient_batches_log_failures_and_carry_on() -> None:
    emitter = EventEmitter()
    with record_events(emitter) as seen:
        emitter.on("bad", lambda event: 1 / 0)
        async with emitter.batch():
            await emitter.emit("bad")
            await emitter.emit("good", strict=False)
        assert [name for name, _ in seen.pairs] == ["bad", "good"]


async def test_per_emit_strict_applies_at_commit() -> None:
    emitter = EventEmitter()
    emitter.on("bad", lambda event: 1 / 0)
    with pytest.raises(EventHandlerError):
        async with emitter.batch():
            await emitter.emit("bad", strict=True)


async def test_handlers_emitting_during_the_commit_are_not_deferred() -> None:
    emitter = EventEmitter()

    @emitter.on("first")
    async def follow(event: Event[Any]) -> None:
        await emitter.emit("follow.up", event.data)

    with record_events(emitter) as seen:
        async with emitter.batch():
            await emitter.emit("first", 1)
            await emitter.emit("first", 2)
    assert seen.pairs == [("first", 1), ("follow.up", 1), ("first", 2), ("follow.up", 2)]


async def test_batches_only_defer_the_task_that_opened_them() -> None:
    emitter = EventEmitter()
    with record_events(emitter) as seen:
        inside = anyio.Event()
        other_done = anyio.Event()

        async def other_task() -> None:
            await inside.wait()
            await emitter.emit("other.task")
            other_done.set()

        with anyio.fail_after(5):
            async with anyio.create_task_group() as group:
                group.start_soon(other_task)
                async with emitter.batch():
                    await emitter.emit("batched")
                    inside.set()
                    await other_done.wait()
                    assert seen.pairs == [("other.task", None)]
        assert [name for name, _ in seen.pairs] == ["other.task", "batched"]


async def test_tasks_started_inside_a_batch_are_deferred_too() -> None:
    emitter = EventEmitter()
    with record_events(emitter) as seen:
        async with emitter.batch():
            async with anyio.create_task_group() as group:
                group.start_soon(emitter.emit, "from.child.task")
            assert seen.pairs == []
        assert seen.pairs == [("from.child.task", None)]


async def test_batches_are_per_emitter() -> None:
    one, two = EventEmitter(), EventEmitter()
    with record_events(two) as seen_two:
        async with one.batch():
            await two.emit("not.deferred")
            assert seen_two.pairs == [("not.deferred", None)]


async def test_derived_emitters_receive_a_parents_batch_at_commit() -> None:
    emitter = EventEmitter()
    derived = emitter.filter(lambda event: True)
    with record_events(derived) as seen:
        async with emitter.batch():
            await emitter.emit("x")
            assert seen.pairs == []
        assert seen.pairs == [("x", None)]


async def test_a_batch_can_be_used_once_and_not_on_a_closed_emitter() -> None:
    emitter = EventEmitter()
    batch = emitter.batch()
    async with batch:
        pass
    with pytest.raises(RuntimeError, match="batch can only be used once"):
        async with batch:
            pass
    emitter.close()
    with pytest.raises(EventEmitError, match="emitter is closed: cannot open a batch"):
        emitter.batch()


async def test_closing_the_emitter_inside_a_batch_discards_it() -> None:
    emitter = EventEmitter()
    batch = emitter.batch()

    async def block() -> None:
        async with batch:
            await emitter.emit("x")
            emitter.close()

    with pytest.raises(EventEmitError, match="emitter is closed: 1 batched events discarded"):
        await block()
    assert len(batch.discarded) == 1


# -- suppression and replay --------------------------------------------------------------


async def test_suppress_events_holds_matching_events_back() -> None:
    emitter = EventEmitter()
    with record_events(emitter) as seen:
        async with emitter.suppress_events("user.*") as suppressed:
            await emitter.emit("user.login", 1)
            await emitter.emit("order.placed", 2)
            await emitter.emit("user.logout", 3)
        assert seen.pairs == [("order.placed", 2)]
        assert [(event.name, event.data) for event in suppressed] == [
            ("user.login", 1),
            ("user.logout", 3),
        ]

        assert await emitter.replay_events(suppressed) == 2
        assert seen.pairs == [("order.placed", 2), ("user.login", 1), ("user.logout", 3)]


async def test_suppress_everything_skips_hooks_and_monitors_too() -> None:
    emitter = EventEmitter()
    calls: list[str] = []
    emitter.add_hook("before_emit", lambda event: calls.append("hook"))
    emitter.on("#", lambda event: calls.append("monitor"), priority=EventPriority.MONITOR)
    async with emitter.suppress_events() as suppressed:
        await emitter.emit("a")
    assert calls == []
    assert len(suppressed) == 1


async def test_replay_inside_a_batch_is_deferred() -> None:
    emitter = EventEmitter()
    with record_events(emitter) as seen:
        async with emitter.suppress_events() as suppressed:
            await emitter.emit("a")
        async with emitter.batch() as batch:
            await emitter.replay_events(suppressed)
            assert seen.pairs == []
        assert batch.events == suppressed
        assert seen.pairs == [("a", None)]


async def test_replay_in_strict_mode_dispatches_all_then_raises() -> None:
    emitter = EventEmitter()
    with record_events(emitter) as seen:
        emitter.on("bad", lambda event: 1 / 0)
        events: list[Event[Any]] = [Event("bad"), Event("good")]
        with pytest.raises(EventHandlerError):
            await emitter.replay_events(events, strict=True)
        assert [name for name, _ in seen.pairs] == ["bad", "good"]


async def test_replay_needs_events() -> None:
    emitter = EventEmitter()
    with pytest.raises(TypeError, match=r"can only replay Event objects, not tuple: \('a', 1\)"):
        await emitter.replay_events([("a", 1)])  # type: ignore[list-item]


async def test_suppress_validates_its_pattern() -> None:
    emitter = EventEmitter()
    with pytest.raises(ValueError, match="invalid event name or pattern"):
        emitter.suppress_events("a..b")
    with pytest.raises(TypeError, match="must be a str"):
        emitter.suppress_events(3)  # type: ignore[arg-type]


async def test_an_inner_suppression_wins_over_an_outer_batch() -> None:
    emitter = EventEmitter()
    with record_events(emitter) as seen:
        async with emitter.batch() as batch, emitter.suppress_events("x") as suppressed:
            await emitter.emit("x")
            await emitter.emit("y")
        assert [event.name for event in suppressed] == ["x"]
        assert [event.name for event in batch.events] == ["y"]
        assert seen.pairs == [("y", None)]


async def test_a_batch_inside_a_suppression_commits_into_it() -> None:
    emitter = EventEmitter()
    with record_events(emitter) as seen:
        async with emitter.suppress_events("x") as suppressed, emitter.batch():
            await emitter.emit("x")
            await emitter.emit("y")
        assert seen.pairs == [("y", None)]
        assert [event.name for event in suppressed] == ["x"]


async def test_an_emit_while_a_batch_or_suppression_is_open_checks_its_name_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The name check is internal: count its calls where the emitter's modules look it up.
    from mtbus._core._topics import validate_name
    from mtbus._emitter import _dispatch, _registry

    checked: list[object] = []

    def counting(name: object) -> str:
        checked.append(name)
        return validate_name(name)

    monkeypatch.setattr(_dispatch, "validate_name", counting)
    monkeypatch.setattr(_registry, "validate_name", counting)
    emitter = EventEmitter()
    with record_events(emitter) as seen:
        async with emitter.suppress_events("a.*"):
            await emitter.emit("b.passes", 1)  # not held: dispatched right away
        assert checked == ["b.passes"]
        checked.clear()
        async with emitter.batch():
            await emitter.emit("b.held", 2)
            assert checked == ["b.held"]
        assert seen.pairs == [("b.passes", 1), ("b.held", 2)]
        with pytest.raises(ValueError, match=r"invalid event name 'b\.\.'"):
            async with emitter.batch():
                await emitter.emit("b..")
