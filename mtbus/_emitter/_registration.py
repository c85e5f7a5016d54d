"""Registration: the :class:`~mtbus.EventEmitter` methods that add, remove and list handlers.

A handler is registered under a key: an event name, a pattern, or an event class's event
name (a class's handlers also remember the class, and run only for its instances and its
subclasses'). Each registration is checked whole, then becomes a :class:`Listener` built
once, which the registry places; the plans it affects are rebuilt on their next emit.
"""

from __future__ import annotations

import math
import weakref
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

from .._core._checks import (
    check_bool,
    check_callable,
    check_condition,
    check_handler,
    check_priority,
    check_seconds,
)
from .._core._event import Event, EventPriority
from .._core._topics import TopicMatcher, validate_pattern
from .._core._typed import event_name
from ._dispatch import E, EmitterCore
from ._listener import Listener

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._listener import Condition, Handler

HandlerT = TypeVar("HandlerT", bound="Handler")
#: What a typed handler returns (kept, so the decorated function keeps its type).
R = TypeVar("R")


class TypedDecorator(Protocol[E]):
    """What ``emitter.on(EventClass)`` returns: a decorator for handlers of that class's
    events, which type checkers hold to taking an ``Event[EventClass]``."""

    def __call__(self, handler: Callable[[Event[E]], R], /) -> Callable[[Event[E]], R]: ...


class Registration(EmitterCore):
    """The :class:`~mtbus.EventEmitter` methods that register handlers and query them (a
    mixin)."""

    __slots__ = ()

    @overload
    def on(
        self,
        name: type[E],
        handler: None = None,
        *,
        priority: int = EventPriority.NORMAL,
        condition: Condition | None = None,
        to_thread: bool = False,
        timeout: float | None = None,
    ) -> TypedDecorator[E]: ...

    @overload
    def on(
        self,
        name: type[E],
        handler: Callable[[Event[E]], R],
        *,
        priority: int = EventPriority.NORMAL,
        condition: Condition | None = None,
        to_thread: bool = False,
        timeout: float | None = None,
    ) -> Callable[[Event[E]], R]: ...

    @overload
    def on(
        self,
        name: str,
        handler: None = None,
        *,
        priority: int = EventPriority.NORMAL,
        condition: Condition | None = None,
        to_thread: bool = False,
        timeout: float | None = None,
        batched: bool = False,
    ) -> Callable[[HandlerT], HandlerT]: ...

    @overload
    def on(
        self,
        name: str,
        handler: HandlerT,
        *,
        priority: int = EventPriority.NORMAL,
        condition: Condition | None = None,
        to_thread: bool = False,
        timeout: float | None = None,
        batched: bool = False,
    ) -> HandlerT: ...

    def on(
        self,
        name: str | type[Any],
        handler: Any = None,
        *,
        priority: int = EventPriority.NORMAL,
        condition: Condition | None = None,
        to_thread: bool = False,
        timeout: float | None = None,
        batched: bool = False,
    ) -> Any:
        """Register a handler for an event name or pattern; usable as a decorator.

        ``@emitter.on("order.placed")`` decorates; ``emitter.on("order.placed", fn)`` registers
        directly. Either way the function is returned unchanged. Registering the same function
        twice makes it run twice.

        Given an event class (``@emitter.on(OrderPlaced)``), the handler runs for each
        instance of the class, or of a subclass, emitted (``emit(OrderPlaced(...))``), and
        type checkers know it receives an ``Event[OrderPlaced]``. It is registered under
        the class's event name (:func:`~mtbus.event_name`), which :meth:`listeners` and
        :meth:`event_names` show; an emit by that name alone does not run it.

        :param name: an event name, a pattern with ``*`` (one segment) / ``#`` (any number),
            or an event class
        :param handler: the function to register, or ``None`` to get a decorator
        :param priority: an :class:`~mtbus.EventPriority` or ``int``; higher runs first
        :param condition: called with the event first; the handler is skipped when it returns
            false. A raising condition counts as a failing handler.
        :param to_thread: run a plain (sync) function in a worker thread instead of inline;
            an awaitable it returns is awaited in the event loop
        :param timeout: seconds the handler may run (``None`` or ``math.inf``: no limit);
            past that it is cancelled and fails with :exc:`TimeoutError` (logged, passed to
            the ``on_error`` hooks, raised by a strict emit), and the others still run. It
            needs an ``async`` handler or ``to_thread=True``: a plain function running in
            the event loop cannot be interrupted. A timed-out worker thread is left to
            finish on its own; its result is dropped.
        :param batched: call it with a list of events: once per :meth:`batch_operations`
            block, with the events it matched there (see :class:`~mtbus.Batch`); outside
            a batch, with a list of the one event emitted. The event it receives is named
            after *name*.
        :raises TypeError: if the handler, priority, condition, timeout or a flag has the
            wrong type, the handler or condition cannot be called with one argument (the
            event), *timeout* is given for a plain function run inline, *name* is a class
            that cannot be an event class (a built-in type), or *batched* is given with a
            class (a batch is registered by name)
        :raises ValueError: if the name or pattern is invalid (or the class's declared
            ``__event_name__``), or *timeout* not > 0
        :raises ~mtbus.EventEmitError: if the emitter is closed
        """
        return self._register_or_decorate(
            name, handler, priority, condition, to_thread, timeout, False, batched
        )

    @overload
    def once(
        self,
        name: type[E],
        handler: None = None,
        *,
        priority: int = EventPriority.NORMAL,
        condition: Condition | None = None,
        to_thread: bool = False,
        timeout: float | None = None,
    ) -> TypedDecorator[E]: ...

    @overload
    def once(
        self,
        name: type[E],
        handler: Callable[[Event[E]], R],
        *,
        priority: int = EventPriority.NORMAL,
        condition: Condition | None = None,
        to_thread: bool = False,
        timeout: float | None = None,
    ) -> Callable[[Event[E]], R]: ...

    @overload
    def once(
        self,
        name: str,
        handler: None = None,
        *,
        priority: int = EventPriority.NORMAL,
        condition: Condition | None = None,
        to_thread: bool = False,
        timeout: float | None = None,
        batched: bool = False,
    ) -> Callable[[HandlerT], HandlerT]: ...

    @overload
    def once(
        self,
        name: str,
        handler: HandlerT,
        *,
        priority: int = EventPriority.NORMAL,
        condition: Condition | None = None,
        to_thread: bool = False,
        timeout: float | None = None,
        batched: bool = False,
    ) -> HandlerT: ...

    def once(
        self,
        name: str | type[Any],
        handler: Any = None,
        *,
        priority: int = EventPriority.NORMAL,
        condition: Condition | None = None,
        to_thread: bool = False,
        timeout: float | None = None,
        batched: bool = False,
    ) -> Any:
        """Like :meth:`on`, but the handler runs at most once, then is removed.

        It is removed as it starts running, so an emit from inside it, or a concurrent emit,
        does not run it again. An emit whose ``condition`` rejects it does not use it up.
        With ``to_thread=True`` it is used up when its worker thread starts it: if the emit
        is cancelled before that, it stays registered, in its place, and the next emit
        runs it. :meth:`remove_listener` takes the original function.
        """
        return self._register_or_decorate(
            name, handler, priority, condition, to_thread, timeout, True, batched
        )

    def add_listener(
        self,
        name: str | type[Any],
        handler: HandlerT,
        *,
        priority: int = EventPriority.NORMAL,
        condition: Condition | None = None,
        to_thread: bool = False,
        timeout: float | None = None,
        batched: bool = False,
        once: bool = False,
    ) -> HandlerT:
        """Register *handler* directly (the non-decorator twin of :meth:`on` and :meth:`once`)."""
        self._add(name, handler, priority, condition, to_thread, timeout, once, batched)
        return handler

    def remove_listener(self, name: str | type[Any], handler: Callable[..., Any]) -> bool:
        """Remove the most recent registration of *handler* for exactly *name* (a name,
        pattern or event class).

        Works with the function as it was registered, also for :meth:`once` and
        ``to_thread`` handlers. Takes effect from the next emit.

        :return: whether a registration was found and removed
        :raises TypeError: if *handler* is not callable or *name* is neither a ``str`` nor
            an event class
        :raises ValueError: if *name* is not a valid name or pattern
        """
        key, event_type = key_of(name)
        check_callable(handler, "handler", None)
        listener = self._registry.find(key, handler, event_type)
        if listener is None:
            return False
        self._registry.discard(listener)
        return True

    off = remove_listener

    def remove_all_listeners(self, name: str | type[Any] | None = None) -> int:
        """Remove every handler registered for exactly *name* (a name or pattern: also
        those registered on a class of that event name; an event class: those registered
        on it), or all.

        :return: how many registrations were removed
        """
        if name is None:
            return self._registry.clear()
        return self._registry.discard_key(*key_of(name))

    def listener_count(self, name: str | type[Any] | None = None) -> int:
        """How many handlers are registered for exactly *name* (as :meth:`listeners`
        counts them), or in all."""
        if name is None:
            return self._registry.count()
        return self._registry.count(*key_of(name))

    def listeners(self, name: str | type[Any]) -> list[Callable[..., Any]]:
        """The handlers registered for exactly *name*, in the order they run: for a name
        or pattern, those registered under it (and on classes of that event name); for an
        event class, those registered on it.

        Handlers registered under other patterns that would also match *name* are not
        included, nor those on base classes.
        """
        return [listener.handler for listener in self._registry.ordered(*key_of(name))]

    def event_names(self, pattern: str | None = None) -> list[str]:
        """The names and patterns that have at least one handler, in first-registration order.

        With *pattern*, only those it matches, as it would match an event name: a registered
        pattern's own wildcards count as plain segments, so ``event_names("user.*")`` lists
        ``user.login`` and ``user.*`` but not ``user.#`` or ``user.login.failed``.

        :param pattern: a name or pattern to select with (``None``: all of them)
        :raises TypeError: if *pattern* is neither a ``str`` nor ``None``
        :raises ValueError: if *pattern* is not a valid name or pattern
        """
        keys = self._registry.keys()
        if pattern is None:
            return keys
        selector: TopicMatcher[bool] = TopicMatcher()
        selector.add(validate_pattern(pattern, "event name or pattern"), True)
        return [key for key in keys if selector.match(key)]

    # -- internals ---------------------------------------------------------------------

    def _register_or_decorate(
        self,
        name: str | type[Any],
        handler: HandlerT | None,
        priority: int,
        condition: Condition | None,
        to_thread: bool,
        timeout: float | None,
        once: bool,
        batched: bool,
    ) -> HandlerT | Callable[[HandlerT], HandlerT]:
        if handler is not None:
            self._add(name, handler, priority, condition, to_thread, timeout, once, batched)
            return handler
        # Validate now, so a bad decorator argument fails at the decorator line.
        self._check_registration(name, priority, condition, to_thread, timeout, once, batched)

        def decorator(handler: HandlerT) -> HandlerT:
            self._add(name, handler, priority, condition, to_thread, timeout, once, batched)
            return handler

        return decorator

    def _check_registration(
        self,
        name: object,
        priority: object,
        condition: object,
        to_thread: object,
        timeout: object,
        once: object,
        batched: object,
    ) -> tuple[str, type[Any] | None, int, float | None]:
        """Check a registration's options; return its key and event class (``None``:
        registered by name), priority and timeout (``None``: none)."""
        key, event_type = key_of(name)
        self._check_open(f"register a handler for {key!r}")
        if event_type is not None and batched:
            raise TypeError(
                f"batched=True with the event class {event_type.__qualname__}: register "
                f"a batched handler by name ({key!r})"
            )
        if condition is not None:
            check_condition(condition)
        check_bool(to_thread, "to_thread")
        check_bool(once, "once")
        check_bool(batched, "batched")
        seconds = None
        if timeout is not None:
            seconds = check_seconds(timeout, "timeout", positive=True, infinite=True, optional=True)
        timeout = None if seconds == math.inf else seconds
        return key, event_type, check_priority(priority), timeout

    def _add(
        self,
        name: str | type[Any],
        handler: Handler,
        priority: int,
        condition: Condition | None,
        to_thread: bool,
        timeout: float | None,
        once: bool,
        batched: bool,
    ) -> Listener:
        key, event_type, priority, timeout = self._check_registration(
            name, priority, condition, to_thread, timeout, once, batched
        )
        check_handler(handler, to_thread=to_thread, timeout=timeout)
        listener = Listener(
            key,
            handler,
            priority=priority,
            condition=condition,
            once=once,
            to_thread=to_thread,
            timeout=timeout,
            batched=batched,
            # Held weakly: a registration does not keep its emitter alive.
            remover=weakref.WeakMethod(self._remove_listener) if once and to_thread else None,
            event_type=event_type,
        )
        self._add_listener(listener)
        return listener


def key_of(name: object) -> tuple[str, type[Any] | None]:
    """The key a name, pattern or event class is registered under, and the class (if any).

    :raises TypeError: if *name* is neither a ``str`` nor an event class
    :raises ValueError: if *name* is not a valid name or pattern, or the class declares an
        invalid event name
    """
    if isinstance(name, type):
        return event_name(name), name
    return validate_pattern(name, "event name or pattern"), None
