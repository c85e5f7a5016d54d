"""The record an emitter keeps for each registered handler, built once at registration."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

import anyio.to_thread

from .._core._event import Event, EventPriority

if TYPE_CHECKING:
    from collections.abc import Awaitable

#: A handler takes the :class:`~mtbus.Event` and may be ``async def`` or a plain function.
Handler: TypeAlias = Callable[["Event[Any]"], Any]
#: A condition takes the :class:`~mtbus.Event` and says whether the handler should run.
Condition: TypeAlias = Callable[["Event[Any]"], bool]


class Listener:
    """One registration: the handler as given, and everything dispatch needs, precomputed.

    Dispatch reads these slots on every emit, so nothing here is computed per emit:
    what to call, whether to await it, whether a guard (condition or once) must be checked
    first, and the priority and registration order that place it among the other listeners.
    """

    __slots__ = (
        "batch_callback",
        "batched",
        "callback",
        "condition",
        "guarded",
        "handler",
        "is_async",
        "key",
        "monitor",
        "once",
        "priority",
        "role",
        "sequence",
        "spent",
    )

    def __init__(
        self,
        key: str,
        handler: Handler,
        *,
        priority: int,
        condition: Condition | None = None,
        once: bool = False,
        to_thread: bool = False,
        batched: bool = False,
        role: str = "handler",
        callback: Handler | None = None,
    ) -> None:
        self.key = key
        #: What log lines call it: ``"handler"``, or ``"before_emit hook"`` and the like.
        self.role = role
        #: The function as the user registered it: what ``off()`` and ``listeners()`` compare.
        self.handler = handler
        self.priority = priority
        self.monitor = priority == EventPriority.MONITOR
        #: Registration order among the emitter's listeners, set when it is registered.
        self.sequence = 0
        self.condition = condition
        self.once = once
        self.spent = False
        self.guarded = once or condition is not None
        if callback is not None:  # internal listeners: shown as *handler*, run *callback*
            self.callback: Handler = callback
            self.is_async = _is_async_callable(callback)
        elif to_thread:
            self.callback = _in_worker_thread(handler)
            self.is_async = True
        else:
            self.callback = handler
            self.is_async = _is_async_callable(handler)
        #: A batched handler takes a list of events: inside a batch, the batch's matching
        #: events (called by the batch's commit); outside, a list of the one event emitted.
        self.batched = batched
        self.batch_callback = self.callback
        if batched:
            self.callback = _as_one_element_batch(key, self.callback)
            self.is_async = False  # the wrapper returns the handler's awaitable, if any


def check_handler(handler: object, *, to_thread: bool = False) -> None:
    """Raise :exc:`TypeError` if *handler* cannot be registered as an event handler."""
    if not callable(handler):
        raise TypeError(f"handler must be callable, not {type(handler).__name__}: {handler!r}")
    if inspect.isgeneratorfunction(handler) or inspect.isasyncgenfunction(handler):
        raise TypeError(
            f"handler must be a function or coroutine function, not a generator function: "
            f"{handler!r}"
        )
    if to_thread and _is_async_callable(handler):
        raise TypeError(f"to_thread=True needs a plain (sync) function, got async {handler!r}")


def check_condition(condition: object) -> None:
    """Raise :exc:`TypeError` unless *condition* is a plain (sync) callable."""
    if not callable(condition):
        raise TypeError(
            f"condition must be callable, not {type(condition).__name__}: {condition!r}"
        )
    if _is_async_callable(condition):
        raise TypeError(
            f"condition must be a plain function returning a bool, not async: {condition!r}"
        )


def check_priority(priority: object) -> int:
    """Return *priority* as an int, or raise if it is not a valid priority."""
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(
            f"priority must be an EventPriority or int, not {type(priority).__name__}: {priority!r}"
        )
    if priority < EventPriority.MONITOR:
        raise ValueError(
            f"invalid priority {priority!r}: must not be below EventPriority.MONITOR "
            f"({int(EventPriority.MONITOR)})"
        )
    return priority


def describe(handler: object) -> str:
    """A short human name for a handler, for log lines and error messages."""
    named = handler if hasattr(handler, "__qualname__") else type(handler)
    name = f"{named.__module__}.{named.__qualname__}"
    return name if named is handler else f"{name} object"


def _is_async_callable(handler: object) -> bool:
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - callable objects with async __call__
    )


def _as_one_element_batch(key: str, callback: Handler) -> Handler:
    def deliver_as_batch(event: Event[Any]) -> Any:
        return callback(batch_event(key, [event]))

    return deliver_as_batch


def batch_event(key: str, events: list[Event[Any]]) -> Event[list[Event[Any]]]:
    """The event a batched handler receives: named after its key, with the events as data."""
    return Event(key, events)


def _in_worker_thread(handler: Handler) -> Callable[[Event[Any]], Awaitable[Any]]:
    async def run_in_worker_thread(event: Event[Any]) -> Any:
        return await anyio.to_thread.run_sync(handler, event)

    return run_in_worker_thread
