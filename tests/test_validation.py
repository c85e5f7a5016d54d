"""Bad input to every EventEmitter entry point gets a clear error naming the value."""

from __future__ import annotations

import functools
import math
import re
from typing import TYPE_CHECKING, Any

import anyio
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
        (None, TypeError, "must be a str or an instance of an event class, not NoneType: None"),
        (["a"], TypeError, "must be a str or an instance of an event class, not list: ['a']"),
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
        await EventEmitter().emit("x", metadata=[1])  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("priority", "error", "message"),
    [
        ("high", TypeError, "priority must be an EventPriority or int, not str: 'high'"),
        (1.5, TypeError, "priority must be an EventPriority or int, not float: 1.5"),
        (True, TypeError, "priority must be an EventPriority or int, not bool: True"),
        (None, TypeError, "priority must be an EventPriority or int, not NoneType: None"),
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

    async def async_generator(event: Event[Any]) -> Any:
        yield event

    async def coroutine(event: Event[Any]) -> None:
        pass

    def plain(event: Event[Any]) -> None:
        pass

    with pytest.raises(TypeError, match=re.escape("handler must be callable, not str: 'nope'")):
        emitter.on("x", "nope")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="handler must be callable, not int: 3"):
        emitter.once("x")(3)  # type: ignore[type-var]
    with pytest.raises(TypeError, match="to_thread=True needs a plain"):
        emitter.on("x", coroutine, to_thread=True)
    with pytest.raises(TypeError, match="to_thread=True needs a plain"):
        emitter.on("x", async_generator, to_thread=True)
    # Nothing can interrupt a plain function running in the event loop's thread.
    with pytest.raises(TypeError, match=r"timeout=1\.0 needs an async handler or to_thread=True"):
        emitter.on("x", plain, timeout=1)
    with pytest.raises(TypeError, match=r"timeout=1\.0 needs an async handler"):
        emitter.on("x", timeout=1)(plain)
    with pytest.raises(ValueError, match=r"invalid timeout 0: must be a number > 0"):
        emitter.on("x", coroutine, timeout=0)
    with pytest.raises(ValueError, match=r"invalid timeout nan"):
        emitter.on("x", timeout=math.nan)
    with pytest.raises(TypeError, match=r"timeout must be a number of seconds or None, not str"):
        emitter.once("x", coroutine, timeout="1")  # type: ignore[call-overload]
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
        ({"timeout": -1}, ValueError, "invalid timeout -1: must be a number >= 0"),
        ({"timeout": -math.inf}, ValueError, "invalid timeout -inf: must be a number >= 0"),
        ({"timeout": math.nan}, ValueError, "invalid timeout nan: must be a number >= 0"),
        ({"timeout": "5"}, TypeError, "timeout must be a number of seconds or None, not str: '5'"),
        ({"timeout": True}, TypeError, "timeout must be a number of seconds or None, not bool"),
        ({"check": 1}, TypeError, "check must be callable, not int: 1"),
        ({"check": lambda: True}, TypeError, "check must accept 1 positional argument, but"),
    ],
)
async def test_wait_for_rejects_bad_arguments(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    emitter = EventEmitter()
    with anyio.fail_after(5), pytest.raises(error, match=re.escape(message)):
        await emitter.wait_for("x", **kwargs)
    with pytest.raises(ValueError, match=re.escape("invalid event name or pattern 'a..'")):
        await emitter.wait_for("a..")
    assert emitter.listener_count() == 0


async def test_wait_for_accepts_zero_int_float_and_infinite_timeouts() -> None:
    emitter = EventEmitter()
    for timeout in (0, 0.0):
        with pytest.raises(TimeoutError):
            await emitter.wait_for("x", timeout=timeout)
    async with anyio.create_task_group() as group:
        limits: tuple[float | None, ...] = (math.inf, 5, None)
        for limit in limits:
            group.start_soon(emitter.wait_for, "x", limit)
        await anyio.wait_all_tasks_blocked()
        assert emitter.listener_count("x") == 3
        await emitter.emit("x")
    assert emitter.listener_count() == 0


# -- flags must be bools ------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 0, "yes", None, 1.0], ids=repr)
def test_registration_flags_must_be_bools(value: object) -> None:
    emitter = EventEmitter()
    for flag in ("to_thread", "once", "batched"):
        message = re.escape(f"{flag} must be a bool, not {type(value).__name__}: {value!r}")
        kwargs: dict[str, Any] = {flag: value}
        if flag != "once":
            with pytest.raises(TypeError, match=message):
                emitter.on("x", noop, **kwargs)
            with pytest.raises(TypeError, match=message):
                emitter.once("x", **kwargs)  # the decorator line
        with pytest.raises(TypeError, match=message):
            emitter.add_listener("x", noop, **kwargs)
    assert emitter.listener_count() == 0


@pytest.mark.parametrize("value", [1, "no", 0.0, []], ids=repr)
async def test_strict_and_concurrent_must_be_bools(value: Any) -> None:
    for option in ("strict", "concurrent"):
        message = re.escape(f"{option} must be a bool, not {type(value).__name__}: {value!r}")
        with pytest.raises(TypeError, match=message):
            EventEmitter(**{option: value})
        emitter = EventEmitter()
        ran: list[Event[Any]] = []
        emitter.on("x", ran.append)
        per_emit = re.escape(
            f"{option} must be a bool or None, not {type(value).__name__}: {value!r}"
        )
        with pytest.raises(TypeError, match=per_emit):
            await emitter.emit("x", **{option: value})
        async with emitter.batch():  # the path emits take while a batch is open
            with pytest.raises(TypeError, match=per_emit):
                await emitter.emit("x", **{option: value})
        assert ran == []
    message = re.escape(f"strict must be a bool or None, not {type(value).__name__}: {value!r}")
    emitter = EventEmitter()
    with pytest.raises(TypeError, match=message):
        await emitter.replay_events([], strict=value)
    async with emitter:
        with pytest.raises(TypeError, match=message):
            emitter.emit_soon("x", strict=value)
        with pytest.raises(TypeError, match=message):
            emitter.emit_after(1, "x", strict=value)
        with pytest.raises(TypeError, match=message):
            emitter.emit_periodic(1, "x", strict=value)


async def test_bools_and_none_are_accepted_for_strict_and_concurrent() -> None:
    for strict in (True, False):
        for concurrent in (True, False):
            emitter = EventEmitter(strict=strict, concurrent=concurrent)
            emitter.on("x", noop)
            for per_emit in (True, False, None):
                await emitter.emit("x", strict=per_emit, concurrent=per_emit)


# -- handlers and hooks must take their arguments -----------------------------------------


def no_arguments() -> None:
    pass


def two_arguments(event: Event[Any], other: object) -> None:
    pass


def keyword_only(event: Event[Any], *, extra: object) -> None:
    pass


@pytest.mark.parametrize("function", [no_arguments, two_arguments, keyword_only])
async def test_one_argument_callables_that_cannot_take_the_event_are_refused(
    function: Callable[..., Any],
) -> None:
    emitter = EventEmitter()
    shown = re.escape(f"{function!r} has the signature")
    registrations: list[tuple[str, Callable[[], object]]] = [
        ("handler", lambda: emitter.on("x", function)),
        ("handler", lambda: emitter.on("x", batched=True)(function)),
        ("handler", lambda: emitter.once("x", function, to_thread=True)),
        ("handler", lambda: emitter.add_listener("x", function)),
        ("condition", lambda: emitter.on("x", condition=function)),
        ("condition", lambda: emitter.add_listener("x", noop, condition=function)),
        ("predicate", lambda: emitter.filter(function)),
        ("transform", lambda: emitter.map(function)),
        ("before_emit hook", lambda: emitter.add_hook("before_emit", function)),
        ("after_emit hook", lambda: emitter.add_hook("after_emit", function)),
    ]
    for what, register in registrations:
        message = f"{what} must accept 1 positional argument, but {shown}"
        with pytest.raises(TypeError, match=message):
            register()
    with pytest.raises(TypeError, match=f"check must accept 1 positional argument, but {shown}"):
        await emitter.wait_for("x", check=function)
    assert emitter.listener_count() == 0


def test_on_error_hooks_must_take_event_error_and_handler() -> None:
    emitter = EventEmitter()

    def two(event: Event[Any], error: Exception) -> None:
        pass

    with pytest.raises(
        TypeError, match=re.escape(f"on_error hook must accept 3 positional arguments, but {two!r}")
    ):
        emitter.add_hook("on_error", two)  # type: ignore[call-overload]
    emitter.add_hook("on_error", lambda event, error, handler: None)
    emitter.add_hook("on_error", lambda *args: None)


async def test_providers_must_take_no_arguments() -> None:
    async with EventEmitter() as emitter:
        message = re.escape(f"data provider must accept 0 positional arguments, but {noop!r}")
        with pytest.raises(TypeError, match=message):
            emitter.emit_periodic(1, "x", noop)
        with pytest.raises(TypeError, match="metadata provider must accept 0 positional arguments"):
            emitter.emit_periodic(1, "x", None, noop)  # type: ignore[arg-type]


class Service:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def handle(self, event: Event[Any]) -> None:
        self.seen.append(f"method {event.name}")

    def __call__(self, event: Event[Any]) -> None:
        self.seen.append(f"object {event.name}")

    def two(self, event: Event[Any], label: str) -> None:
        self.seen.append(f"{label} {event.name}")


async def test_partials_methods_objects_star_args_and_builtins_are_accepted() -> None:
    emitter = EventEmitter()
    service = Service()
    seen: list[str] = []

    def star_args(*args: Any) -> None:
        seen.append(f"star {args[0].name}")

    def defaults(event: Event[Any], label: str = "default") -> None:
        seen.append(f"{label} {event.name}")

    async def tagged(label: str, event: Event[Any]) -> None:
        seen.append(f"{label} {event.name}")

    emitter.on("x", service.handle)
    emitter.on("x", service)
    emitter.on("x", functools.partial(service.two, label="partial"))
    emitter.on("x", star_args)
    emitter.on("x", defaults)
    emitter.on("x", functools.partial(tagged, "async partial"))
    emitter.on("x", functools.partial(defaults, label="thread"), to_thread=True)
    emitter.on("never", vars)  # a builtin without a signature: nothing to check
    emitter.on("x", noop, condition=functools.partial(lambda wanted, e: e.name == wanted, "x"))
    emitter.add_hook("before_emit", lambda *events: None)
    await emitter.emit("x")
    assert service.seen == ["method x", "object x", "partial x"]
    assert seen == ["star x", "default x", "async partial x", "thread x"]
