"""The :class:`EventEmitter`: instance-scoped handlers, run in priority order on each emit.

The class is assembled from one part per job: ``EmitterCore`` (``_dispatch``: the shared
state, ``emit`` and dispatch), then registration and queries (``_registration``),
composition (``_composition``), batches and suppression (``_batching``), background work
(``_background``), handler results (``_collecting``) and calls from sync code and other
threads (``_sync``, on top of the last two). Each part changes the core's state through the
core's methods only, and exposes its own teardown; this module adds hooks and ``wait_for``,
and owns the lifecycle (``async with``, ``close``, ``aclose``), which drives those
teardowns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from inspect import isawaitable
from typing import TYPE_CHECKING, Any, Literal, Self, overload

import anyio

from .._core._checks import (
    check_callable,
    check_choice,
    check_handler,
    check_seconds,
)
from .._core._event import Event, EventPriority
from .._core._threads import wrong_thread
from ._batching import Batching
from ._composition import Composition
from ._dispatch import E, WrongThreadError
from ._listener import Listener
from ._registration import Registration, key_of
from ._sync import SyncCalls

if TYPE_CHECKING:
    from types import TracebackType

    from ._dispatch import ErrorHook

HookKind = Literal["before_emit", "after_emit", "on_error"]
#: ``before_emit`` and ``after_emit`` hooks take the event.
EventHook = Callable[[Event[Any]], Any]

_HOOK_KINDS: tuple[HookKind, ...] = ("before_emit", "after_emit", "on_error")


class EventEmitter(Registration, Composition, Batching, SyncCalls):
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
        key, event_type = key_of(name)
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
