"""EventEmitter: with the ``mtbus`` logger at DEBUG, each emit and each handler is logged
with its duration and outcome; below DEBUG, nothing is."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from mtbus import Event, EventEmitter, EventHandlerError, EventPriority
from mtbus._core._pacing import CHECKPOINT_INTERVAL

pytestmark = pytest.mark.anyio


def debug_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "mtbus" and record.levelno == logging.DEBUG
    ]


def shown(function: Any) -> str:
    return re.escape(f"{function.__module__}.{function.__qualname__}")


async def test_each_emit_and_handler_is_traced_with_duration_and_outcome(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="mtbus")
    emitter = EventEmitter()

    def charge(event: Event[int]) -> str:
        return f"charged {event.data}"

    async def ship(event: Event[int]) -> None:
        raise ValueError("no courier")

    emitter.on("order.placed", charge, priority=EventPriority.HIGH)
    emitter.on("order.*", ship)

    await emitter.emit("order.placed", 42)

    lines = debug_lines(caplog)
    assert len(lines) == 4
    assert lines[0] == "emit 'order.placed': 2 listeners match"
    assert re.fullmatch(
        rf"handler {shown(charge)} for 'order.placed' returned in \d+\.\d{{3}} ms: "
        r"'charged 42'",
        lines[1],
    )
    assert re.fullmatch(
        rf"handler {shown(ship)} for 'order.placed' failed in \d+\.\d{{3}} ms: "
        r"ValueError\('no courier'\)",
        lines[2],
    )
    assert re.fullmatch(r"emit 'order.placed' done in \d+\.\d{3} ms: 2 ran, 1 failed", lines[3])


async def test_a_stopped_emit_a_strict_failure_and_hooks_are_traced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="mtbus")
    emitter = EventEmitter(strict=True)

    def stop(event: Event[Any]) -> None:
        event.propagate = False
        raise KeyError("stop")

    def audit(event: Event[Any]) -> None:
        pass

    emitter.on("x", stop)
    emitter.on("x", lambda event: None, priority=EventPriority.LOW)
    emitter.add_hook("after_emit", audit)

    with pytest.raises(EventHandlerError):
        await emitter.emit("x")

    lines = debug_lines(caplog)
    assert lines[0] == "emit 'x': 3 listeners match"
    assert re.fullmatch(rf"after_emit hook {shown(audit)} for 'x' returned in .*", lines[2])
    assert re.fullmatch(
        r"emit 'x' done in \d+\.\d{3} ms: 2 ran, 1 failed, propagation stopped, "
        r"left with EventHandlerError\(.*\)",
        lines[3],
    )


async def test_concurrent_background_and_derived_emits_are_traced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="mtbus")
    emitter = EventEmitter(concurrent=True)
    child = emitter.filter(lambda event: True)
    emitter.on("x", lambda event: None)
    emitter.on("x", lambda event: None)
    child.on("x", lambda event: None)

    async with emitter:
        handle = emitter.emit_soon("x")
    assert handle.done

    lines = debug_lines(caplog)
    assert lines.count("emit 'x': 3 listeners match") == 1  # two handlers and the filter
    assert lines.count("emit 'x': 1 listener matches") == 1  # the child's own emit
    assert sum(line.startswith("emit 'x' done in") for line in lines) == 2


async def test_nothing_is_traced_below_debug_and_results_are_the_same(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mtbus")
    emitter = EventEmitter()
    emitter.on("x", lambda event: event.data * 2)

    assert (await emitter.collect("x", 2)).values == [4]
    await emitter.emit("x", 2)
    assert debug_lines(caplog) == []


async def test_a_level_lowered_to_debug_later_takes_effect_within_the_checkpoint_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Plans are built untraced while DEBUG is off; the emitter looks at the level again
    at its periodic checkpoint (every CHECKPOINT_INTERVAL emits), not on every emit."""
    emitter = EventEmitter()
    emitter.on("x", lambda event: None)
    caplog.set_level(logging.INFO, logger="mtbus")
    await emitter.emit("x")  # builds the plan of 'x', untraced

    caplog.set_level(logging.DEBUG, logger="mtbus")
    await emitter.emit("x")
    assert debug_lines(caplog) == []  # the cached plan is untraced
    for _ in range(CHECKPOINT_INTERVAL):
        await emitter.emit("x")
    assert debug_lines(caplog)[-1].startswith("emit 'x' done in ")  # noticed by then

    caplog.clear()
    emitter.on("x", lambda event: None)  # a change of handlers rebuilds at once, traced
    await emitter.emit("x")
    assert debug_lines(caplog)[0] == "emit 'x': 2 listeners match"

    caplog.clear()
    caplog.set_level(logging.INFO, logger="mtbus")
    await emitter.emit("x")  # traced plans are never cached: DEBUG off takes effect at once
    assert debug_lines(caplog) == []
