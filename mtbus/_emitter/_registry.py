"""Where an emitter keeps its listeners, and the dispatch plan it derives for each name.

A plan is built for an event name (a named emit) or for an event class (a typed emit,
``emit(OrderPlaced(...))``). A class's plan holds the handlers registered by name or
pattern that match the class's event name, and those registered on the class or one of its
bases (as ``isinstance`` would choose them): decided here, once, not per emit. A named
emit's plan leaves out the handlers registered on classes, whose events are instances.
"""

from __future__ import annotations

from itertools import count, groupby
from typing import TYPE_CHECKING, Any, Literal

from .._core._topics import TopicMatcher, has_wildcard, validate_name
from .._core._typed import event_name
from ._tracing import tracing

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._core._event import Event
    from ._listener import Listener

#: How many distinct event names keep a precomputed dispatch plan.
PLAN_CACHE_SIZE = 4096


class Plan:
    """What one emit of one name runs, precomputed once per name.

    :ivar listeners: ``before_emit`` hooks, the matching handlers in priority order, then
        ``after_emit`` hooks: the sequence a sequential emit walks
    :ivar levels: the same, grouped for concurrent dispatch: each hook alone, and the
        handlers in runs of equal priority
    :ivar unguarded: no listener has a condition or is a once-listener, so emit can call
        each in turn without checking anything first
    :ivar traced: emits along it are logged (the ``mtbus`` logger was at DEBUG when it was
        built); such a plan is never in the cache emit reads
    :ivar name: the event name its events carry
    :ivar event_type: the event class it was built for (``None``: built for a name)
    """

    __slots__ = ("event_type", "levels", "listeners", "name", "traced", "unguarded")

    def __init__(
        self,
        before: tuple[Listener, ...],
        handlers: list[Listener],
        after: tuple[Listener, ...],
        *,
        traced: bool = False,
        name: str = "",
        event_type: type[Any] | None = None,
    ) -> None:
        self.traced = traced
        self.name = name
        self.event_type = event_type
        self.listeners = (*before, *handlers, *after)
        self.unguarded = not any(listener.guarded for listener in self.listeners)
        by_priority = groupby(handlers, key=run_level)
        self.levels = (
            *((hook,) for hook in before),
            *(tuple(level) for _, level in by_priority),
            *((hook,) for hook in after),
        )


#: What a plan is built for: an event name, or an event class.
PlanKey = str | type[Any]


class Registry:
    """The listeners of one emitter, by key (a name or pattern), and the plans built from them.

    Plans are computed on the first emit of a name (or event class) and cached in
    :attr:`plans`, a dict the emitter reads directly on its hot path. Any change drops the
    plans it could affect, so an emit already running keeps the tuple it started with
    (copy-on-write).
    """

    __slots__ = (
        "_after_emit",
        "_before_emit",
        "_by_key",
        "_class_keys",
        "_matcher",
        "_sequence",
        "_traced",
        "_typed",
        "plans",
        "typed_plans",
    )

    def __init__(self) -> None:
        self._by_key: dict[str, list[Listener]] = {}
        self._matcher: TopicMatcher[str] = TopicMatcher()
        self._sequence = count()
        self._before_emit: tuple[Listener, ...] = ()
        self._after_emit: tuple[Listener, ...] = ()
        #: Dispatch plan per emitted name; only ever changed in place.
        self.plans: dict[str, Plan] = {}
        #: Dispatch plan per emitted event class, apart: a dict of ``str`` keys only is
        #: searched faster, and named emits are the common case.
        self.typed_plans: dict[type[Any], Plan] = {}
        #: Traced plans, kept apart so that emit never finds them in those two.
        self._traced: dict[PlanKey, Plan] = {}
        #: The key (event name) of each class a handler was registered on.
        self._class_keys: dict[type[Any], str] = {}
        #: The event classes a plan was built for, by event name: what to drop when
        #: the handlers of a name change.
        self._typed: dict[str, set[type[Any]]] = {}

    def add(self, listener: Listener) -> None:
        """Register *listener* under its key, after every listener registered so far."""
        listener.sequence = next(self._sequence)
        registered = self._by_key.get(listener.key)
        if registered is None:
            self._by_key[listener.key] = [listener]
            self._matcher.add(listener.key, listener.key)
        else:
            registered.append(listener)
        if listener.event_type is not None:
            self._class_keys[listener.event_type] = listener.key
        self._forget_plans(listener.key, listener.event_type)

    def discard(self, listener: Listener) -> None:
        """Unregister *listener* if it is still registered."""
        registered = self._by_key.get(listener.key)
        if registered is None or listener not in registered:
            return
        registered.remove(listener)
        if not registered:
            del self._by_key[listener.key]
            self._matcher.remove(listener.key, listener.key)
        self._forget_plans(listener.key, listener.event_type)

    def find(
        self, key: str, handler: Callable[..., Any], event_type: type[Any] | None = None
    ) -> Listener | None:
        """The most recent registration of *handler* under *key* (on *event_type*, if
        given), if any."""
        for listener in reversed(self._under(key, event_type)):
            if listener.handler == handler:
                return listener
        return None

    def discard_key(self, key: str, event_type: type[Any] | None = None) -> int:
        """Unregister everything under *key* (only what was registered on *event_type*,
        if given); return how many listeners that was."""
        removed = self._under(key, event_type)
        for listener in removed:
            self.discard(listener)
        return len(removed)

    def clear(self) -> int:
        """Unregister every listener (hooks stay); return how many there were."""
        removed = self.count()
        self._by_key.clear()
        self._matcher = TopicMatcher()
        self._forget_plans("#")
        return removed

    def count(self, key: str | None = None, event_type: type[Any] | None = None) -> int:
        """How many listeners are registered under *key* (on *event_type*, if given), or
        in all."""
        if key is None:
            return sum(map(len, self._by_key.values()))
        return len(self._under(key, event_type))

    def ordered(self, key: str, event_type: type[Any] | None = None) -> list[Listener]:
        """The listeners registered under *key* (on *event_type*, if given), in the order
        they run."""
        return sorted(self._under(key, event_type), key=run_order)

    def keys(self) -> list[str]:
        """Every key with at least one listener, in first-registration order."""
        return list(self._by_key)

    def add_hook(self, kind: Literal["before_emit", "after_emit"], hook: Listener) -> None:
        """Run *hook* before (or after) the handlers of every emit."""
        if kind == "before_emit":
            self._before_emit += (hook,)
        else:
            self._after_emit += (hook,)
        self._forget_plans("#")

    def remove_hook(
        self, kind: Literal["before_emit", "after_emit"], handler: Callable[..., Any]
    ) -> bool:
        """Stop running the hook *handler*; return whether it was there."""
        current = self._before_emit if kind == "before_emit" else self._after_emit
        kept = tuple(hook for hook in current if hook.handler != handler)
        if len(kept) == len(current):
            return False
        if kind == "before_emit":
            self._before_emit = kept
        else:
            self._after_emit = kept
        self._forget_plans("#")
        return True

    def plan(self, key: PlanKey) -> Plan:
        """Build (and cache) the plan for an event name or class, validating it first.

        While the ``mtbus`` logger logs DEBUG, the plan is a traced one, and is cached
        apart from :attr:`plans`.

        :raises TypeError: if *key* is neither a ``str`` nor an event class
        :raises ValueError: if *key* is not a valid event name, or the class declares an
            invalid one
        """
        if isinstance(key, str):
            validate_name(key)
        return self._build(key)  # which checks a class as it names it

    def plan_for(self, key: PlanKey) -> Plan:
        """The cached plan for *key*, or a new one: *key* must be a valid event name or
        event class."""
        plan = self.plans.get(key) if isinstance(key, str) else self.typed_plans.get(key)
        return self._build(key) if plan is None else plan

    def plan_for_event(self, event: Event[Any]) -> Plan:
        """The plan an event made elsewhere (held back, forwarded) is dispatched along:
        its class's, for a typed event, else its name's."""
        return self.plan_for(event._type or event.name)

    def notice_tracing(self) -> None:
        """Drop the cached plans if the ``mtbus`` logger logs DEBUG now: they were built
        untraced. The emitter calls this at each of its periodic checkpoints, so a level
        lowered to DEBUG reaches every name within that many emits, at no cost per emit."""
        if (self.plans or self.typed_plans) and tracing():
            self.plans.clear()
            self.typed_plans.clear()

    def _build(self, key: PlanKey) -> Plan:
        traced = tracing()
        cache: dict[Any, Plan] = self._traced
        if not traced:
            cache = self.plans if isinstance(key, str) else self.typed_plans
        plan = cache.get(key)
        if plan is not None:  # a traced one, or one built while DEBUG was on
            return plan
        by_key = self._by_key
        name = key if isinstance(key, str) else event_name(key)
        handlers = [
            listener
            for matched in self._matcher.match(name)
            for listener in by_key[matched]
            if listener.event_type is None
        ]
        event_type = None
        if not isinstance(key, str):
            event_type = key
            self._typed.setdefault(name, set()).add(key)
            for base in key.__mro__:
                base_key = self._class_keys.get(base)
                if base_key is not None:
                    registered = by_key.get(base_key, ())
                    handlers += [each for each in registered if each.event_type is base]
        handlers.sort(key=run_order)
        plan = Plan(
            self._before_emit,
            handlers,
            self._after_emit,
            traced=traced,
            name=name,
            event_type=event_type,
        )
        if len(cache) >= PLAN_CACHE_SIZE:
            del cache[next(iter(cache))]  # the oldest
        cache[key] = plan
        return plan

    def _under(self, key: str, event_type: type[Any] | None) -> list[Listener]:
        """The listeners registered under *key* (only those on *event_type*, if given), in
        registration order."""
        registered = self._by_key.get(key, [])
        if event_type is None:
            return list(registered)
        return [each for each in registered if each.event_type is event_type]

    def _forget_plans(self, key: str, event_type: type[Any] | None = None) -> None:
        """Drop the plans a change of the listeners under *key* (registered on
        *event_type*, if any) could affect: those of the names it matches, of the classes
        named so, and of the subclasses of that event type."""
        if has_wildcard(key):
            self.plans.clear()
            self.typed_plans.clear()
            self._traced.clear()
            return
        stale: list[PlanKey] = [key, *self._typed.get(key, ())]
        if event_type is not None:
            stale += [
                typed
                for named in self._typed.values()
                for typed in named
                if issubclass(typed, event_type)
            ]
        caches: tuple[dict[Any, Plan], ...] = (self.plans, self.typed_plans, self._traced)
        for cache in caches:
            for each in stale:
                cache.pop(each, None)


def run_order(listener: Listener) -> tuple[bool, int, int]:
    """Monitors last, whatever the other priorities; higher priority first; then
    registration order."""
    return (listener.monitor, -listener.priority, listener.sequence)


def run_level(listener: Listener) -> tuple[bool, int]:
    """What a listener shares with the others of its level under concurrent dispatch."""
    return (listener.monitor, listener.priority)
