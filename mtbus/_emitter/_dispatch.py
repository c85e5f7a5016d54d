"""What every part of an :class:`~mtbus.EventEmitter` shares: its state, and dispatch.

``emit`` and the dispatch loops are the hot path: an emit of a name whose plan is cached is
one dict lookup, one :class:`~mtbus.Event` and one coroutine (emit itself, which runs plain
handlers directly and hands anything else to :meth:`EmitterCore._dispatch`). Batches,
suppression and a closed emitter cost the hot path nothing: they swap the plan cache for
``_NO_PLANS``, which sends emit down the cache-miss path, where they are handled.

An emit whose handlers are plain functions never yields to the event loop, so a loop of such
emits would neither notice that it was cancelled nor let other tasks run. A checkpoint on
every emit would cost several times the emit itself; instead every emitter counts down, and
every :data:`CHECKPOINT_INTERVAL`-th emit (and every held-back or replayed event) starts with
a full checkpoint: one decrement and one test on the hot path. Emits whose handlers yield
count too: telling them apart would cost more than the checkpoint they would save.

The emitter is not thread-safe, and the hot path does not check the thread it runs in (see
``docs/emitter.md``); only the slow paths that would wake a task of the event loop do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from inspect import isawaitable
from types import GeneratorType, MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from anyio.lowlevel import checkpoint

from .._core._checks import check_bool, check_metadata
from .._core._event import Event, HandlerResult
from .._core._exceptions import DownstreamErrors, EventEmitError, EventHandlerError
from .._core._pacing import CHECKPOINT_INTERVAL
from .._core._topics import validate_name
from .._core._typed import check_event_instance, data_with_instance, event_name
from ._concurrent import dispatch_levels
from ._listener import describe
from ._registry import Registry
from ._scopes import hold
from ._tracing import Trace

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ._links import Links
    from ._listener import Listener
    from ._registry import Plan
    from ._tasks import Background
    from ._tracing import Recorder

logger = logging.getLogger("mtbus")

_new_instance = object.__new__
_now = time.time
_clock = time.perf_counter
_checkpoint = checkpoint


#: The event class of a typed emit.
E = TypeVar("E")

#: ``on_error`` hooks take the event, the exception and the handler that raised it.
ErrorHook = Callable[[Event[Any], Exception, Callable[..., Any]], Any]

#: What emit reads instead of the plan cache while the emitter is closed, or a batch or
#: suppression is open on it: every lookup misses, so emit leaves its fast path.
_NO_PLANS: Mapping[Any, Plan] = MappingProxyType({})


class EmitterCore:
    """The state of an emitter, :meth:`emit`, and the dispatch every feature goes through."""

    __slots__ = (
        "__weakref__",
        "_background",
        "_closed",
        "_concurrent",
        "_countdown",
        "_holding",
        "_links",
        "_on_error",
        "_parent",
        "_plans",
        "_registry",
        "_strict",
        "_typed_plans",
    )

    def __init__(self, *, concurrent: bool = False, strict: bool = False) -> None:
        check_bool(concurrent, "concurrent")
        check_bool(strict, "strict")
        self._concurrent = concurrent
        self._strict = strict
        #: Emits left before the next one checkpoints.
        self._countdown = CHECKPOINT_INTERVAL
        self._registry = Registry()
        #: The registry's plan cache, read directly by emit (the hot path); ``_NO_PLANS``
        #: while the emitter is closed or holding events back.
        self._plans: Mapping[str, Plan] = self._registry.plans
        #: The same for typed emits: the registry's plans per event class.
        self._typed_plans: Mapping[type[Any], Plan] = self._registry.typed_plans
        self._on_error: tuple[ErrorHook, ...] = ()
        self._closed = False
        #: How many batches and suppressions are open on this emitter, in any task.
        self._holding = 0
        #: A derived emitter's parent, held strongly (``None`` for other emitters).
        self._parent: EmitterCore | None = None
        #: The parts' own state, made when first needed: composition's and background work's.
        self._links: Links[EmitterCore] | None = None
        self._background: Background | None = None

    @overload
    async def emit(
        self,
        name: str,
        data: Any = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        concurrent: bool | None = None,
        strict: bool | None = None,
    ) -> Event[Any]: ...

    @overload
    async def emit(
        self,
        name: E,
        data: None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        concurrent: bool | None = None,
        strict: bool | None = None,
    ) -> Event[E]: ...

    async def emit(
        self,
        name: Any,
        data: Any = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        concurrent: bool | None = None,
        strict: bool | None = None,
    ) -> Event[Any]:
        """Run every handler whose name or pattern matches *name*; return the event.

        *name* is an event name, or an instance of an event class (a typed emit,
        ``emit(OrderPlaced(...))``): the instance is then the event's data, its name the
        class's event name (see :func:`~mtbus.event_name`), and the handlers registered on
        the class or one of its bases run too, with those registered by a name or pattern
        that matches.

        Handlers run in priority order (see :class:`~mtbus.EventPriority`), in the awaiting
        task, each awaited before the next unless concurrent dispatch is on. A handler may
        stop the rest with ``event.propagate = False``; monitors still run. A handler may
        emit again. Registrations made during an emit apply from the next one.

        Every :data:`CHECKPOINT_INTERVAL`-th emit of an emitter starts with a checkpoint,
        so a loop of emits notices cancellation and lets other tasks run even when no
        handler yields. A handler's exception that is not an :exc:`Exception` (such as
        :exc:`KeyboardInterrupt`) is not isolated: it leaves emit as itself, also from
        concurrent dispatch.

        :param name: the event name (a pattern is not allowed here), or an instance of an
            event class
        :param data: the payload, available to handlers as ``event.data`` (none with an
            instance: it is the payload)
        :param metadata: copied into ``event.metadata``
        :param concurrent: override the emitter's ``concurrent`` setting for this emit
        :param strict: override the emitter's ``strict`` setting for this emit
        :return: the :class:`~mtbus.Event` the handlers saw
        :raises ~mtbus.EventHandlerError: in strict mode, after all handlers ran, if any
            handler or hook failed
        :raises TypeError: if *name* is neither a ``str`` nor an instance of an event class
            (a built-in type's, or a class itself), *data* is given with an instance,
            *metadata* is not a mapping, or *concurrent* or *strict* neither a ``bool`` nor
            ``None``
        :raises ValueError: if *name* is not a valid event name, or the event class
            declares an invalid one
        """
        # ``__class__``, as isinstance reads it: cheaper than type(), which is a call, and
        # read once for both kinds of emit.
        kind = name.__class__
        if kind is str:
            try:
                plan = self._plans[name]
            except KeyError:
                if self._plans is _NO_PLANS:  # closed, or holding events back
                    await self._pace()
                    return await self._emit_gated(name, data, metadata, concurrent, strict)
                plan = self._registry.plan(name)
                if plan.traced:  # never cached: with DEBUG off, emit never gets here for it
                    await self._pace()
                    return await self._emit_gated(name, data, metadata, concurrent, strict)
        else:  # an instance of an event class (a typed emit), or a str of a subclass
            try:
                plan = self._typed_plans[kind]
            except KeyError:
                if isinstance(name, str):  # a str subclass's (an enum member's): its value
                    value = str.__str__(name)  # the str itself, whatever __str__ says
                    return await self.emit(
                        value, data, metadata, concurrent=concurrent, strict=strict
                    )
                # Not cached yet, held back, traced, or not an instance of an event class.
                await self._pace()
                return await self._emit_gated(name, data, metadata, concurrent, strict)
            if data is not None:
                raise data_with_instance(name, data)
            data = name
            name = plan.name
        # _pace() inlined: a call would cost more than the countdown itself.
        self._countdown -= 1
        if not self._countdown:
            self._countdown = CHECKPOINT_INTERVAL
            self._registry.notice_tracing()
            await _checkpoint()
        # Event(name, data, True, metadata) without the call: filling the slots of a bare
        # instance here skips type.__call__ and Event.__init__, about 100 ns per emit.
        event: Event[Any] = _new_instance(Event)
        event.name = name
        event.data = data
        event.propagate = True
        event.metadata = {} if metadata is None else dict(check_metadata(metadata))
        event.timestamp = _now()
        event._type = plan.event_type
        if concurrent is not None or strict is not None:
            return await self._dispatch_plan(event, plan, concurrent, strict)
        if self._concurrent:
            return await dispatch_levels(self._dispatch, event, plan.levels, self._strict)
        if not plan.unguarded:
            return await self._dispatch(event, plan.listeners, None)
        # The common case, run here so an emit is one coroutine: no listener has a
        # condition or is a once-listener, so each is simply called. A failure or a stop
        # of propagation hands the rest over to _dispatch, which handles everything.
        listeners = plan.listeners
        for listener in listeners:
            # The callback goes through a local: ``listener.callback(event)`` compiles to a
            # LOAD_METHOD, which CPython 3.11 cannot specialise for a slot (about 11 ns).
            callback = listener.callback
            try:
                if listener.is_async:
                    await callback(event)
                else:
                    result = callback(event)
                    if result is not None and type(result) not in _PLAIN and _awaitable(result):
                        await result
            except Exception as error:
                rest = listeners[listeners.index(listener) + 1 :]
                return await self._dispatch(event, rest, None, failed=(listener, error))
            if not event.propagate:
                rest = listeners[listeners.index(listener) + 1 :]
                return await self._dispatch(event, rest, None)
        return event

    # -- internals ---------------------------------------------------------------------

    async def _pace(self) -> None:
        """Count one emit (or delivered event); every :data:`CHECKPOINT_INTERVAL`-th
        checkpoints, so that a loop of them can be cancelled and lets other tasks run."""
        self._countdown -= 1
        if not self._countdown:
            self._countdown = CHECKPOINT_INTERVAL
            self._registry.notice_tracing()
            await _checkpoint()

    def _dispatch_plan(
        self, event: Event[Any], plan: Plan, concurrent: bool | None, strict: bool | None
    ) -> Coroutine[Any, Any, Event[Any]]:
        """Dispatch *event* along *plan*, with emit's ``concurrent`` and ``strict`` checked."""
        _check_options(concurrent, strict)
        concurrent = self._concurrent if concurrent is None else concurrent
        return self._run(event, plan, concurrent, self._strict if strict is None else strict)

    def _run(
        self,
        event: Event[Any],
        plan: Plan,
        concurrent: bool,
        strict: bool,
        record: Recorder | None = None,
    ) -> Coroutine[Any, Any, Event[Any]]:
        """Dispatch *event* along *plan*: its levels together, or its listeners in turn."""
        if concurrent:
            return dispatch_levels(self._dispatch, event, plan.levels, strict, record)
        return self._dispatch(event, plan.listeners, strict, record=record)

    def _admit(self, listener: Listener, event: Event[Any]) -> bool:
        """Check a guarded listener's condition, and use up a once-listener that passes."""
        if listener.condition is not None and not listener.condition(event):
            return False
        return not listener.once or self._use_up(listener)

    def _use_up(self, listener: Listener) -> bool:
        """Take a once-listener for this emit; False if another emit already took it.

        It is unregistered as it starts running. One whose handler runs in a worker thread
        stays registered, skipped by other emits, until its thread has run it: its callback
        then unregisters it, or makes it runnable again if the emit was cancelled before
        the thread started it.
        """
        if listener.spent:
            return False
        listener.spent = True
        if not listener.threaded:
            self._registry.discard(listener)
        return True

    async def _dispatch(
        self,
        event: Event[Any],
        listeners: Iterable[Listener],
        strict: bool | None,
        *,
        stoppable: bool = True,
        failed: tuple[Listener, Exception] | None = None,
        record: Recorder | None = None,
    ) -> Event[Any]:
        """Run *listeners* one after another, each isolated from the others' failures.

        Once propagation is stopped, only monitors and hooks still run (unless not
        *stoppable*). With *strict* (``None``: the emitter's setting), raise the collected
        failures at the end. *failed* is a failure of a listener that already ran, which
        :meth:`emit` hands over with the listeners after it. *record*, if given, is told
        what each listener that ran returned or raised, and how long it took.
        """
        errors: list[Exception] | None = None
        if failed is not None:
            errors = []
            await self._fail(errors, event, *failed)
        started = 0.0
        for listener in listeners:
            if not event.propagate and stoppable and not listener.monitor:
                continue
            if record is not None:
                started = _clock()
            try:
                if listener.guarded and not self._admit(listener, event):
                    continue
                callback = listener.callback  # a local, as in emit
                if listener.is_async:
                    value = await callback(event)
                else:
                    value = callback(event)
                    if value is not None and type(value) not in _PLAIN and _awaitable(value):
                        value = await value
            except Exception as error:
                if errors is None:
                    errors = []
                await self._fail(errors, event, listener, error)
                if record is not None:
                    record(listener, None, error, _clock() - started)
            else:
                if record is not None:
                    record(listener, value, None, _clock() - started)
        if errors is not None and (self._strict if strict is None else strict):
            raise EventHandlerError(event, tuple(errors))
        return event

    async def _fail(
        self, errors: list[Exception], event: Event[Any], listener: Listener, error: Exception
    ) -> None:
        """Collect a listener's failure into *errors*, and report it unless already reported."""
        if type(error) is DownstreamErrors:  # already reported where they happened
            errors.extend(error.errors)
            event._add_failures(error.failures)
            return
        if type(error) is WrongThreadError:  # a misuse of the emitter, not a handler failure
            raise error
        errors.append(error)
        await self._report(event, error, listener)

    def _emit_gated(
        self,
        name: Any,
        data: Any,
        metadata: Mapping[str, Any] | None,
        concurrent: bool | None,
        strict: bool | None,
    ) -> Coroutine[Any, Any, Event[Any]]:
        """Emit while closed (raise), while a batch or suppression may hold events back,
        along a traced plan, or a typed emit whose plan is not cached yet: through
        :meth:`_deliver`."""
        event = self._check_emit(name, data, metadata, concurrent, strict)
        return self._deliver(event, concurrent, strict, valid=True)

    def _check_emit(
        self,
        name: Any,
        data: Any,
        metadata: Mapping[str, Any] | None,
        concurrent: object,
        strict: object,
    ) -> Event[Any]:
        """Check an emit's arguments as :meth:`emit` does, the emitter open first; return
        the event it emits (*name* is a name, or an instance of an event class)."""
        event_type = None
        if isinstance(name, str):
            name = str.__str__(name)  # a str subclass's (an enum member's) own str
        else:  # a typed emit: the instance is the data
            if data is not None:
                raise data_with_instance(name, data)
            check_event_instance(name)
            data = name
            event_type = name.__class__  # as emit reads it
            name = event_name(event_type)
        self._check_open(f"emit {name!r}")
        if event_type is None:  # a class's name was checked as it was made
            validate_name(name)
        meta = None if metadata is None else dict(check_metadata(metadata))
        _check_options(concurrent, strict)
        event: Event[Any] = Event(name, data, True, meta)
        event._type = event_type
        return event

    def _deliver(
        self,
        event: Event[Any],
        concurrent: bool | None,
        strict: bool | None,
        *,
        valid: bool = False,
        record: Recorder | None = None,
    ) -> Coroutine[Any, Any, Event[Any]]:
        """Dispatch an event made elsewhere: deferred, replayed, forwarded, background,
        traced or collected.

        Like :meth:`emit` after it built the event: an open batch or suppression of this
        emitter, in this task, holds it back instead.

        :param valid: the event's name is known to be a valid event name (it was checked
            where the event was made); otherwise it is checked here
        :param record: told what each listener that ran returned or raised (see
            :meth:`_dispatch`)
        """
        if self._closed:
            raise EventEmitError(f"emitter is closed: cannot emit {event.name!r}")
        if not valid:
            validate_name(event.name)
        if self._holding and hold(self, event, concurrent, strict):
            return _held(event)
        plan = self._registry.plan_for_event(event)
        strict = self._strict if strict is None else strict
        concurrent = self._concurrent if concurrent is None else concurrent
        if plan.traced:
            return self._trace(event, plan, concurrent, strict, record)
        return self._run(event, plan, concurrent, strict, record)

    async def _trace(
        self,
        event: Event[Any],
        plan: Plan,
        concurrent: bool,
        strict: bool,
        record: Recorder | None,
    ) -> Event[Any]:
        """Dispatch along a traced plan (see :mod:`._tracing`), logging as it goes."""
        trace = Trace(event, len(plan.listeners), record)
        try:
            await self._run(event, plan, concurrent, strict, trace)
        except BaseException as error:
            trace.finish(error)
            raise
        trace.finish(None)
        return event

    async def _deliver_all(
        self, events: Iterable[Event[Any]], strict: bool | None, *, valid: bool = False
    ) -> None:
        """Deliver *events* in order; in strict mode raise every failure at the end.

        :param valid: their names are known to be valid event names
        """
        errors: list[Exception] = []
        failed: Event[Any] | None = None
        for event in events:
            await self._pace()
            try:
                await self._deliver(event, None, True, valid=valid)
            except EventHandlerError as failure:
                failed = failed or failure.event
                errors.extend(failure.errors)
        if failed is not None and (self._strict if strict is None else strict):
            raise EventHandlerError(failed, tuple(errors))

    # -- what the parts may change, and how ---------------------------------------------

    def _check_open(self, action: str) -> None:
        if self._closed:
            raise EventEmitError(f"emitter is closed: cannot {action}")

    def _start_holding(self) -> None:
        """A batch or suppression opened on this emitter: emits must look for it."""
        self._holding += 1
        self._regate()

    def _stop_holding(self) -> None:
        self._holding -= 1
        self._regate()

    def _add_listener(self, listener: Listener) -> None:
        self._registry.add(listener)

    def _remove_listener(self, listener: Listener) -> None:
        self._registry.discard(listener)

    def _set_parent(self, parent: EmitterCore | None) -> None:
        """Report failures to *parent*'s ``on_error`` hooks too (a derived emitter's)."""
        self._parent = parent

    def _shut(self) -> None:
        """Refuse every emit and registration from now on, and forget every handler."""
        self._closed = True
        self._regate()
        self._registry.clear()

    def _regate(self) -> None:
        """Point emit at the plan cache, or at ``_NO_PLANS`` while it must hold events."""
        gated = self._closed or self._holding > 0
        self._plans = _NO_PLANS if gated else self._registry.plans
        self._typed_plans = _NO_PLANS if gated else self._registry.typed_plans

    async def _report(self, event: Event[Any], error: Exception, listener: Listener) -> None:
        """Log a handler (or hook) failure, add it to the event's failures, and pass it to
        the ``on_error`` hooks."""
        handler = listener.handler
        event._add_failures((HandlerResult(handler, None, error),))
        logger.error(
            "%s %s failed for event %r",
            listener.role,
            describe(handler),
            event.name,
            exc_info=error,
        )
        # A derived emitter's failures also reach the hooks of its parent, and so on up.
        emitter: EmitterCore | None = self
        while emitter is not None:
            for hook in emitter._on_error:
                try:
                    result = hook(event, error, handler)
                    if isawaitable(result):
                        await result
                except Exception:
                    logger.exception("on_error hook %s failed", describe(hook))
            emitter = emitter._parent


async def _held(event: Event[Any]) -> Event[Any]:
    """What emit returns for an event a batch or suppression held back."""
    return event


#: Types whose instances are never awaitable, learnt from what plain handlers returned: a
#: handler that returns a value (for ``collect``) then costs emit one set lookup, where
#: :func:`inspect.isawaitable` costs about as much as the rest of an emit. Bounded, since
#: classes made on the fly would otherwise pile up here.
_PLAIN: set[type] = set()
_PLAIN_MOST = 256


def _awaitable(value: object) -> bool:
    """Whether a plain handler's *value* must be awaited; remember its type if it never is.

    A generator may or may not be awaitable (``types.coroutine``), so that type is never
    remembered; for every other type, :func:`inspect.isawaitable` depends on the type alone.
    """
    if isawaitable(value):
        return True
    if type(value) is not GeneratorType:
        if len(_PLAIN) >= _PLAIN_MOST:
            _PLAIN.clear()
        _PLAIN.add(type(value))
    return False


class WrongThreadError(RuntimeError):
    """Raised by a listener that an emit made in another thread than the event loop's
    reached (``wait_for``'s): it leaves that emit rather than counting as a handler failure."""


def _check_options(concurrent: object, strict: object) -> None:
    check_bool(concurrent, "concurrent", optional=True)
    check_bool(strict, "strict", optional=True)
