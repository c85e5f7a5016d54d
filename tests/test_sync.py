"""emit_sync and publish_sync: from sync code and other threads, into the right event loop.

The cases, in the order the calls try them: (a) a thread running an event loop is refused;
(b) the emitter or channel is in ``async with`` in a loop of another thread: the call hops
into it; (c) an anyio worker thread: it hops into the loop that started it; (d) no loop
known: a new event loop runs in the calling thread.
"""

from __future__ import annotations

import contextvars
import re
import threading
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

from mtbus import (
    Channel,
    ChannelClosedError,
    ChannelError,
    ChannelFullError,
    Event,
    EventEmitError,
    EventEmitter,
    EventHandlerError,
    EventPriority,
)
from mtbus.backends import RedisBackend

if TYPE_CHECKING:
    from collections.abc import Callable

    from mtbus import Subscriber

pytestmark = pytest.mark.anyio  # the async tests; the sync ones run without a loop

T = TypeVar("T")

OWN_LOOP = re.escape(
    "emit_sync() called from the event loop's thread, which it would block: "
    "use 'await emitter.emit(...)'"
)


class InAThread(Generic[T]):
    """*call* running in a plain ``threading.Thread`` (not an anyio worker thread)."""

    def __init__(self, call: Callable[[], T]) -> None:
        self._call = call
        self._outcome: list[tuple[bool, Any]] = []
        self.ident = 0
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        self.ident = threading.get_ident()
        try:
            self._outcome.append((True, self._call()))
        except BaseException as error:  # handed to the test, whatever it is
            self._outcome.append((False, error))

    async def result(self) -> T:
        """Wait for the thread to end; return what *call* returned, or raise what it raised."""
        with anyio.fail_after(10):
            await anyio.to_thread.run_sync(self._thread.join, abandon_on_cancel=True)
        returned, value = self._outcome[0]
        if not returned:
            raise value
        result: T = value
        return result


async def in_a_thread(call: Callable[[], T]) -> T:
    return await InAThread(call).result()


def recorder(emitter: EventEmitter, name: str = "x") -> list[tuple[str, int]]:
    """Register a HIGH sync handler, a NORMAL async one and a LOW sync one on *name*; what
    each saw goes into the list returned, with the thread it ran in."""
    seen: list[tuple[str, int]] = []

    @emitter.on(name, priority=EventPriority.LOW)
    def low(event: Event[Any]) -> None:
        seen.append(("low", threading.get_ident()))

    @emitter.on(name)
    async def normal(event: Event[Any]) -> None:
        await anyio.lowlevel.checkpoint()
        await anyio.lowlevel.checkpoint()
        seen.append(("async", threading.get_ident()))

    @emitter.on(name, priority=EventPriority.HIGH)
    def high(event: Event[Any]) -> None:
        seen.append(("high", threading.get_ident()))

    return seen


def order(seen: list[tuple[str, int]]) -> list[str]:
    return [handler for handler, _ in seen]


# -- (d) sync code, no event loop anywhere known --------------------------------------------


def test_from_sync_code_every_handler_runs_in_order_in_the_calling_thread() -> None:
    emitter = EventEmitter()
    seen = recorder(emitter)
    event = emitter.emit_sync("x", {"n": 1}, {"source": "sync"})
    assert isinstance(event, Event)
    assert (event.name, event.data, event.metadata) == ("x", {"n": 1}, {"source": "sync"})
    assert order(seen) == ["high", "async", "low"]  # the async handler ran to completion
    assert {thread for _, thread in seen} == {threading.get_ident()}


def test_from_sync_code_handlers_see_the_callers_thread_locals_and_context() -> None:
    emitter = EventEmitter()
    local = threading.local()
    request: contextvars.ContextVar[str] = contextvars.ContextVar("request")
    seen: list[tuple[str, str]] = []

    @emitter.on("x")
    async def handler(event: Event[Any]) -> None:
        seen.append((local.user, request.get()))

    def route() -> None:  # as a WSGI server calls a route: in one of its threads
        local.user = "alice"
        request.set("GET /orders")
        emitter.emit_sync("x")

    thread = threading.Thread(target=route)
    thread.start()
    thread.join()
    assert seen == [("alice", "GET /orders")]


def test_from_sync_code_strict_failures_raise_as_from_emit() -> None:
    emitter = EventEmitter(strict=True)
    problem = ValueError("boom")
    seen: list[str] = []

    @emitter.on("x", priority=EventPriority.HIGH)
    async def fails(event: Event[Any]) -> None:
        raise problem

    emitter.on("x", lambda event: seen.append("still ran"))
    with pytest.raises(EventHandlerError) as caught:
        emitter.emit_sync("x")
    assert caught.value.errors == (problem,)
    assert seen == ["still ran"]
    lenient = EventEmitter()
    lenient.on("x", fails)
    with pytest.raises(EventHandlerError):
        lenient.emit_sync("x", strict=True)
    assert lenient.emit_sync("x").name == "x"  # logged, not raised


def test_from_sync_code_once_threaded_and_concurrent_handlers_work() -> None:
    caller = threading.get_ident()
    emitter = EventEmitter()
    seen: list[str] = []
    emitter.once("x", lambda event: seen.append("once"))
    emitter.on(
        "x",
        lambda event: seen.append(f"elsewhere {threading.get_ident() != caller}"),
        to_thread=True,
    )
    emitter.emit_sync("x")
    emitter.emit_sync("x")
    assert seen == ["once", "elsewhere True", "elsewhere True"]
    # Two async handlers of one priority, each waiting for the other: only together.
    ready: dict[str, anyio.Event] = {}

    def prepare(event: Event[Any]) -> None:  # anyio.Event() needs the event loop
        ready.update(one=anyio.Event(), two=anyio.Event())

    async def one(event: Event[Any]) -> None:
        ready["one"].set()
        await ready["two"].wait()

    async def two(event: Event[Any]) -> None:
        ready["two"].set()
        await ready["one"].wait()

    together = EventEmitter()
    together.on("y", prepare, priority=EventPriority.HIGHEST)
    together.on("y", one)
    together.on("y", two)
    assert together.emit_sync("y", concurrent=True).name == "y"


def test_from_sync_code_arguments_are_checked_as_by_emit() -> None:
    emitter = EventEmitter()
    with pytest.raises(ValueError, match="invalid event name"):
        emitter.emit_sync("order.*")
    with pytest.raises(TypeError):
        emitter.emit_sync(3)
    with pytest.raises(TypeError):
        emitter.emit_sync("x", metadata=[1])  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="strict"):
        emitter.emit_sync("x", strict="yes")  # type: ignore[call-overload]
    emitter.close()
    with pytest.raises(EventEmitError, match=r"^emitter is closed: cannot emit 'x'$"):
        emitter.emit_sync("x")


def test_emit_soon_from_sync_code_names_emit_sync() -> None:
    with pytest.raises(RuntimeError, match=r"or emitter\.emit_sync\(\.\.\.\) from sync code$"):
        EventEmitter().emit_nowait("x")


# -- (a) a thread running an event loop ----------------------------------------------------


async def test_in_the_event_loops_thread_it_names_await_emit() -> None:
    emitter = EventEmitter()
    seen = recorder(emitter)
    with pytest.raises(RuntimeError, match=r"^emit_sync\(\) would block the event loop running "):
        emitter.emit_sync("x")
    with pytest.raises(RuntimeError, match=re.escape("use 'await emitter.emit(...)'")):
        emitter.emit_sync("x")
    async with emitter:
        with pytest.raises(RuntimeError, match=f"^{OWN_LOOP}$"):
            emitter.emit_sync("x")
    assert seen == []


async def test_in_another_event_loops_thread_it_names_to_thread(anyio_backend: str) -> None:
    async def emit_in_a_loop_of_its_own(emitter: EventEmitter) -> None:
        emitter.emit_sync("x")

    async with EventEmitter() as emitter:
        seen = recorder(emitter)
        with pytest.raises(RuntimeError) as caught:
            await in_a_thread(
                lambda: anyio.run(emit_in_a_loop_of_its_own, emitter, backend=anyio_backend)
            )
    assert str(caught.value) == (
        "emit_sync() would block the event loop running in this thread: "
        "use 'await anyio.to_thread.run_sync(emitter.emit_sync, ...)'"
    )
    assert seen == []


# -- (b) into the event loop of ``async with emitter:`` ------------------------------------


async def test_from_another_thread_it_runs_the_handlers_in_the_event_loop() -> None:
    async with EventEmitter() as emitter:
        seen = recorder(emitter)
        event = await in_a_thread(lambda: emitter.emit_sync("x", 7, {"via": "thread"}))
        assert (event.data, event.metadata) == (7, {"via": "thread"})
        assert order(seen) == ["high", "async", "low"]
        assert {thread for _, thread in seen} == {threading.get_ident()}
        # From an anyio worker thread too (its own loop, reached with the block's token).
        seen.clear()
        event = await anyio.to_thread.run_sync(emitter.emit_sync, "x", 8)
        assert event.data == 8
        assert order(seen) == ["high", "async", "low"]
        assert {thread for _, thread in seen} == {threading.get_ident()}


async def test_from_another_thread_strict_failures_cross_as_themselves() -> None:
    problem = ValueError("boom")

    def fails(event: Event[Any]) -> None:
        raise problem

    async with EventEmitter(strict=True) as emitter:
        emitter.on("x", fails)
        with pytest.raises(EventHandlerError) as caught:
            await in_a_thread(lambda: emitter.emit_sync("x"))
        assert caught.value.errors == (problem,)
        assert caught.value.event.name == "x"
        emitter.on("y", fails)
        with pytest.raises(EventHandlerError):
            await in_a_thread(lambda: emitter.emit_sync("y", strict=True))
        assert (await in_a_thread(lambda: emitter.emit_sync("y", strict=False))).name == "y"


async def test_from_another_thread_bad_arguments_raise_there_before_hopping() -> None:
    async with EventEmitter() as emitter:
        seen = recorder(emitter, "#")
        with pytest.raises(ValueError, match="invalid event name"):
            await in_a_thread(lambda: emitter.emit_sync("x.#"))
        with pytest.raises(TypeError):
            await in_a_thread(lambda: emitter.emit_sync("x", None, "meta"))  # type: ignore[call-overload]
    assert seen == []


async def test_the_end_of_the_block_waits_for_a_thread_s_emit() -> None:
    emitter = EventEmitter()
    started, release = anyio.Event(), anyio.Event()
    finished: list[str] = []

    @emitter.on("x")
    async def slow(event: Event[Any]) -> None:
        started.set()
        await release.wait()
        finished.append("slow")

    async def release_when_the_block_waits() -> None:
        await anyio.wait_all_tasks_blocked()
        release.set()

    async with anyio.create_task_group() as tasks:
        async with emitter:
            thread = InAThread(lambda: emitter.emit_sync("x", 1))
            await started.wait()
            tasks.start_soon(release_when_the_block_waits)
        assert finished == ["slow"]  # the block's end waited for it
    assert (await thread.result()).data == 1


async def test_closing_cancels_a_thread_s_emit_and_the_thread_gets_an_error() -> None:
    emitter = EventEmitter()
    started = anyio.Event()
    finished: list[str] = []

    @emitter.on("x")
    async def slow(event: Event[Any]) -> None:
        started.set()
        await anyio.Event().wait()
        finished.append("never")

    async with emitter:
        thread = InAThread(lambda: emitter.emit_sync("x"))
        await started.wait()
        emitter.close()
        with pytest.raises(
            EventEmitError, match=r"^emit_sync\('x'\) cancelled: the emitter was closed$"
        ):
            await thread.result()
    assert finished == []
    with pytest.raises(EventEmitError, match="emitter is closed"):
        await in_a_thread(lambda: emitter.emit_sync("x"))


async def test_a_block_ending_with_an_exception_cancels_a_thread_s_emit() -> None:
    emitter = EventEmitter()
    started = anyio.Event()

    @emitter.on("x")
    async def slow(event: Event[Any]) -> None:
        started.set()
        await anyio.Event().wait()

    threads: list[InAThread[Event[Any]]] = []

    async def block_that_fails() -> None:
        async with emitter:
            threads.append(InAThread(lambda: emitter.emit_sync("x")))
            await started.wait()
            raise LookupError

    with pytest.raises(LookupError):
        await block_that_fails()
    (thread,) = threads
    with pytest.raises(
        EventEmitError,
        match=r"^emit_sync\('x'\) cancelled: the emitter's 'async with' block ended with an "
        r"exception$",
    ):
        await thread.result()
    # The emitter is not closed: outside the block, sync code runs the handlers itself.
    emitter.off("x", slow)
    seen = recorder(emitter)
    caller = InAThread(lambda: emitter.emit_sync("x"))
    await caller.result()
    assert {thread for _, thread in seen} == {caller.ident}


def test_a_block_whose_event_loop_is_gone_does_not_hang_a_thread() -> None:
    emitter = EventEmitter()

    async def enter_and_leave_the_loop() -> None:
        await emitter.__aenter__()  # never left: the loop ends under it

    # Only asyncio lets a run end inside an open task group (trio refuses).
    thread = threading.Thread(target=anyio.run, args=(enter_and_leave_the_loop,))
    thread.start()
    thread.join()
    with pytest.raises(
        EventEmitError,
        match=r"^cannot emit 'x': the event loop of the emitter's 'async with' block has "
        r"finished$",
    ):
        emitter.emit_sync("x")


async def test_emit_soon_from_another_thread_names_emit_sync() -> None:
    async with EventEmitter() as emitter:
        with pytest.raises(RuntimeError) as caught:
            await in_a_thread(lambda: emitter.emit_soon("x"))
    assert str(caught.value) == (
        "cannot call emit_soon() from another thread than the event loop's: use "
        "emitter.emit_sync(...) to emit and wait for the handlers, or "
        "anyio.from_thread.run_sync(emitter.emit_soon, ...)"
    )
    with pytest.raises(RuntimeError, match=r"use it inside 'async with emitter:'$"):
        emitter.emit_nowait("x")  # in the event loop: no hint about sync code


# -- (c) an anyio worker thread, the emitter outside ``async with`` ------------------------


async def test_from_an_anyio_worker_thread_it_hops_into_its_event_loop() -> None:
    emitter = EventEmitter(strict=True)
    seen = recorder(emitter)
    event = await anyio.to_thread.run_sync(emitter.emit_sync, "x", 1)
    assert event.data == 1
    assert order(seen) == ["high", "async", "low"]
    assert {thread for _, thread in seen} == {threading.get_ident()}

    def fails(event: Event[Any]) -> None:
        raise anyio.NoEventLoopError("not anyio's refusal: a handler's failure")

    emitter.on("y", fails)
    with pytest.raises(EventHandlerError, match="NoEventLoopError"):
        await anyio.to_thread.run_sync(emitter.emit_sync, "y")


# -- channels --------------------------------------------------------------------------------


def test_publish_sync_from_sync_code_delivers_in_memory() -> None:
    channel = Channel[int]("events")

    async def subscribe() -> Subscriber[int]:
        return await channel.subscribe("order.*")

    subscriber = anyio.run(subscribe)
    assert channel.publish_sync(1, "order.placed", {"id": "a"}) == 1
    assert channel.publish_sync(2, "user.login") == 0
    message = subscriber.receive_nowait()
    assert (message.data, message.topic, message.metadata) == (1, "order.placed", {"id": "a"})
    with pytest.raises(ValueError, match="topic"):
        channel.publish_sync(3, "order.*")
    with pytest.raises(TypeError):
        channel.publish_sync(3, "order.placed", [("id", "a")])  # type: ignore[arg-type]
    anyio.run(channel.close)
    with pytest.raises(ChannelClosedError, match="it is closed"):
        channel.publish_sync(3)


def test_publish_sync_to_a_redis_channel_outside_async_with_says_to_open_it(
    redis_url: str, channel_name: str
) -> None:
    channel = Channel[int](channel_name, backend=RedisBackend(redis_url))
    with pytest.raises(ChannelError, match="must be opened first, with `async with channel:`"):
        channel.publish_sync(1)


async def test_publish_sync_in_the_event_loops_thread_names_await_publish() -> None:
    channel = Channel[int]("events")
    with pytest.raises(RuntimeError, match=re.escape("use 'await channel.publish(...)'")):
        channel.publish_sync(1)
    async with channel:
        with pytest.raises(
            RuntimeError,
            match=r"^publish_sync\(\) called from the event loop's thread, which it would "
            r"block: use 'await channel\.publish\(\.\.\.\)'$",
        ):
            channel.publish_sync(1)
    assert channel.statistics().published == 0


async def receive_all(subscriber: Subscriber[int], into: list[int], got: anyio.Event) -> None:
    async for message in subscriber:
        into.append(message.data)
        got.set()


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_publish_sync_reaches_a_subscriber_waiting_in_the_event_loop(
    backend: str, request: pytest.FixtureRequest, channel_name: str
) -> None:
    redis = RedisBackend(request.getfixturevalue("redis_url")) if backend == "redis" else None
    received: list[int] = []
    got = anyio.Event()
    async with Channel[int](channel_name, backend=redis) as channel:
        subscriber = await channel.subscribe()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(receive_all, subscriber, received, got)
            await anyio.wait_all_tasks_blocked()
            assert await in_a_thread(lambda: channel.publish_sync(1)) == 1
            with anyio.fail_after(10):
                await got.wait()  # over Redis, a moment later
            await channel.close()
    assert received == [1]


async def test_publish_sync_from_an_anyio_worker_thread_hops_into_its_loop() -> None:
    channel = Channel[int]("events")  # not in ``async with``: the worker's loop is known
    subscriber = await channel.subscribe()
    received: list[int] = []
    got = anyio.Event()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(receive_all, subscriber, received, got)
        await anyio.wait_all_tasks_blocked()
        assert await anyio.to_thread.run_sync(channel.publish_sync, 5) == 1
        await got.wait()
        await channel.close()
    assert received == [5]


async def test_publish_sync_failures_cross_the_thread_as_themselves() -> None:
    async with Channel[int]("events") as channel:
        strict = await channel.subscribe(buffer_size=1, overflow="error")
        other = await channel.subscribe()
        await channel.publish(1)
        with pytest.raises(ChannelFullError, match="overflow='error'"):
            await in_a_thread(lambda: channel.publish_sync(2))
        assert [m.data for m in (other.receive_nowait(), other.receive_nowait())] == [1, 2]
        assert strict.receive_nowait().data == 1


async def test_leaving_the_block_releases_a_thread_waiting_for_room() -> None:
    async with Channel[int]("events") as channel:
        subscriber = await channel.subscribe(buffer_size=1)
        await channel.publish(1)
        thread = InAThread(lambda: channel.publish_sync(2))  # waits for room
        with anyio.fail_after(10):
            while channel.statistics().published < 2:  # until its publish has started
                await anyio.wait_all_tasks_blocked()
    with pytest.raises(ChannelClosedError, match="closed while a publisher waited for room"):
        await thread.result()
    assert [message.data async for message in subscriber] == [1]
    with pytest.raises(ChannelClosedError, match="it is closed"):
        await in_a_thread(lambda: channel.publish_sync(3))


def test_a_channel_whose_event_loop_is_gone_does_not_hang_a_thread() -> None:
    channel = Channel[int]("events")

    async def enter_and_leave_the_loop() -> None:
        await channel.__aenter__()  # never left: the loop ends under it

    thread = threading.Thread(target=anyio.run, args=(enter_and_leave_the_loop,))
    thread.start()
    thread.join()
    with pytest.raises(ChannelClosedError, match="the event loop of its 'async with' block"):
        channel.publish_sync(1)


# -- collect_sync: the handlers' results, from the same places ------------------------------


def test_collect_sync_from_sync_code_returns_each_handler_s_result() -> None:
    emitter = EventEmitter(strict=True)

    @emitter.on("quote", priority=EventPriority.HIGH)
    async def price(event: Event[int]) -> int:
        await anyio.lowlevel.checkpoint()
        return event.data * 100

    @emitter.on("quote")
    def broken(event: Event[int]) -> int:
        raise LookupError("no tax table")

    results = emitter.collect_sync("quote", 3)

    assert results.values == [300]
    [failure] = results.failed
    assert failure.handler is broken
    assert isinstance(failure.error, LookupError)


async def test_collect_sync_from_another_thread_runs_in_the_event_loop() -> None:
    async with EventEmitter() as emitter:
        seen = recorder(emitter)
        emitter.on("x", lambda event: event.data + 1, priority=EventPriority.LOWEST)
        results = await in_a_thread(lambda: emitter.collect_sync("x", 1))
        assert results.values == [None, None, None, 2]
        assert {thread for _, thread in seen} == {threading.get_ident()}
        with pytest.raises(
            RuntimeError,
            match=re.escape(
                "collect_sync() called from the event loop's thread, which it would block: "
                "use 'await emitter.collect(...)'"
            ),
        ):
            emitter.collect_sync("x")
    emitter.close()
    with pytest.raises(EventEmitError, match="emitter is closed: cannot emit 'x'"):
        emitter.collect_sync("x")


def test_collect_sync_checks_its_arguments_as_collect() -> None:
    emitter = EventEmitter()
    with pytest.raises(ValueError, match=re.escape("invalid event name 'a.*'")):
        emitter.collect_sync("a.*")
    with pytest.raises(TypeError, match="concurrent must be a bool or None, not str: 'yes'"):
        emitter.collect_sync("a", concurrent="yes")  # type: ignore[call-overload]
