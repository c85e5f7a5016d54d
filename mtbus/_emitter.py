"""The :class:`EventEmitter`: instance-scoped handlers, run in priority order on each emit."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from inspect import isawaitable
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import anyio

from ._event import Event, EventPriority
from ._exceptions import EventHandlerError
from ._listener import Listener, check_condition, check_handler, check_priority, describe
from ._registry import Registry
from ._topics import validate_name, validate_pattern

if TYPE_CHECKING:
    from ._listener import Condition, Handler

logger = logging.getLogger("mtbus")

HandlerT = TypeVar("HandlerT", bound="Handler")
HookKind = Literal["before_emit", "after_emit", "on_error"]
#: ``before_emit`` and ``after_emit`` hooks take the event.
EventHook = Callable[[Event[Any]], Any]
#: ``on_error`` hooks take the event, the exception and the handler that raised it.
ErrorHook = Callable[[Event[Any], Exception, Callable[..., Any]], Any]

_HOOK_KINDS: tuple[HookKind, ...] = ("before_emit", "after_emit", "on_error")


class EventEmitter:
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

    :param concurrent: run handlers of equal priority together in a task group, instead of
        one after another (levels still run in priority order)
    :param strict: raise :exc:`~mtbus.EventHandlerError` from :meth:`emit` when a handler fails
    """

    __slots__ = ("__weakref__", "_concurrent", "_on_error", "_plans", "_registry", "_strict")

    def __init__(self, *, concurrent: bool = False, strict: bool = False) -> None:
        self._concurrent = concurrent
        self._strict = strict
        self._registry = Registry()
        #: The registry's plan cache, read directly by emit (the hot path).
        self._plans = self._registry.plans
        self._on_error: tuple[ErrorHook, ...] = ()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} listeners={self.listener_count()}>"

    # -- registration ------------------------------------------------------------------

    @overload
    def on(
        self,
        name: str,
        handler: None = None,
        *,
        priority: int = EventPriority.NORMAL,
        condition: Condition | None = None,
        to_thread: bool = False,
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
    ) -> HandlerT: ...

    def on(
        self,
        name: str,
        handler: HandlerT | None = None,
        *,
        priority: int = EventPriority.NORMAL,
        condition: Condition | None = None,
        to_thread: bool = False,
    ) -> HandlerT | Callable[[HandlerT], HandlerT]:
        """Register a handler for an event name or pattern; usable as a decorator.

        ``@emitter.on("order.placed")`` decorates; ``emitter.on("order.placed", fn)`` registers
        directly. Either way the function is returned unchanged. Registering the same function
        twice makes it run twice.

        :param name: an event name, or a pattern with ``*`` (one segment) / ``#`` (any number)
        :param handler: the function to register, or ``None`` to get a decorator
        :param priority: an :class:`~mtbus.EventPriority` or ``int``; higher runs first
        :param condition: called with the event first; the handler is skipped when it returns
            false. A raising condition counts as a failing handler.
        :param to_thread: run a plain (sync) function in a worker thread instead of inline
        :raises TypeError: if the handler, priority or condition has the wrong type
        :raises ValueError: if the name or pattern is invalid
        """
        return self._register_or_decorate(name, handler, priority, condition, to_thread, False)

    @overload
    def once(
        self,
        name: str,
        handler: None = None,
        *,
        priority: int = EventPriority.NORMAL,
        condition: Condition | None = None,
        to_thread: bool = False,
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
    ) -> HandlerT: ...

    def once(
        self,
        name: str,
        handler: HandlerT | None = None,
        *,
        priority: int = EventPriority.NORMAL,
        condition: Condition | None = None,
        to_thread: bool = False,
    ) -> HandlerT | Callable[[HandlerT], HandlerT]:
        """Like :meth:`on`, but the handler runs at most once, then is removed.

        It is removed as it starts running, so an emit from inside it, or a concurrent emit,
        does not run it again. An emit whose ``condition`` rejects it does not use it up.
        :meth:`remove_listener` takes the original function.
        """
        return self._register_or_decorate(name, handler, priority, condition, to_thread, True)

    def add_listener(
        self,
        name: str,
        handler: HandlerT,
        *,
        priority: int = EventPriority.NORMAL,
        condition: Condition | None = None,
        to_thread: bool = False,
        once: bool = False,
    ) -> HandlerT:
        """Register *handler* directly (the non-decorator twin of :meth:`on` and :meth:`once`)."""
        self._add(name, handler, priority, condition, to_thread, once)
        return handler

    def remove_listener(self, name: str, handler: Callable[..., Any]) -> bool:
        """Remove the most recent registration of *handler* for exactly *name*.

        Works with the function as it was registered, also for :meth:`once` and
        ``to_thread`` handlers. Takes effect from the next emit.

        :return: whether a registration was found and removed
        :raises TypeError: if *handler* is not callable or *name* is not a ``str``
        :raises ValueError: if *name* is not a valid name or pattern
        """
        validate_pattern(name, "event name or pattern")
        check_handler(handler)
        listener = self._registry.find(name, handler)
        if listener is None:
            return False
        self._registry.discard(listener)
        return True

    off = remove_listener

    def remove_all_listeners(self, name: str | None = None) -> int:
        """Remove every handler registered for exactly *name* (a name or pattern), or all.

        :return: how many registrations were removed
        """
        if name is None:
            return self._registry.clear()
        validate_pattern(name, "event name or pattern")
        return self._registry.discard_key(name)

    def listener_count(self, name: str | None = None) -> int:
        """How many handlers are registered for exactly *name* (a name or pattern), or in all."""
        if name is not None:
            validate_pattern(name, "event name or pattern")
        return self._registry.count(name)

    def listeners(self, name: str) -> list[Callable[..., Any]]:
        """The handlers registered for exactly *name* (a name or pattern), in the order they run.

        Handlers registered under other patterns that would also match *name* are not included.
        """
        validate_pattern(name, "event name or pattern")
        return [listener.handler for listener in self._registry.ordered(name)]

    def event_names(self) -> list[str]:
        """Every name and pattern that has at least one handler, in first-registration order."""
        return self._registry.keys()

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
        :raises TypeError: if *hook* is not callable
        """
        _check_hook_kind(kind)
        check_handler(hook)
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
        _check_hook_kind(kind)
        if kind == "on_error":
            if hook not in self._on_error:
                return False
            hooks = list(self._on_error)
            hooks.remove(hook)
            self._on_error = tuple(hooks)
            return True
        return self._registry.remove_hook(kind, hook)

    # -- emitting ----------------------------------------------------------------------

    def emit(
        self,
        name: str,
        data: Any = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        concurrent: bool | None = None,
        strict: bool | None = None,
    ) -> Coroutine[Any, Any, Event[Any]]:
        """Run every handler whose name or pattern matches *name*; await it for the event.

        Handlers run in priority order (see :class:`~mtbus.EventPriority`), in the awaiting
        task, each awaited before the next unless concurrent dispatch is on. A handler may
        stop the rest with ``event.propagate = False``; monitors still run. A handler may
        emit again. Registrations made during an emit apply from the next one.

        Use it as ``event = await emitter.emit(...)``. The arguments are checked, and the
        event created, when ``emit`` is called; the handlers run when it is awaited.

        :param name: the event name (a pattern is not allowed here)
        :param data: the payload, available to handlers as ``event.data``
        :param metadata: copied into ``event.metadata``
        :param concurrent: override the emitter's ``concurrent`` setting for this emit
        :param strict: override the emitter's ``strict`` setting for this emit
        :return: a coroutine that runs the handlers and returns the :class:`~mtbus.Event`
            they saw
        :raises ~mtbus.EventHandlerError: (when awaited) in strict mode, after all handlers
            ran, if any handler or hook failed
        :raises TypeError: if *name* is not a ``str`` or *metadata* not a mapping
        :raises ValueError: if *name* is not a valid event name
        """
        # A plain method returning the dispatch coroutine, rather than an async method
        # awaiting it: an emit then costs one coroutine, not two.
        try:
            plan = self._plans[name]
        except KeyError:
            plan = self._registry.plan(name)
        except TypeError:  # unhashable, so certainly not a str: let validation say so
            validate_name(name)
            raise
        event: Event[Any] = Event(
            name, data, True, None if metadata is None else _copy_metadata(metadata)
        )
        strict = self._strict if strict is None else strict
        if self._concurrent if concurrent is None else concurrent:
            return self._dispatch_levels(event, plan.levels, strict)
        return self._dispatch(event, plan.listeners, strict)

    async def wait_for(
        self,
        name: str,
        timeout: float | None = None,
        check: Callable[[Event[Any]], bool] | None = None,
    ) -> Event[Any]:
        """Wait until an event matching *name* (a name or pattern) is emitted, and return it.

        The waiter observes like a :attr:`~mtbus.EventPriority.MONITOR` handler, so it sees
        events even when a handler stopped propagation. It is removed when this returns,
        times out or is cancelled. If *check* raises, the exception is raised here.

        :param timeout: seconds to wait at most (``None`` waits forever)
        :param check: only an event for which this returns true ends the wait
        :raises TimeoutError: if no matching event arrived within *timeout*
        """
        validate_pattern(name, "event name or pattern")
        if timeout is not None:
            _check_timeout(timeout)
        if check is not None and not callable(check):
            raise TypeError(f"check must be callable, not {type(check).__name__}: {check!r}")
        outcome: list[Event[Any] | Exception] = []
        arrived = anyio.Event()

        def on_event(event: Event[Any]) -> None:
            if outcome:
                return
            try:
                if check is not None and not check(event):
                    return
                outcome.append(event)
            except Exception as error:
                outcome.append(error)
            arrived.set()

        listener = self._add(name, on_event, EventPriority.MONITOR, None, False, False)
        try:
            with anyio.fail_after(timeout):
                await arrived.wait()
        finally:
            self._registry.discard(listener)
        result = outcome[0]
        if isinstance(result, Exception):
            raise result
        return result

    # -- internals ---------------------------------------------------------------------

    def _register_or_decorate(
        self,
        name: str,
        handler: HandlerT | None,
        priority: int,
        condition: Condition | None,
        to_thread: bool,
        once: bool,
    ) -> HandlerT | Callable[[HandlerT], HandlerT]:
        if handler is not None:
            self._add(name, handler, priority, condition, to_thread, once)
            return handler
        # Validate now, so a bad decorator argument fails at the decorator line.
        self._check_registration(name, priority, condition)

        def decorator(handler: HandlerT) -> HandlerT:
            self._add(name, handler, priority, condition, to_thread, once)
            return handler

        return decorator

    @staticmethod
    def _check_registration(name: object, priority: object, condition: object) -> int:
        validate_pattern(name, "event name or pattern")
        if condition is not None:
            check_condition(condition)
        return check_priority(priority)

    def _add(
        self,
        name: str,
        handler: Handler,
        priority: int,
        condition: Condition | None,
        to_thread: bool,
        once: bool,
    ) -> Listener:
        priority = self._check_registration(name, priority, condition)
        check_handler(handler, to_thread=to_thread)
        listener = Listener(
            name, handler, priority=priority, condition=condition, once=once, to_thread=to_thread
        )
        self._registry.add(listener)
        return listener

    def _admit(self, listener: Listener, event: Event[Any]) -> bool:
        """Check a guarded listener's condition, and use up a once-listener that passes."""
        if listener.condition is not None and not listener.condition(event):
            return False
        if listener.once:
            if listener.spent:
                return False
            listener.spent = True
            self._registry.discard(listener)
        return True

    async def _dispatch(
        self,
        event: Event[Any],
        listeners: tuple[Listener, ...],
        strict: bool,
        stoppable: bool = True,
    ) -> Event[Any]:
        """Run *listeners* one after another, each isolated from the others' failures.

        Once propagation is stopped, only monitors and hooks still run (unless not
        *stoppable*). With *strict*, raise the collected failures at the end.
        """
        errors: list[Exception] | None = None
        for listener in listeners:
            if not event.propagate and stoppable and not listener.monitor:
                continue
            try:
                if listener.guarded and not self._admit(listener, event):
                    continue
                if listener.is_async:
                    await listener.callback(event)
                else:
                    result = listener.callback(event)
                    if result is not None and isawaitable(result):
                        await result
            except Exception as error:
                if errors is None:
                    errors = []
                errors.append(error)
                await self._report(event, error, listener)
        if strict and errors is not None:
            raise EventHandlerError(event, tuple(errors))
        return event

    async def _dispatch_levels(
        self, event: Event[Any], levels: tuple[tuple[Listener, ...], ...], strict: bool
    ) -> Event[Any]:
        """Run each level's listeners together in a task group, and the levels in order."""
        errors: list[Exception] = []

        async def run_one(listener: Listener) -> None:
            # Started together, so a sibling stopping propagation does not skip this one.
            try:
                await self._dispatch(event, (listener,), True, stoppable=False)
            except EventHandlerError as failure:
                errors.extend(failure.errors)

        for level in levels:
            if not event.propagate and not level[0].monitor:
                continue
            if len(level) == 1:
                await run_one(level[0])
                continue
            async with anyio.create_task_group() as group:
                for listener in level:
                    group.start_soon(run_one, listener)
        if strict and errors:
            raise EventHandlerError(event, tuple(errors))
        return event

    async def _report(self, event: Event[Any], error: Exception, listener: Listener) -> None:
        """Log a handler (or hook) failure and pass it to the ``on_error`` hooks."""
        handler = listener.handler
        logger.error(
            "%s %s failed for event %r",
            listener.role,
            describe(handler),
            event.name,
            exc_info=error,
        )
        for hook in self._on_error:
            try:
                result = hook(event, error, handler)
                if isawaitable(result):
                    await result
            except Exception:
                logger.exception("on_error hook %s failed", describe(hook))


def _copy_metadata(metadata: object) -> dict[str, Any]:
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a mapping, not {type(metadata).__name__}: {metadata!r}")
    return dict(metadata)


def _check_hook_kind(kind: object) -> None:
    if kind not in _HOOK_KINDS:
        raise ValueError(f"unknown hook type {kind!r}: expected one of {', '.join(_HOOK_KINDS)}")


def _check_timeout(timeout: object) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(
            f"timeout must be a number or None, not {type(timeout).__name__}: {timeout!r}"
        )
    if not timeout >= 0:  # also rejects NaN
        raise ValueError(f"invalid timeout {timeout!r}: must be >= 0")
