"""The :class:`EventEmitter`: instance-scoped handlers, run in priority order on each emit.

The class is assembled from one part per job: ``EmitterCore`` (``_dispatch``: the shared
state, ``emit`` and dispatch), then composition (``_composition``), batches and suppression
(``_batching``), background work (``_background``), handler results (``_collecting``) and
calls from sync code and other threads (``_sync``, on top of the last two). Each part
changes the core's state through the core's methods only, and exposes its own teardown;
this module adds registration, queries, hooks and ``wait_for``, and owns the lifecycle
(``async with``, ``close``, ``aclose``), which drives those teardowns.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable
from inspect import isawaitable
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self, TypeVar, overload

import anyio

from .._core._checks import (
    check_bool,
    check_callable,
    check_choice,
    check_condition,
    check_handler,
    check_priority,
    check_seconds,
)
from .._core._event import Event, EventPriority
from .._core._threads import wrong_thread
from .._core._topics import TopicMatcher, validate_pattern
from .._core._typed import event_name
from ._batching import Batching
from ._composition import Composition
from ._dispatch import E, WrongThreadError
from ._listener import Listener
from ._sync import SyncCalls

if TYPE_CHECKING:
    from types import TracebackType

    from ._dispatch import ErrorHook
    from ._listener import Condition, Handler

HandlerT = TypeVar("HandlerT", bound="Handler")
#: What a typed handler returns (kept, so the decorated function keeps its type).
R = TypeVar("R")
HookKind = Literal["before_emit", "after_emit", "on_error"]
#: ``before_emit`` and ``after_emit`` hooks take the event.
EventHook = Callable[[Event[Any]], Any]

_HOOK_KINDS: tuple[HookKind, ...] = ("before_emit", "after_emit", "on_error")


class TypedDecorator(Protocol[E]):
    """What ``emitter.on(EventClass)`` returns: a decorator for handlers of that class's
    events, which type checkers hold to taking an ``Event[EventClass]``."""

    def __call__(self, handler: Callable[[Event[E]], R], /) -> Callable[[Event[E]], R]: ...


class EventEmitter(Composition, Batching, SyncCalls):
    """Runs the handlers registered for an event name, in priority order, on each emit.

    An emitter is a plain object with no global state: create one per application, module
    or test. Handlers are registered for an event name (``"order.placed"``) or a pattern
    (``"order.*"``, ``"order.#"``, or ``"*"`` for everything) and receive one argument,
    the :class:`~mtbus.Event`.

    A raising handler never stops the others: its exception is logged on the ``mtbus``
    logger and passed to the ``on_error`` hooks. With ``strict=True``, :meth:`emit` then
    raises :exc:`~mtbus.EventHandlerError` with every error, once all handlers have run.
    Cancellation is never caught.

    The emitter is not thread-safe: use it from the event loop's thread (handlers
    registered with ``to_thread=True`` run in worker threads, but are awaited from it).
    From sync code or another thread, emit with :meth:`emit_sync`, which runs the handlers
    in the emitter's event loop (inside ``async with emitter:``) and waits for them.
    :meth:`emit` does not check the thread it runs in; calls that would wake a task of the
    event loop from another thread (a :meth:`wait_for`, a background emit) raise
    :exc:`RuntimeError`.

    Emitters compose (:meth:`filter`, :meth:`map`, :meth:`buffer`, :meth:`pipe`), defer
    emits (:meth:`batch_operations`, :meth:`suppress_events`) and, inside
    ``async with emitter:``, emit in the background (:meth:`emit_after`,
    :meth:`emit_periodic`, :meth:`emit_soon`).

    :param concurrent: run handlers of equal priority together in a task group, instead of
        one after another (levels still run in priority order)
    :param strict: raise :exc:`~mtbus.EventHandlerError` from :meth:`emit` when a handler fails
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} listeners={self.listener_count()}>"

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Start the task group that :meth:`emit_after`, :meth:`emit_periodic` and
        :meth:`emit_soon` run in.

        When the block ends normally, pending :meth:`emit_after` emits and further ticks of
        :meth:`emit_periodic` are cancelled, while dispatches already under way (every
        :meth:`emit_soon` among them) finish first. When it raises or is cancelled,
        everything is cancelled, and the block's exception leaves it as itself. A
        background emit that fails (in strict mode) ends only itself: its handlers'
        failures were logged and passed to the ``on_error`` hooks, and its
        :attr:`EmitHandle.error <mtbus.EmitHandle.error>` holds the
        :exc:`~mtbus.EventHandlerError`.

        :raises RuntimeError: if the emitter is already in an ``async with`` block
        :raises ~mtbus.EventEmitError: if the emitter is closed
        """
        await self._start_background()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._stop_background(failed=exc_type is not None)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Close this emitter: detach it from its parent, and close what derives from it.

        Every handler and pipe is removed, background work started with ``async with`` is
        cancelled, and events held by a :meth:`buffer` are dropped (with a warning on the
        ``mtbus`` logger: use :meth:`aclose` to deliver them first). Registering on or
        emitting to a closed emitter raises :exc:`~mtbus.EventEmitError`. Closing twice
        does nothing.

        :raises RuntimeError: if called from another thread than the event loop's while
            background work runs (it would cancel it from there)
        """
        if self._closed:
            return
        self._check_background_thread("close()")
        self._shut()
        for child in self._unlink():
            child.close()
        self._cancel_background()

    async def aclose(self) -> None:
        """Deliver everything buffered in this emitter and what derives from it, then close."""
        await self.flush()
        for child in self._derived():
            await child.aclose()
        self.close()

    # -- registration ------------------------------------------------------------------

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
        key, event_type = _key_of(name)
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
        return self._registry.discard_key(*_key_of(name))

    def listener_count(self, name: str | type[Any] | None = None) -> int:
        """How many handlers are registered for exactly *name* (as :meth:`listeners`
        counts them), or in all."""
        if name is None:
            return self._registry.count()
        return self._registry.count(*_key_of(name))

    def listeners(self, name: str | type[Any]) -> list[Callable[..., Any]]:
        """The handlers registered for exactly *name*, in the order they run: for a name
        or pattern, those registered under it (and on classes of that event name); for an
        event class, those registered on it.

        Handlers registered under other patterns that would also match *name* are not
        included, nor those on base classes.
        """
        return [listener.handler for listener in self._registry.ordered(*_key_of(name))]

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

    # -- hooks -------------------------------------------------------------------------

    @overload
    def add_hook(self, kind: Literal["before_emit", "after_emit"], hook: EventHook) -> None: ...

    @overload
    def add_hook(self, kind: Literal["on_error"], hook: ErrorHook) -> None: ...

    def add_hook(self, kind: HookKind, hook: Callable[..., Any]) -> None:
        """Add a hook that observes every emit of this emitter.

        - ``before_emit(event)`` runs before the handlers; setting ``event.propagate = False``
          there skips every handler but the monitors.
        - ``after_emit(event)`` runs after all handlers.
        - ``on_error(event, error, handler)`` runs for each failing handler or hook.

        Hooks may be sync or async. A raising ``before_emit``/``after_emit`` hook is treated
        like a raising handler; a raising ``on_error`` hook is logged.

        :raises ValueError: if *kind* is not one of the three hook types
        :raises TypeError: if *hook* is not callable with its arguments (one, the event;
            three for ``on_error``)
        """
        check_choice(kind, "hook type", _HOOK_KINDS)
        if kind == "on_error":
            check_callable(hook, "on_error hook", 3)
        else:
            check_handler(hook, f"{kind} hook")
        self._check_open(f"add a {kind} hook")
        if kind == "on_error":
            self._on_error += (hook,)
        else:
            hook_listener = Listener(
                kind, hook, priority=EventPriority.MONITOR, role=f"{kind} hook"
            )
            self._registry.add_hook(kind, hook_listener)

    def remove_hook(self, kind: HookKind, hook: Callable[..., Any]) -> bool:
        """Remove a hook added with :meth:`add_hook`; return whether it was found.

        :raises ValueError: if *kind* is not one of the three hook types
        """
        check_choice(kind, "hook type", _HOOK_KINDS)
        if kind == "on_error":
            if hook not in self._on_error:
                return False
            hooks = list(self._on_error)
            hooks.remove(hook)
            self._on_error = tuple(hooks)
            return True
        return self._registry.remove_hook(kind, hook)

    # -- emitting ----------------------------------------------------------------------

    @overload
    async def wait_for(
        self,
        name: type[E],
        timeout: float | None = None,
        check: Callable[[Event[E]], Any] | None = None,
    ) -> Event[E]: ...

    @overload
    async def wait_for(
        self,
        name: str,
        timeout: float | None = None,
        check: Callable[[Event[Any]], Any] | None = None,
    ) -> Event[Any]: ...

    async def wait_for(
        self,
        name: str | type[Any],
        timeout: float | None = None,
        check: Callable[[Event[Any]], Any] | None = None,
    ) -> Event[Any]:
        """Wait until an event matching *name* (a name or pattern; or an event class: an
        instance of it or of a subclass, emitted) is emitted, and return it.

        The waiter observes like a :attr:`~mtbus.EventPriority.MONITOR` handler, so it sees
        events even when a handler stopped propagation. It is removed when this returns,
        times out or is cancelled. If *check* raises, the exception is raised here.

        An emit made in another thread than this task's (with an event loop of its own)
        cannot end the wait: when it reaches the waiter it raises :exc:`RuntimeError`.
        Emit with :meth:`emit_sync` (inside ``async with emitter:``) from other threads.

        :param timeout: seconds to wait at most (``None`` or ``math.inf``: forever)
        :param check: only an event for which this returns true ends the wait; it runs in
            the emitting task, like a monitor handler, and may be ``async def`` (its result
            is awaited)
        :raises TimeoutError: if no matching event arrived within *timeout*
        :raises TypeError: if *timeout* is not a number, or *check* not callable with one
            argument (the event)
        :raises ValueError: if *timeout* is negative or NaN, or *name* is invalid
        """
        key, event_type = _key_of(name)
        if timeout is not None:
            check_seconds(timeout, "timeout", infinite=True, optional=True)
        if check is not None:
            check_callable(check, "check")
        outcome: list[Event[Any] | Exception] = []
        arrived = anyio.Event()
        waiting_thread = threading.get_ident()

        async def on_event(event: Event[Any]) -> None:
            if outcome:
                return
            if threading.get_ident() != waiting_thread:
                raise wrong_thread(
                    f"end a wait_for({key!r})",
                    "emitter.emit_sync(...) inside 'async with emitter:', or "
                    "anyio.from_thread.run(emitter.emit, ...) from a worker thread",
                    kind=WrongThreadError,
                )
            try:
                if check is not None:
                    passed = check(event)
                    if isawaitable(passed):
                        passed = await passed
                    if not passed or outcome:
                        return
                outcome.append(event)
            except Exception as error:
                if outcome:
                    return
                outcome.append(error)
            arrived.set()

        self._check_open(f"wait for {key!r}")
        listener = Listener(
            key, on_event, priority=EventPriority.MONITOR, role="wait_for", event_type=event_type
        )
        self._add_listener(listener)
        try:
            with anyio.fail_after(timeout):
                await arrived.wait()
        finally:
            self._remove_listener(listener)
        result = outcome[0]
        if isinstance(result, Exception):
            raise result
        return result

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
        key, event_type = _key_of(name)
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


def _key_of(name: object) -> tuple[str, type[Any] | None]:
    """The key a name, pattern or event class is registered under, and the class (if any).

    :raises TypeError: if *name* is neither a ``str`` nor an event class
    :raises ValueError: if *name* is not a valid name or pattern, or the class declares an
        invalid event name
    """
    if isinstance(name, type):
        return event_name(name), name
    return validate_pattern(name, "event name or pattern"), None
