"""Background emits: emit_after, emit_periodic and emit_soon in the emitter's task group."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest

from mtbus import EmitHandle, Event, EventEmitError, EventEmitter, EventHandlerError
from mtbus.testing import record_events

pytestmark = pytest.mark.anyio


async def test_outside_async_with_background_emits_raise() -> None:
    emitter = EventEmitter()
    message = r"emit_after\(\) needs a running emitter: use it inside 'async with emitter:'"
    with pytest.raises(RuntimeError, match=message):
        emitter.emit_after(1, "x")
    with pytest.raises(RuntimeError, match=r"emit_periodic\(\) needs a running emitter"):
        emitter.emit_periodic(1, "x")
    with pytest.raises(RuntimeError, match=r"emit_soon\(\) needs a running emitter"):
        emitter.emit_soon("x")
    async with emitter:
        pass
    with pytest.raises(RuntimeError, match="async with"):
        emitter.emit_soon("x")  # the block is over


async def test_async_with_returns_the_emitter_and_can_be_reentered() -> None:
    emitter = EventEmitter()
    async with emitter as entered:
        assert entered is emitter
        with pytest.raises(RuntimeError, match="already in an 'async with' block"):
            await emitter.__aenter__()
    async with emitter:
        with record_events(emitter) as seen:
            await emitter.emit_soon("again").wait()
    assert seen.pairs == [("again", None)]


async def test_emit_after_emits_once_after_the_delay() -> None:
    async with EventEmitter() as emitter:
        with record_events(emitter) as seen:
            handle = emitter.emit_after(0.01, "later", {"n": 1}, {"source": "timer"})
            assert isinstance(handle, EmitHandle)
            assert not handle.done
            with anyio.fail_after(5):
                await handle.wait()
    assert seen.pairs == [("later", {"n": 1})]
    assert handle.done
    assert handle.emitted == 1
    assert not handle.cancelled


async def test_emit_after_zero_runs_after_the_current_task_yields() -> None:
    async with EventEmitter() as emitter:
        with record_events(emitter) as seen:
            emitter.emit_after(0, "soon")
            assert seen.pairs == []
            await seen.wait_for("soon", timeout=5)
    assert seen.pairs == [("soon", None)]


async def test_a_cancelled_emit_after_never_emits() -> None:
    async with EventEmitter() as emitter:
        with record_events(emitter) as seen:
            handle = emitter.emit_after(60, "never")
            handle.cancel()
            with anyio.fail_after(5):
                await handle.wait()
            assert handle.cancelled
            assert handle.done
    assert seen.pairs == []
    assert handle.emitted == 0
    assert repr(handle) == "<EmitHandle 'never' cancelled emitted=0>"


async def test_emit_periodic_with_a_value_and_max_count() -> None:
    async with EventEmitter() as emitter:
        with record_events(emitter) as seen:
            handle = emitter.emit_periodic(0.001, "tick", "value", max_count=3)
            with anyio.fail_after(5):
                await handle.wait()
    assert seen.pairs == [("tick", "value")] * 3
    assert handle.emitted == 3


async def test_emit_periodic_with_sync_and_async_providers() -> None:
    counter = iter(range(100))

    async def metadata() -> dict[str, Any]:
        await anyio.lowlevel.checkpoint()
        return {"source": "provider"}

    async with EventEmitter() as emitter:
        got: list[Event[Any]] = []
        emitter.on("tick", got.append)
        handle = emitter.emit_periodic(0.001, "tick", lambda: next(counter), metadata, 4)
        with anyio.fail_after(5):
            await handle.wait()
    assert [event.data for event in got] == [0, 1, 2, 3]
    assert all(event.metadata == {"source": "provider"} for event in got)


async def test_a_raising_provider_skips_the_tick_and_is_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    values = iter([1, None, 3])
    reported: list[tuple[str, Any]] = []

    def provider() -> int:
        value = next(values)
        if value is None:
            raise LookupError("no reading")
        return value

    async with EventEmitter() as emitter:
        emitter.add_hook(
            "on_error", lambda event, error, handler: reported.append((event.name, handler))
        )
        with record_events(emitter) as seen, caplog.at_level(logging.ERROR, logger="mtbus"):
            handle = emitter.emit_periodic(0.001, "reading", provider, max_count=3)
            with anyio.fail_after(5):
                await handle.wait()
    assert seen.pairs == [("reading", 1), ("reading", 3)]
    assert handle.emitted == 2
    assert reported == [("reading", provider)]
    assert "data provider" in caplog.text


async def test_a_raising_provider_ends_a_strict_periodic_emit_and_nothing_else() -> None:
    def provider() -> int:
        raise LookupError("no reading")

    async with EventEmitter(strict=True) as emitter:
        with record_events(emitter) as seen:
            handle = emitter.emit_periodic(0.001, "reading", provider)
            with anyio.fail_after(5):
                await handle.wait()
            assert isinstance(handle.error, EventHandlerError)
            assert isinstance(handle.error.errors[0], LookupError)
            assert handle.emitted == 0
            # The task group lives on: the next background emit runs.
            await emitter.emit_soon("after").wait()
    assert seen.pairs == [("after", None)]
    assert not emitter.closed


async def test_emit_soon_runs_handlers_in_the_background() -> None:
    async with EventEmitter() as emitter:
        started = anyio.Event()
        release = anyio.Event()
        finished: list[Any] = []

        @emitter.on("job")
        async def slow(event: Event[Any]) -> None:
            started.set()
            await release.wait()
            finished.append(event.data)

        handle = emitter.emit_soon("job", 7)
        with anyio.fail_after(5):
            await started.wait()
            assert finished == []  # emit_soon did not wait for the handler
            release.set()
            await handle.wait()
    assert finished == [7]


async def test_emit_nowait_is_an_alias_of_emit_soon() -> None:
    assert EventEmitter.emit_nowait is EventEmitter.emit_soon
    async with EventEmitter() as emitter:
        with record_events(emitter) as seen:
            await emitter.emit_nowait("x", 1).wait()
    assert seen.pairs == [("x", 1)]
    with pytest.raises(RuntimeError, match=r"emit_soon\(\) needs a running emitter"):
        emitter.emit_nowait("x")


async def test_a_normal_exit_waits_for_running_dispatches_and_cancels_timers() -> None:
    finished: list[str] = []
    release = anyio.Event()

    async def release_when_blocked() -> None:
        await anyio.wait_all_tasks_blocked()
        release.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as outer, EventEmitter() as emitter:

            @emitter.on("work")
            async def work(event: Event[Any]) -> None:
                await release.wait()
                finished.append(event.data)

            soon = emitter.emit_soon("work", "soon")
            timer = emitter.emit_after(60, "work", "timer")
            ticker = emitter.emit_periodic(60, "work", "tick")
            outer.start_soon(release_when_blocked)
    assert finished == ["soon"]
    assert soon.emitted == 1
    assert not soon.cancelled
    assert timer.cancelled
    assert ticker.cancelled
    assert timer.emitted == ticker.emitted == 0


async def test_an_emit_after_already_dispatching_finishes_at_exit() -> None:
    finished: list[str] = []
    started = anyio.Event()
    release = anyio.Event()

    async def release_when_blocked() -> None:
        await started.wait()
        await anyio.wait_all_tasks_blocked()
        release.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as outer:
            outer.start_soon(release_when_blocked)
            async with EventEmitter() as emitter:

                @emitter.on("work")
                async def work(event: Event[Any]) -> None:
                    started.set()
                    await release.wait()
                    finished.append("done")

                handle = emitter.emit_after(0, "work")
                await started.wait()
    assert finished == ["done"]
    assert handle.emitted == 1


async def test_a_failing_block_cancels_everything() -> None:
    cancelled: list[str] = []

    async def block() -> None:
        async with EventEmitter() as emitter:

            @emitter.on("work")
            async def work(event: Event[Any]) -> None:
                try:
                    await anyio.sleep_forever()
                finally:
                    cancelled.append("handler")

            emitter.emit_soon("work")
            await anyio.wait_all_tasks_blocked()
            raise OSError("body failed")

    # The body's own exception leaves the block as itself, not in an exception group.
    with anyio.fail_after(5), pytest.raises(OSError, match="body failed"):
        await block()
    assert cancelled == ["handler"]


async def test_background_handler_errors_are_reported_like_any_other(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors: list[Exception] = []
    async with EventEmitter() as emitter:
        emitter.add_hook("on_error", lambda event, error, handler: errors.append(error))
        emitter.on("x", lambda event: 1 / 0)
        with caplog.at_level(logging.ERROR, logger="mtbus"):
            await emitter.emit_soon("x").wait()
            await emitter.emit_after(0, "x").wait()
    assert [type(error) for error in errors] == [ZeroDivisionError] * 2
    assert caplog.text.count("failed for event 'x'") == 2


async def test_a_strict_background_failure_ends_only_itself() -> None:
    # An app's lifespan: `async with emitter:` around the app, emit_soon from routes.
    errors: list[Exception] = []
    async with EventEmitter(strict=True) as emitter:
        emitter.add_hook("on_error", lambda event, error, handler: errors.append(error))
        emitter.on("x", lambda event: 1 / 0)
        with record_events(emitter) as seen:
            failed = emitter.emit_soon("x")
            await failed.wait()
            assert isinstance(failed.error, EventHandlerError)
            assert [type(error) for error in errors] == [ZeroDivisionError]
            # The emitter is still running: background work goes on.
            assert not emitter.closed
            await emitter.emit_soon("y").wait()
            assert seen.pairs == [("x", None), ("y", None)]
    assert not emitter.closed


async def test_a_successful_background_emit_has_no_error() -> None:
    async with EventEmitter() as emitter:
        handle = emitter.emit_soon("x")
        await handle.wait()
    assert handle.error is None
    assert handle.emitted == 1


class _Interrupt(BaseException):
    pass


@pytest.mark.parametrize("raised", [KeyError("k"), _Interrupt("stop")])
async def test_the_bodys_own_exception_leaves_async_with_as_itself(raised: BaseException) -> None:
    async def body() -> None:
        async with EventEmitter() as emitter:
            emitter.emit_after(60, "later")
            raise raised

    with pytest.raises(type(raised)) as caught:
        await body()
    assert caught.value is raised


async def test_close_cancels_background_work() -> None:
    async with EventEmitter() as emitter:
        handle = emitter.emit_periodic(60, "tick")
        emitter.close()
        with anyio.fail_after(5):
            await handle.wait()
        assert handle.cancelled
        with pytest.raises(EventEmitError, match=r"emitter is closed: cannot call emit_after\(\)"):
            emitter.emit_after(1, "x")


async def test_background_emits_ignore_the_callers_batch() -> None:
    emitter = EventEmitter()
    with record_events(emitter) as seen:
        async with emitter, emitter.batch():
            await emitter.emit_soon("background").wait()
            assert seen.pairs == [("background", None)]
            await emitter.emit("deferred")
            assert seen.pairs == [("background", None)]
        assert seen.pairs == [("background", None), ("deferred", None)]


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (-1, ValueError, "invalid delay -1: must be a finite number >= 0"),
        (float("nan"), ValueError, "invalid delay nan"),
        (float("inf"), ValueError, "invalid delay inf"),
        (True, TypeError, "delay must be a number of seconds, not bool: True"),
        ("1", TypeError, "delay must be a number of seconds, not str: '1'"),
        (None, TypeError, "delay must be a number of seconds, not NoneType: None"),
    ],
)
async def test_bad_delays_are_rejected(value: Any, error: type[Exception], message: str) -> None:
    async with EventEmitter() as emitter:
        with pytest.raises(error, match=message):
            emitter.emit_after(value, "x")


@pytest.mark.parametrize(
    ("interval", "max_count", "error", "message"),
    [
        (0, None, ValueError, "invalid interval 0: must be a finite number > 0"),
        (-0.5, None, ValueError, r"invalid interval -0\.5"),
        (float("nan"), None, ValueError, "invalid interval nan"),
        (False, None, TypeError, "interval must be a number of seconds, not bool: False"),
        (1, 0, ValueError, "invalid max_count 0: must be >= 1"),
        (1, True, TypeError, "max_count must be an int or None, not bool: True"),
        (1, 2.5, TypeError, r"max_count must be an int or None, not float: 2\.5"),
    ],
)
async def test_bad_intervals_and_counts_are_rejected(
    interval: Any, max_count: Any, error: type[Exception], message: str
) -> None:
    async with EventEmitter() as emitter:
        with pytest.raises(error, match=message):
            emitter.emit_periodic(interval, "x", max_count=max_count)


async def test_names_and_metadata_are_checked_when_scheduling() -> None:
    async with EventEmitter() as emitter:
        with pytest.raises(ValueError, match="invalid event name 'a b'"):
            emitter.emit_after(1, "a b")
        with pytest.raises(TypeError, match="metadata must be a mapping, not list"):
            emitter.emit_soon("x", None, [1])  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="event name must be a str"):
            emitter.emit_periodic(1, 5)  # type: ignore[arg-type]
