"""Derived emitters (``filter``, ``map``, ``buffer``) and pipes: emitters fed by another one.

A derived emitter is fed by one forwarding listener on its parent, registered with
:attr:`~mtbus.EventPriority.MONITOR` priority under the ``event_name`` pattern (``"#"`` when
none is given). The parent holds the child only through a weak reference, whose callback
removes that listener when the child is garbage-collected; the child holds its parent
strongly, so every emitter of a chain stays alive as long as its last link does.
"""

from __future__ import annotations

import logging
import weakref
from inspect import isawaitable
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from .._core._checks import check_callable, check_count
from .._core._event import Event, EventPriority
from .._core._exceptions import DownstreamErrors, EventEmitError, EventHandlerError
from .._core._topics import validate_pattern
from ._dispatch import EmitterCore
from ._links import Links
from ._listener import Listener

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

logger = logging.getLogger("mtbus")

EmitterT = TypeVar("EmitterT", bound=EmitterCore)
ComposingT = TypeVar("ComposingT", bound="Composition")


class Composition(EmitterCore):
    """The :class:`~mtbus.EventEmitter` methods that compose emitters (a mixin)."""

    __slots__ = ()

    def filter(
        self,
        predicate: Callable[[Event[Any]], Any],
        event_name: str | None = None,
    ) -> Self:
        """A new emitter that receives this one's events for which *predicate* is true.

        The derived emitter is fed by a :attr:`~mtbus.EventPriority.MONITOR` listener on this
        emitter, so it sees each event after this emitter's own handlers, even when one of
        them stopped propagation. Its handlers get a copy of the event (same name, data,
        metadata and timestamp). This emitter holds it weakly: keep a reference to it for as
        long as it should receive events. A raising predicate is reported like a raising
        handler of this emitter. Async predicates are awaited.

        :param predicate: called with each event; a true result forwards it
        :param event_name: only events matching this name or pattern are considered
            (default: every event)
        :raises TypeError: if *predicate* is not callable with one argument (the event)
        :raises ValueError: if *event_name* is not a valid name or pattern
        :raises ~mtbus.EventEmitError: if this emitter is closed
        """
        check_callable(predicate, "predicate")
        return _derive(self, event_name, "filter predicate", predicate, _Filter(predicate))

    def map(
        self,
        transform: Callable[[Event[Any]], Any],
        event_name: str | None = None,
    ) -> Self:
        """A new emitter that receives ``transform(event)`` for this one's events.

        *transform* returns the :class:`~mtbus.Event` to deliver, and may change its name,
        data or metadata (a new name must be a valid event name). Returning anything else
        is a failure of the transform, reported like a raising handler of this emitter.
        Async transforms are awaited. Otherwise like :meth:`filter`.

        :raises TypeError: if *transform* is not callable with one argument (the event)
        :raises ValueError: if *event_name* is not a valid name or pattern
        :raises ~mtbus.EventEmitError: if this emitter is closed
        """
        check_callable(transform, "transform")
        return _derive(self, event_name, "map transform", transform, _Map(transform))

    def buffer(self, size: int, event_name: str | None = None) -> Self:
        """A new emitter that receives this one's events in lists of *size*, per name.

        Every *size* events of one name, the derived emitter emits one event of that name
        whose ``data`` is the list of those events, oldest first. Events of different names
        are buffered separately. :meth:`flush` delivers incomplete lists; :meth:`aclose`
        flushes, then closes; :meth:`close` drops them with a warning on the ``mtbus``
        logger. Otherwise like :meth:`filter`.

        :raises TypeError: if *size* is not an ``int``
        :raises ValueError: if *size* is below 1, or *event_name* is not a valid pattern
        :raises ~mtbus.EventEmitError: if this emitter is closed
        """
        check_count(size, "buffer size", 1)
        forwarder = _Buffer()
        child = _derive(self, event_name, "buffer", forwarder, forwarder)
        _links_of(child).size = size
        return child

    async def flush(self) -> int:
        """Deliver what a :meth:`buffer` emitter holds now, one event per name.

        Does nothing on other emitters. In strict mode, raises
        :exc:`~mtbus.EventHandlerError` after every list was delivered, if a handler failed.

        :return: how many buffered events were delivered
        """
        links = self._links
        if links is None or not links.buffers:
            return 0
        held, links.buffers = links.buffers, {}
        lists = [Event(name, events) for name, events in held.items()]
        await self._deliver_all(lists, None, valid=True)
        return sum(map(len, held.values()))

    def pipe(self, other: EmitterT, event_name: str | None = None) -> EmitterT:
        """Forward this emitter's events (a copy of each) to *other*; return *other*.

        The forwarding listener has :attr:`~mtbus.EventPriority.MONITOR` priority, and holds
        *other* strongly until :meth:`unpipe` or :meth:`close`. Failures of *other*'s
        handlers are reported by *other*; a strict emit here counts them too. A pipe that
        would close a loop of pipes and derived emitters is refused, whatever the patterns.

        :param event_name: only forward events matching this name or pattern (default: all)
        :raises TypeError: if *other* is not an :class:`~mtbus.EventEmitter`
        :raises ValueError: if *event_name* is not a valid name or pattern
        :raises ~mtbus.EventEmitError: if the pipe would create a cycle, or either
            emitter is closed
        """
        if not isinstance(other, EmitterCore):
            raise TypeError(
                f"can only pipe to an EventEmitter, not {type(other).__name__}: {other!r}"
            )
        key = "#" if event_name is None else validate_pattern(event_name, "event name or pattern")
        self._check_open("pipe from it")
        other._check_open("pipe to it")
        path = _path(other, self)
        if path is not None:
            cycle = " -> ".join(_label(emitter) for emitter in (self, *path))
            raise EventEmitError(f"pipe would create a cycle: {cycle}")
        forwarder = _Pipe(weakref.ref(self), other)
        listener = Listener(
            key, forwarder, priority=EventPriority.MONITOR, role="pipe", callback=forwarder
        )
        forwarder.listener = listener
        self._add_listener(listener)
        _links_of(self).pipes.append((other, listener))
        return other

    def unpipe(self, other: EmitterCore | None = None) -> int:
        """Stop forwarding to *other* (every pipe to it), or to every pipe target.

        :return: how many pipes were removed
        """
        links = self._links
        if links is None:
            return 0
        kept: list[tuple[EmitterCore, Listener]] = []
        for target, listener in links.pipes:
            if other is None or target is other:
                self._remove_listener(listener)
            else:
                kept.append((target, listener))
        removed = len(links.pipes) - len(kept)
        links.pipes = kept
        return removed

    # -- the part's teardown, driven by EventEmitter.close() and aclose() ---------------

    def _derived(self) -> list[Self]:
        """The live emitters derived from this one (each made by ``type(self)``)."""
        links = self._links
        if links is None:
            return []
        children = [reference() for reference in list(links.children)]
        return [cast("Self", child) for child in children if child is not None]

    def _unlink(self) -> list[Self]:
        """Leave the graph: detach from the parent, drop the pipes and what buffers hold.

        :return: the emitters derived from this one, for the caller to close in turn
        """
        links, parent = self._links, self._parent
        self._set_parent(None)
        if links is None:
            return []
        children = self._derived()
        if parent is not None:
            _detach(parent, links)
        links.children.clear()
        links.pipes.clear()
        dropped = sum(map(len, links.buffers.values()))
        if dropped:
            logger.warning(
                "buffer closed with %d undelivered events (await flush() or aclose() "
                "to deliver them)",
                dropped,
            )
        links.buffers.clear()
        return children


# -- forwarders: the callbacks of the listeners that feed derived emitters and pipes -------


class _Forwarder:
    __slots__ = ("child",)

    def __init__(self) -> None:
        self.child: weakref.ref[EmitterCore] | None = None

    async def __call__(self, event: Event[Any]) -> None:
        child = None if self.child is None else self.child()
        if child is not None and not child._closed:
            await self.forward(child, event)

    async def forward(self, child: EmitterCore, event: Event[Any]) -> None:
        raise NotImplementedError


class _Filter(_Forwarder):
    __slots__ = ("predicate",)

    def __init__(self, predicate: Callable[[Event[Any]], Any]) -> None:
        super().__init__()
        self.predicate = predicate

    async def forward(self, child: EmitterCore, event: Event[Any]) -> None:
        keep = self.predicate(event)
        if isawaitable(keep):
            keep = await keep
        if keep:
            await _send(child, _copy(event), valid=True)


class _Map(_Forwarder):
    __slots__ = ("transform",)

    def __init__(self, transform: Callable[[Event[Any]], Any]) -> None:
        super().__init__()
        self.transform = transform

    async def forward(self, child: EmitterCore, event: Event[Any]) -> None:
        result = self.transform(event)
        if isawaitable(result):
            result = await result
        if not isinstance(result, Event):
            raise TypeError(
                f"map transform must return an Event, not {type(result).__name__}: {result!r}"
            )
        if result is event:
            await _send(child, _copy(event), valid=True)
        else:
            await _send(child, result, valid=False)  # it may have a new name


class _Buffer(_Forwarder):
    __slots__ = ()

    async def forward(self, child: EmitterCore, event: Event[Any]) -> None:
        links = _links_of(child)
        held = links.buffers.setdefault(event.name, [])
        held.append(event)
        if len(held) >= links.size:
            del links.buffers[event.name]
            await _send(child, Event(event.name, held), valid=True)

    def __repr__(self) -> str:
        child = None if self.child is None else self.child()
        return f"<buffer for {'a collected emitter' if child is None else _label(child)}>"


class _Pipe:
    __slots__ = ("listener", "source", "target")

    def __init__(self, source: weakref.ref[Composition], target: EmitterCore) -> None:
        self.source = source
        self.target = target
        self.listener: Listener | None = None

    async def __call__(self, event: Event[Any]) -> None:
        if self.target._closed:
            source = self.source()
            if source is not None:
                source.unpipe(self.target)
            return
        await _send(self.target, _copy(event), valid=True)

    def __repr__(self) -> str:
        return f"<pipe to {_label(self.target)}>"


async def _send(target: EmitterCore, event: Event[Any], *, valid: bool) -> None:
    if target._closed:
        return
    try:
        await target._deliver(event, None, True, valid=valid)
    except EventHandlerError as failure:
        raise DownstreamErrors(failure.errors, failure.event.failures) from None


# -- helpers ---------------------------------------------------------------------------------


def _derive(
    parent: ComposingT,
    event_name: str | None,
    role: str,
    shown: Callable[..., Any],
    forwarder: _Forwarder,
) -> ComposingT:
    key = "#" if event_name is None else validate_pattern(event_name, "event name or pattern")
    parent._check_open("derive an emitter from it")
    child = type(parent)(concurrent=parent._concurrent, strict=parent._strict)
    child_ref: weakref.ref[EmitterCore] = weakref.ref(child, _forget_child(weakref.ref(parent)))
    forwarder.child = child_ref
    listener = Listener(key, shown, priority=EventPriority.MONITOR, role=role, callback=forwarder)
    parent._add_listener(listener)
    _links_of(parent).children[child_ref] = listener
    child._set_parent(parent)
    child_links = _links_of(child)
    child_links.upstream = listener
    child_links.self_ref = child_ref
    return child


def _forget_child(
    parent_ref: weakref.ref[EmitterCore],
) -> Callable[[weakref.ref[EmitterCore]], None]:
    """The weakref callback that removes a collected child's listener from its parent."""

    def forget(child_ref: weakref.ref[EmitterCore]) -> None:
        parent = parent_ref()
        if parent is not None and parent._links is not None:
            listener = parent._links.children.pop(child_ref, None)
            if listener is not None:
                parent._remove_listener(listener)

    return forget


def _detach(parent: EmitterCore, links: Links[EmitterCore]) -> None:
    if links.upstream is not None:
        parent._remove_listener(links.upstream)
    if parent._links is not None and links.self_ref is not None:
        parent._links.children.pop(links.self_ref, None)


def _links_of(emitter: EmitterCore) -> Links[EmitterCore]:
    links = emitter._links
    if links is None:
        links = emitter._links = Links()
    return links


def _downstream(emitter: EmitterCore) -> Iterator[EmitterCore]:
    links = emitter._links
    if links is None:
        return
    for child_ref in list(links.children):
        child = child_ref()
        if child is not None:
            yield child
    for target, _ in links.pipes:
        yield target


def _path(start: EmitterCore, goal: EmitterCore) -> list[EmitterCore] | None:
    """A path of derived emitters and pipes from *start* to *goal*, if there is one."""
    stack = [[start]]
    seen: set[int] = set()
    while stack:
        path = stack.pop()
        node = path[-1]
        if node is goal:
            return path
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.extend([*path, after] for after in _downstream(node))
    return None


def _copy(event: Event[Any]) -> Event[Any]:
    copy = Event(event.name, event.data, True, dict(event.metadata), event.timestamp)
    copy._type = event._type  # a typed event stays typed
    return copy


def _label(emitter: EmitterCore) -> str:
    return f"{type(emitter).__name__}@{id(emitter):#x}"
