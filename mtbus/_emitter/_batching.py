"""Batches and suppression: emits held back, in the task that opened the block, until it ends;
and mutes, which hold back the emits of every task (``mtbus.testing.mute``)."""

from __future__ import annotations

from inspect import isawaitable
from typing import TYPE_CHECKING, Any

from .._core._checks import check_bool
from .._core._event import Event
from .._core._exceptions import EventEmitError, EventHandlerError
from .._core._topics import TopicMatcher, validate_pattern
from ._concurrent import dispatch_levels
from ._dispatch import EmitterCore
from ._listener import batch_event
from ._registry import run_order
from ._scopes import Scope, hold, innermost

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from contextlib import AbstractAsyncContextManager
    from types import TracebackType

    from ._listener import Listener
    from ._registry import Plan

#: A held-back emit: the event, and the ``concurrent`` and ``strict`` it was emitted with.
Deferred = tuple[Event[Any], bool | None, bool | None]


class Batching(EmitterCore):
    """The :class:`~mtbus.EventEmitter` methods for batches and suppression (a mixin)."""

    __slots__ = ()

    def batch_operations(self) -> Batch:
        """Defer the emits made in an ``async with`` block; dispatch them if it succeeds.

        ``async with emitter.batch_operations() as batch:`` holds back every emit of this
        emitter made by the task running the block (and tasks it starts there). ``emit``
        then returns the event without running any handler. When the block ends normally,
        the events are dispatched in order; handlers registered with ``batched=True`` are
        then called once each, with an event whose ``data`` is the list of the events they
        matched. If the block raises, the events are discarded and listed in
        :attr:`Batch.discarded`. A batch opened inside another batch of the same emitter
        joins it: nothing is dispatched before the outermost block ends. ``batch()`` is an
        alias.

        :raises ~mtbus.EventEmitError: if the emitter is closed
        :raises ~mtbus.EventHandlerError: (at the end of the block) in strict mode, after
            the whole batch was dispatched, if a handler failed
        """
        self._check_open("open a batch on it")
        return Batch(self)

    batch = batch_operations

    def suppress_events(
        self, name: str | None = None
    ) -> AbstractAsyncContextManager[list[Event[Any]]]:
        """Hold back matching events in an ``async with`` block, and give them to you.

        ``async with emitter.suppress_events("user.*") as suppressed:`` keeps every event
        matching the pattern (all events if *name* is ``None``) that the task running the
        block emits on this emitter from reaching any handler or hook; ``suppressed`` is the
        list of those events, in order. Nothing is dispatched when the block ends: pass the
        list to :meth:`replay_events` to emit them after all.

        :raises ValueError: if *name* is not a valid name or pattern
        :raises ~mtbus.EventEmitError: if the emitter is closed
        """
        if name is not None:
            validate_pattern(name, "event name or pattern")
        self._check_open("suppress events on it")
        return _Suppression(self, name)

    async def replay_events(
        self, events: Iterable[Event[Any]], *, strict: bool | None = None
    ) -> int:
        """Dispatch *events* (for example, those of :meth:`suppress_events`) in order.

        Each event object is dispatched as it is, like an emit of it; an open batch or
        suppression of this emitter holds them back as usual.

        :return: how many events were dispatched
        :raises TypeError: if an item is not an :class:`~mtbus.Event`, or *strict* is not a
            ``bool`` or ``None``
        :raises ~mtbus.EventHandlerError: in strict mode, after every event was dispatched,
            if a handler failed
        """
        check_bool(strict, "strict", optional=True)
        replayed = list(events)
        for event in replayed:
            if not isinstance(event, Event):
                raise TypeError(
                    f"can only replay Event objects, not {type(event).__name__}: {event!r}"
                )
        self._check_open("replay events to it")
        await self._deliver_all(replayed, strict)
        return len(replayed)


class Batch(Scope[EmitterCore]):
    """An open (or finished) :meth:`~mtbus.EventEmitter.batch_operations` block.

    :ivar discarded: the events this block threw away because it raised (or was
        cancelled before they were dispatched); empty otherwise
    """

    __slots__ = ("_pending", "_root", "_seen", "_start", "discarded")

    def __init__(self, emitter: EmitterCore) -> None:
        super().__init__(emitter)
        self._root = self
        self._start = 0
        self._pending: list[Deferred] = []
        self._seen: list[Event[Any]] | None = None
        self.discarded: list[Event[Any]] = []

    @property
    def events(self) -> list[Event[Any]]:
        """The events deferred in this block, in order (those of nested batches included)."""
        if self._seen is not None:
            return list(self._seen)
        return [event for event, _, _ in self._root._pending[self._start :]]

    def _take(self, event: Event[Any], *, concurrent: bool | None, strict: bool | None) -> bool:
        self._root._pending.append((event, concurrent, strict))
        return True

    async def __aenter__(self) -> Batch:
        outer = innermost(self.emitter)
        if isinstance(outer, Batch):
            self._root = outer._root
            self._start = len(self._root._pending)
        self._enter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._exit()
        pending = self._root._pending
        mine = pending[self._start :]
        del pending[self._start :]
        if exc_type is not None:
            self._seen = []
            self.discarded = [event for event, _, _ in mine]
            return
        self._seen = [event for event, _, _ in mine]
        if self._root is not self:
            pending.extend(mine)  # joins the outer batch
            return
        if self.emitter._closed:
            self.discarded = self._seen
            raise EventEmitError(f"emitter is closed: {len(mine)} batched events discarded")
        await _commit(self, mine)

    def __repr__(self) -> str:
        return f"<Batch events={len(self.events)} discarded={len(self.discarded)}>"


class _Suppression(Scope[EmitterCore]):
    __slots__ = ("_matcher", "events")

    def __init__(self, emitter: EmitterCore, name: str | None) -> None:
        super().__init__(emitter)
        self.events: list[Event[Any]] = []
        self._matcher: TopicMatcher[bool] | None = None
        if name is not None:
            self._matcher = TopicMatcher()
            self._matcher.add(name, True)

    def _take(self, event: Event[Any], *, concurrent: bool | None, strict: bool | None) -> bool:
        if self._matcher is not None and not self._matcher.match(event.name):
            return False
        self.events.append(event)
        return True

    async def __aenter__(self) -> list[Event[Any]]:
        self._enter()
        return self.events

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._exit()


class Mute(_Suppression):
    """A suppression of the emits of every task, not only the task that opened it.

    A ``with`` block (it need not be async: no task owns it). An event that a batch or
    suppression of the emitting task holds back is theirs; whatever they let through while
    the mute is open (a batch that commits, a replay) is muted. Each muted event goes to
    :attr:`events` and to *taken*.
    """

    __slots__ = ("_taken",)

    everywhere = True

    def __init__(
        self, emitter: EmitterCore, name: str | None, taken: Callable[[Event[Any]], object]
    ) -> None:
        super().__init__(emitter, name)
        self._taken = taken

    def _take(self, event: Event[Any], *, concurrent: bool | None, strict: bool | None) -> bool:
        if not super()._take(event, concurrent=concurrent, strict=strict):
            return False
        self._taken(event)
        return True

    def __enter__(self) -> list[Event[Any]]:
        self._enter()
        return self.events

    def __exit__(self, *exc_info: object) -> None:
        self._exit()


def mute_events(
    emitter: EmitterCore, name: str | None, taken: Callable[[Event[Any]], object]
) -> Mute:
    """A :class:`Mute` of *emitter*'s events matching *name* (``None``: every event).

    :raises ValueError: if *name* is not a valid name or pattern
    :raises ~mtbus.EventEmitError: if the emitter is closed
    """
    if name is not None:
        validate_pattern(name, "event name or pattern")
    emitter._check_open("mute it")
    return Mute(emitter, name, taken)


async def _commit(batch: Batch, pending: list[Deferred]) -> None:
    """Dispatch a finished batch: each event in order, then each batched handler once."""
    emitter = batch.emitter
    errors: list[Exception] = []
    failed: Event[Any] | None = None
    collected: dict[Listener, list[Event[Any]]] = {}
    dispatched = 0
    try:
        for event, concurrent, strict in pending:
            await emitter._pace()  # a long batch can be cancelled, and lets others run
            dispatched += 1
            if emitter._holding and hold(emitter, event, concurrent, strict):
                continue  # an enclosing suppression takes it
            plan = emitter._registry.plan_for_event(event)
            try:
                await _dispatch_unbatched(emitter, event, plan, concurrent)
            except EventHandlerError as failure:
                if emitter._strict if strict is None else strict:
                    failed = failed or event
                    errors.extend(failure.errors)
            for listener in plan.listeners:
                if not listener.batched or not (event.propagate or listener.monitor):
                    continue
                try:
                    if listener.condition is None or listener.condition(event):
                        collected.setdefault(listener, []).append(event)
                except Exception as error:
                    await emitter._report(event, error, listener)
                    if emitter._strict:
                        failed = failed or event
                        errors.append(error)
    finally:
        if dispatched < len(pending):  # cancelled part-way
            batch.discarded = [event for event, _, _ in pending[dispatched:]]
    for listener in sorted(collected, key=run_order):
        if listener.once and not emitter._use_up(listener):
            continue
        delivered = batch_event(listener.key, collected[listener])
        try:
            result = listener.batch_callback(delivered)
            if isawaitable(result):
                await result
        except Exception as error:
            await emitter._report(delivered, error, listener)
            if emitter._strict:
                failed = failed or delivered
                errors.append(error)
    if failed is not None:
        raise EventHandlerError(failed, tuple(errors))


async def _dispatch_unbatched(
    emitter: EmitterCore, event: Event[Any], plan: Plan, concurrent: bool | None
) -> None:
    if emitter._concurrent if concurrent is None else concurrent:
        levels = (tuple(each for each in level if not each.batched) for level in plan.levels)
        await dispatch_levels(
            emitter._dispatch, event, tuple(level for level in levels if level), True
        )
    else:
        listeners = tuple(each for each in plan.listeners if not each.batched)
        await emitter._dispatch(event, listeners, True)
