"""Bad input to every EventEmitter entry point gets a clear error naming the value."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest

from mtbus import Event, EventEmitter, EventPriority

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.anyio


def noop(event: Event[Any]) -> None:
    pass


BAD_NAMES: list[tuple[object, type[Exception], str]] = [
    ("", ValueError, "invalid event name or pattern '': empty"),
    ("a..b", ValueError, "invalid event name or pattern 'a..b': empty segment"),
    (".a", ValueError, "invalid event name or pattern '.a': empty segment"),
    ("a b", ValueError, "invalid event name or pattern 'a b': contains whitespace"),
    ("us*er", ValueError, "invalid event name or pattern 'us*er': '*' and '#' must stand alone"),
    ("a.#b", ValueError, "invalid event name or pattern 'a.#b': '*' and '#' must stand alone"),
    (None, TypeError, "event name or pattern must be a str, not NoneType: None"),
    (5, TypeError, "event name or pattern must be a str, not int: 5"),
    (b"a", TypeError, "event name or pattern must be a str, not bytes: b'a'"),
]


@pytest.mark.parametrize(("name", "error", "message"), BAD_NAMES)
def test_registration_rejects_bad_names(name: Any, error: type[Exception], message: str) -> None:
    emitter = EventEmitter()
    calls: list[Callable[[], object]] = [
        lambda: emitter.on(name),
        lambda: emitter.on(name, noop),
        lambda: emitter.once(name),
        lambda: emitter.add_listener(name, noop),
        lambda: emitter.remove_listener(name, noop),
        lambda: emitter.listeners(name),
    ]
    if name is not None:  # None means "every name" to these two
        calls += [lambda: emitter.remove_all_listeners(name), lambda: emitter.listener_count(name)]
    for call in calls:
        with pytest.raises(error, match=re.escape(message)):
            call()
    assert emitter.listener_count() == 0


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("", ValueError, "invalid event name '': empty"),
        ("a..b", ValueError, "invalid event name 'a..b': empty segment"),
        ("user.*", ValueError, "invalid event name 'user.*': wildcards '*' and '#' are only"),
        ("#", ValueError, "invalid event name '#': wildcards"),
        ("tab\tname", ValueError, "invalid event name 'tab\\tname': contains whitespace"),
        (None, TypeError, "event name must be a str, not NoneType: None"),
        (["a"], TypeError, "event name must be a str, not list: ['a']"),
    ],
)
async def test_emit_rejects_bad_names_before_running_anything(
    name: Any, error: type[Exception], message: str
) -> None:
    emitter = EventEmitter()
    calls: list[str] = []
    emitter.on("#", lambda e: calls.append(e.name))
    with pytest.raises(error, match=re.escape(message)):
        await emitter.emit(name)
    assert calls == []


async def test_emit_rejects_metadata_that_is_not_a_mapping() -> None:
    with pytest.raises(TypeError, match=re.escape("metadata must be a mapping, not list: [1]")):
        await EventEmitter().emit("x", metadata=[1])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("priority", "error", "message"),
    [
        ("high", TypeError, "priority must be an EventPriority or int, not str: 'high'"),
        (1.5, TypeError, "priority must be an EventPriority or int, not float: 1.5"),
        (True, TypeError, "priority must be an EventPriority or int, not bool: True"),
        (-1001, ValueError, "invalid priority -1001: must not be below EventPriority.MONITOR"),
    ],
)
def test_bad_priorities_are_rejected(priority: Any, error: type[Exception], message: str) -> None:
    emitter = EventEmitter()
    with pytest.raises(error, match=re.escape(message)):
        emitter.on("x", priority=priority)
    with pytest.raises(error, match=re.escape(message)):
        emitter.add_listener("x", noop, priority=priority)
    assert emitter.listener_count() == 0


def test_monitor_value_as_a_plain_int_means_monitor() -> None:
    emitter = EventEmitter()
    emitter.on("x", noop, priority=int(EventPriority.MONITOR))
    assert emitter.listeners("x") == [noop]


def test_bad_handlers_are_rejected() -> None:
    emitter = EventEmitter()

    def generator(event: Event[Any]) -> Any:
        yield event

    async def coroutine(event: Event[Any]) -> None:
        pass

    with pytest.raises(TypeError, match=re.escape("handler must be callable, not str: 'nope'")):
        emitter.on("x", "nope")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="handler must be callable, not int: 3"):
        emitter.once("x")(3)  # type: ignore[type-var]
    with pytest.raises(TypeError, match="not a generator function"):
        emitter.on("x", generator)
    with pytest.raises(TypeError, match="to_thread=True needs a plain"):
        emitter.on("x", coroutine, to_thread=True)
    with pytest.raises(TypeError, match="handler must be callable, not NoneType"):
        emitter.remove_listener("x", None)  # type: ignore[arg-type]
    assert emitter.listener_count() == 0


def test_bad_conditions_are_rejected_at_the_decorator_line() -> None:
    emitter = EventEmitter()

    async def async_condition(event: Event[Any]) -> bool:
        return True

    with pytest.raises(TypeError, match=re.escape("condition must be callable, not bool: True")):
        emitter.on("x", condition=True)  # type: ignore[call-overload]
    # An async condition would return a (truthy) coroutine: refuse it instead of always passing.
    with pytest.raises(TypeError, match="condition must be a plain function returning a bool"):
        emitter.add_listener("x", noop, condition=async_condition)  # type: ignore[arg-type]
    assert emitter.listener_count() == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"timeout": -1}, ValueError, "invalid timeout -1: must be >= 0"),
        ({"timeout": float("nan")}, ValueError, "invalid timeout nan: must be >= 0"),
        ({"timeout": "5"}, TypeError, "timeout must be a number or None, not str: '5'"),
        ({"check": 1}, TypeError, "check must be callable, not int: 1"),
    ],
)
async def test_wait_for_rejects_bad_arguments(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    emitter = EventEmitter()
    with pytest.raises(error, match=re.escape(message)):
        await emitter.wait_for("x", **kwargs)
    with pytest.raises(ValueError, match=re.escape("invalid event name or pattern 'a..'")):
        await emitter.wait_for("a..")
    assert emitter.listener_count() == 0
