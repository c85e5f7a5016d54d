"""Checks of the arguments public entry points share: each error names the bad value."""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeVar, cast, get_args

from ._topics import validate_pattern

K = TypeVar("K")


def check_count(
    value: object, what: str, minimum: int, *, maximum: int | None = None, optional: bool = False
) -> int:
    """Return *value* if it is an ``int`` (not a ``bool``) of at least *minimum*, else raise.

    :param maximum: the largest value allowed, if there is one
    :param optional: the caller also accepts ``None`` (checked by the caller); the type
        error says so
    """
    if isinstance(value, bool) or not isinstance(value, int):
        expected = "an int or None" if optional else "an int"
        raise TypeError(f"{what} must be {expected}, not {type(value).__name__}: {value!r}")
    if value < minimum:
        raise ValueError(f"invalid {what} {value!r}: must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise ValueError(f"invalid {what} {value!r}: must be <= {maximum}")
    return value


def check_seconds(
    value: object,
    what: str,
    *,
    positive: bool = False,
    infinite: bool = False,
    optional: bool = False,
) -> float:
    """Return *value* as a float if it is a finite, non-negative number of seconds, else raise.

    :param positive: zero is not allowed either
    :param infinite: ``math.inf`` is allowed too (no limit)
    :param optional: the caller also accepts ``None`` (checked by the caller); the type
        error says so
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        expected = "a number of seconds or None" if optional else "a number of seconds"
        raise TypeError(f"{what} must be {expected}, not {type(value).__name__}: {value!r}")
    if (
        math.isnan(value)
        or (math.isinf(value) and not infinite)
        or value < 0
        or (positive and value == 0)
    ):
        bound = "> 0" if positive else ">= 0"
        kind = "a number" if infinite else "a finite number"
        raise ValueError(f"invalid {what} {value!r}: must be {kind} {bound}")
    return float(value)


def check_metadata(metadata: object) -> Mapping[str, Any]:
    """Return *metadata* if it is a mapping, else raise ``TypeError``."""
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a mapping, not {type(metadata).__name__}: {metadata!r}")
    return metadata


# -- the emitter ------------------------------------------------------------------------


def check_bool(value: object, what: str, *, optional: bool = False) -> None:
    """Raise ``TypeError`` unless *value* is ``True`` or ``False`` (or ``None``, if *optional*)."""
    if value is True or value is False or (optional and value is None):
        return
    expected = "a bool or None" if optional else "a bool"
    raise TypeError(f"{what} must be {expected}, not {type(value).__name__}: {value!r}")


def check_choice(value: object, what: str, choices: tuple[str, ...]) -> None:
    """Raise ``ValueError`` unless *value* is one of *choices*."""
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}: expected one of {', '.join(choices)}")


def check_callable(function: object, what: str, arguments: int | None = 1) -> None:
    """Raise ``TypeError`` unless *function* is callable with *arguments* positional arguments.

    The arguments are bound to its :func:`inspect.signature`; a callable without one
    (some builtins) is accepted. ``None`` checks only that it is callable.
    """
    if not callable(function):
        raise TypeError(f"{what} must be callable, not {type(function).__name__}: {function!r}")
    if arguments is None:
        return
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # no signature to check
        return
    try:
        signature.bind(*(None,) * arguments)
    except TypeError:
        expected = f"{arguments} positional argument{'s' if arguments != 1 else ''}"
        raise TypeError(
            f"{what} must accept {expected}, but {function!r} has the signature {signature}"
        ) from None


def is_async_callable(function: object) -> bool:
    """Whether *function* is an ``async def`` function, or an object with an async ``__call__``."""
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004 - callable objects with async __call__
    )


def generator_kind(function: object) -> Literal["sync", "async"] | None:
    """Whether *function* (or an object's ``__call__``) is a generator function, and which."""
    call = getattr(function, "__call__", None)  # noqa: B004 - callable objects count too
    if inspect.isasyncgenfunction(function) or inspect.isasyncgenfunction(call):
        return "async"
    if inspect.isgeneratorfunction(function) or inspect.isgeneratorfunction(call):
        return "sync"
    return None


def check_handler(
    handler: object,
    what: str = "handler",
    *,
    to_thread: bool = False,
    timeout: float | None = None,
) -> None:
    """Raise ``TypeError`` unless *handler* can be registered: a function (``async def``,
    plain, or a generator function of either kind) or callable object that takes the event.

    :param to_thread: it will run in a worker thread, so it must be sync
    :param timeout: it will be cancelled after that long, so it must not run in the event
        loop's thread as a plain function (nothing could stop it there)
    """
    check_callable(handler, what)
    kind = generator_kind(handler)
    if to_thread and (is_async_callable(handler) or kind == "async"):
        raise TypeError(f"to_thread=True needs a plain (sync) function, got async {handler!r}")
    if timeout is not None and not to_thread and not is_async_callable(handler) and kind != "async":
        raise TypeError(
            f"timeout={timeout!r} needs an async {what} or to_thread=True: a plain function "
            f"runs in the event loop's thread, where nothing can interrupt it: {handler!r}"
        )


def check_condition(condition: object, what: str = "condition") -> None:
    """Raise ``TypeError`` unless *condition* is a plain (sync) callable that takes the event."""
    check_callable(condition, what)
    if is_async_callable(condition):
        raise TypeError(
            f"{what} must be a plain function returning a bool, not async: {condition!r}"
        )


def check_priority(priority: object) -> int:
    """Return *priority* if it is an :class:`~mtbus.EventPriority` or ``int`` (not a ``bool``).

    Every ``int`` is a priority: :attr:`~mtbus.EventPriority.MONITOR` runs after all of them.
    """
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(
            f"priority must be an EventPriority or int, not {type(priority).__name__}: {priority!r}"
        )
    return priority


# -- channels ---------------------------------------------------------------------------

#: What happens when a message reaches a subscriber whose queue is full.
Overflow = Literal["block", "drop_oldest", "drop_newest", "error"]
OVERFLOW_POLICIES: frozenset[str] = frozenset(get_args(Overflow))


def check_instance(value: object, kind: type[K], what: str) -> K:
    """Return *value* if it is a *kind*, else raise ``TypeError`` naming it."""
    if not isinstance(value, kind):
        article = "an" if kind.__name__[0] in "AEIOU" else "a"
        raise TypeError(
            f"{what} must be {article} {kind.__name__}, not {type(value).__name__}: {value!r}"
        )
    return value


def check_buffer_size(value: object) -> int:
    """A queue capacity: an ``int`` of at least 0 (``0``: unbounded)."""
    return check_count(value, "buffer_size", minimum=0)


def check_overflow(value: object) -> Overflow:
    """One of the :data:`Overflow` policies."""
    if not isinstance(value, str):
        raise TypeError(f"overflow must be a str, not {type(value).__name__}: {value!r}")
    if value not in OVERFLOW_POLICIES:
        choices = ", ".join(repr(policy) for policy in sorted(OVERFLOW_POLICIES))
        raise ValueError(f"invalid overflow policy {value!r}: expected one of {choices}")
    return cast("Overflow", value)


def check_topics(topics: object) -> tuple[str, ...] | None:
    """What a subscriber asked for: one pattern or an iterable of them, without duplicates
    (``None``: every topic)."""
    if topics is None:
        return None
    if isinstance(topics, str):
        return (validate_pattern(topics, kind="topic pattern"),)
    # bytes and bytearray are iterables of ints, and would be refused one int at a time
    if not isinstance(topics, Iterable) or isinstance(topics, bytes | bytearray):
        raise TypeError(
            f"topics must be a pattern or an iterable of patterns, not "
            f"{type(topics).__name__}: {topics!r}"
        )
    patterns = tuple(dict.fromkeys(validate_pattern(p, kind="topic pattern") for p in topics))
    if not patterns:
        raise ValueError("topics must not be empty: pass None to receive every message")
    return patterns


def check_subscription(since: object, group: object, consumer: object) -> None:
    """The options of a subscription that a backend honours: ``str`` or ``None`` each, a
    group and consumer name not empty, and a consumer only within a group."""
    for option, value in (("since", since), ("group", group), ("consumer", consumer)):
        if value is not None and not isinstance(value, str):
            raise TypeError(
                f"{option} must be a str or None, not {type(value).__name__}: {value!r}"
            )
    for option, value in (("group", group), ("consumer", consumer)):
        if value == "":
            raise ValueError(f"{option} must not be empty")
    if consumer is not None and group is None:
        raise ValueError(f"consumer={consumer!r} needs a group")


def check_batch_item(item: object) -> tuple[Any, Any, Any]:
    """One item of a publisher's batch: a ``(data, topic, metadata)`` tuple."""
    if not isinstance(item, tuple) or len(item) != 3:
        raise TypeError(
            f"publish_batch takes (data, topic, metadata) tuples or Messages, "
            f"not {type(item).__name__}: {item!r}"
        )
    return item
