"""The emitter is not thread-safe: the ways in from worker threads work, and the calls from
another thread that would wake a task of the event loop are refused, not half done."""

from __future__ import annotations

import re
import threading
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import pytest

from mtbus import Event, EventEmitter

pytestmark = pytest.mark.anyio


async def test_a_worker_thread_emits_through_anyio_from_thread() -> None:
    emitter = EventEmitter()
    threads: list[int] = []
    emitter.on("x", lambda event: threads.append(threading.get_ident()))

    def worker() -> Event[Any]:
        return anyio.from_thread.run(emitter.emit, "x", 7)

    event = await anyio.to_thread.run_sync(worker)
    assert event.data == 7
    assert threads == [threading.get_ident()]


async def test_wait_for_is_ended_by_an_emit_from_a_worker_thread_through_from_thread() -> None:
    emitter = EventEmitter()
    received: list[Event[Any]] = []

    async def waiter() -> None:
        received.append(await emitter.wait_for("x"))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            await anyio.to_thread.run_sync(lambda: anyio.from_thread.run(emitter.emit, "x", 1))
    assert [event.data for event in received] == [1]


async def test_an_emit_in_another_threads_event_loop_cannot_end_a_wait_for(
    anyio_backend: str,
) -> None:
    emitter = EventEmitter()
    other_loop: list[str] = []
    emitter.on("x", lambda event: other_loop.append("handler ran"))
    received: list[Event[Any]] = []

    async def waiter() -> None:
        received.append(await emitter.wait_for("x"))

    def emit_in_an_event_loop_of_its_own() -> None:
        with pytest.raises(RuntimeError) as caught:
            anyio.run(emitter.emit, "x", "wrong thread", backend=anyio_backend)
        other_loop.append(str(caught.value))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            await anyio.to_thread.run_sync(emit_in_an_event_loop_of_its_own)
            assert received == []
            assert emitter.listener_count("x") == 2  # still waiting, unharmed
            await emitter.emit("x", "right thread")
    assert other_loop[0] == "handler ran"
    assert re.fullmatch(
        r"^cannot end a wait_for\('x'\) from another thread than the event loop's: use "
        r"emitter\.emit_sync\(\.\.\.\) inside 'async with emitter:', or "
        r"anyio\.from_thread\.run\(emitter\.emit, \.\.\.\) from a worker thread$",
        other_loop[1],
    )
    assert [event.data for event in received] == ["right thread"]


async def test_background_work_is_not_started_or_cancelled_from_another_thread() -> None:
    async with EventEmitter() as emitter:
        handle = emitter.emit_after(60, "x")
        calls = [
            ("emit_soon()", lambda: emitter.emit_soon("x")),
            ("emit_after()", lambda: emitter.emit_after(1, "x")),
            ("emit_periodic()", lambda: emitter.emit_periodic(1, "x")),
            ("EmitHandle.cancel()", handle.cancel),
            ("close()", emitter.close),
        ]
        for what, call in calls:
            with pytest.raises(RuntimeError, match=r"anyio\.from_thread\.run_sync") as caught:
                await anyio.to_thread.run_sync(call)
            assert str(caught.value).startswith(
                f"cannot call {what} from another thread than the event loop's: use "
            )
        assert not handle.cancelled
        assert not emitter.closed
        seen: list[str] = []
        emitter.on("y", lambda event: seen.append(event.name))
        soon = await anyio.to_thread.run_sync(
            lambda: anyio.from_thread.run_sync(emitter.emit_soon, "y")
        )
        await soon.wait()
        await anyio.to_thread.run_sync(lambda: anyio.from_thread.run_sync(handle.cancel))
        assert handle.cancelled
        assert seen == ["y"]
