"""The record an emitter keeps for each registered handler, built once at registration."""

from __future__ import annotations

import threading
from collections.abc import Callable
from inspect import isawaitable
from typing import TYPE_CHECKING, Any, TypeAlias

import anyio.to_thread

from .._core._checks import generator_kind, is_async_callable
from .._core._event import Event, EventPriority

if TYPE_CHECKING:
    from collections.abc import Awaitable

#: A handler takes the :class:`~mtbus.Event` and may be ``async def`` or a plain function.
Handler: TypeAlias = Callable[["Event[Any]"], Any]
#: A condition takes the :class:`~mtbus.Event` and says whether the handler should run.
Condition: TypeAlias = Callable[["Event[Any]"], bool]
#: How a once-listener run in a worker thread unregisters itself once the thread ran it.
Remover: TypeAlias = Callable[[], "Callable[[Listener], None] | None"]


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
        "collected",
        "condition",
        "event_type",
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
        "threaded",
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
        timeout: float | None = None,
        batched: bool = False,
        role: str = "handler",
        callback: Handler | None = None,
        remover: Remover | None = None,
        event_type: type[Any] | None = None,
    ) -> None:
        #: The name or pattern it is registered under (a class's event name for a class).
        self.key = key
        #: The event class it was registered for (``None``: registered by name): it then
        #: runs only for events emitted as instances of that class or of a subclass.
        self.event_type = event_type
        #: What log lines call it: ``"handler"``, or ``"before_emit hook"`` and the like.
        self.role = role
        #: The function as the user registered it: what ``off()`` and ``listeners()`` compare.
        self.handler = handler
        #: A handler of the user's (not a hook, waiter or forwarder): ``collect`` lists it.
        self.collected = role == "handler" and callback is None
        self.priority = priority
        self.monitor = priority == EventPriority.MONITOR
        #: Registration order among the emitter's listeners, set when it is registered.
        self.sequence = 0
        self.condition = condition
        self.once = once
        #: A once-listener that an emit took: it runs no more (see ``EmitterCore._use_up``).
        self.spent = False
        self.guarded = once or condition is not None
        #: Its handler runs in a worker thread: a once-listener is then used up only when
        #: the thread starts it, and unregistered by *remover* once it ran.
        self.threaded = to_thread
        # What dispatch calls is built from the inside out: the handler (a generator
        # handler drained into a list), run in a worker thread, bounded by the timeout.
        # Every layer returns the handler's value, which only collected results read.
        # An internal listener is shown as *handler* and runs *callback* as it is.
        call = callback if callback is not None else _drained(handler)
        if to_thread:
            abandon = timeout is not None  # a timeout must not wait for the thread
            if once:
                if remover is None:
                    raise ValueError("a once-listener run in a worker thread needs a remover")
                call = _once_in_worker_thread(self, call, remover, abandon)
            else:
                call = _in_worker_thread(call, abandon)
        if timeout is not None:
            call = _within(call, timeout, handler)
        self.is_async = is_async_callable(call)
        self.callback = call
        #: A batched handler takes a list of events: inside a batch, the batch's matching
        #: events (called by the batch's commit); outside, a list of the one event emitted.
        self.batched = batched
        self.batch_callback = self.callback
        if batched:
            self.callback = _as_one_element_batch(key, self.callback)
            self.is_async = False  # the wrapper returns the handler's awaitable, if any


def describe(handler: object) -> str:
    """A short human name for a handler, for log lines and error messages."""
    named = handler if hasattr(handler, "__qualname__") else type(handler)
    name = f"{named.__module__}.{named.__qualname__}"
    return name if named is handler else f"{name} object"


def _as_one_element_batch(key: str, callback: Handler) -> Handler:
    def deliver_as_batch(event: Event[Any]) -> Any:
        return callback(batch_event(key, [event]))

    return deliver_as_batch


def batch_event(key: str, events: list[Event[Any]]) -> Event[list[Event[Any]]]:
    """The event a batched handler receives: named after its key, with the events as data."""
    return Event(key, events)


def _drained(handler: Handler) -> Handler:
    """*handler* itself, or for a generator function one that runs the generator to its end
    and returns what it yielded, as a list."""
    kind = generator_kind(handler)
    if kind == "sync":

        def drain(event: Event[Any]) -> list[Any]:
            return list(handler(event))

        return drain
    if kind == "async":

        async def drain_async(event: Event[Any]) -> list[Any]:
            return [value async for value in handler(event)]

        return drain_async
    return handler


def _within(
    callback: Callable[[Event[Any]], Awaitable[Any]], seconds: float, handler: Handler
) -> Callable[[Event[Any]], Awaitable[Any]]:
    """Cancel *callback* after *seconds*, and fail with :exc:`TimeoutError` then."""

    async def run_within_timeout(event: Event[Any]) -> Any:
        with anyio.move_on_after(seconds):
            return await callback(event)
        raise TimeoutError(f"{describe(handler)} ran past its timeout of {seconds:g} s")

    return run_within_timeout


def _in_worker_thread(handler: Handler, abandon: bool) -> Callable[[Event[Any]], Awaitable[Any]]:
    def call(event: Event[Any]) -> tuple[Any]:
        # Boxed: trio refuses a thread's result that is a coroutine; it is awaited below.
        return (handler(event),)

    async def run_in_worker_thread(event: Event[Any]) -> Any:
        (result,) = await anyio.to_thread.run_sync(call, event, abandon_on_cancel=abandon)
        if result is not None and isawaitable(result):  # awaited in the loop, as for any handler
            return await result
        return result

    return run_in_worker_thread


def _once_in_worker_thread(
    listener: Listener, handler: Handler, remover: Remover, abandon: bool
) -> Callable[[Event[Any]], Awaitable[Any]]:
    """Run a once-listener in a worker thread, and settle it by whether the thread started it.

    The emit that took it marked it spent but left it registered. If the thread started it,
    it is used up (it ran, even if it raised): unregister it. If the emit was cancelled
    before that (while waiting for a thread), it never ran: make it runnable again, still
    registered in its place.
    """

    async def run_once_in_worker_thread(event: Event[Any]) -> Any:
        # Whether the thread started it, decided once under the lock: an abandoned thread
        # (a timeout) may come to it after the emit gave it back, and must not run it then.
        decided = threading.Lock()
        started = given_back = False

        def start(event: Event[Any]) -> tuple[Any]:
            nonlocal started
            with decided:
                if given_back:
                    return (None,)
                started = True
            return (handler(event),)  # boxed, as in _in_worker_thread

        try:
            (result,) = await anyio.to_thread.run_sync(start, event, abandon_on_cancel=abandon)
        finally:
            with decided:
                given_back = not started
            if given_back:
                listener.spent = False
            else:
                remove = remover()
                if remove is not None:
                    remove(listener)
        if result is not None and isawaitable(result):
            return await result
        return result

    return run_once_in_worker_thread
