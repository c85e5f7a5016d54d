"""Where an emitter keeps its listeners, and the dispatch plan it derives for each name."""

from __future__ import annotations

from itertools import count, groupby
from typing import TYPE_CHECKING, Any, Literal

from .._core._topics import TopicMatcher, has_wildcard, validate_name
from ._tracing import tracing

if TYPE_CHECKING:
    from collections.abc import Callable

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
    """

    __slots__ = ("levels", "listeners", "traced", "unguarded")

    def __init__(
        self,
        before: tuple[Listener, ...],
        handlers: list[Listener],
        after: tuple[Listener, ...],
        *,
        traced: bool = False,
    ) -> None:
        self.traced = traced
        self.listeners = (*before, *handlers, *after)
        self.unguarded = not any(listener.guarded for listener in self.listeners)
        by_priority = groupby(handlers, key=run_level)
        self.levels = (
            *((hook,) for hook in before),
            *(tuple(level) for _, level in by_priority),
            *((hook,) for hook in after),
        )


class Registry:
    """The listeners of one emitter, by key (a name or pattern), and the plans built from them.

    Plans are computed on the first emit of a name and cached in :attr:`plans`, a dict the
    emitter reads directly on its hot path. Any change drops the plans it could affect, so
    an emit already running keeps the tuple it started with (copy-on-write).
    """

    __slots__ = (
        "_after_emit",
        "_before_emit",
        "_by_key",
        "_matcher",
        "_sequence",
        "_traced",
        "plans",
    )

    def __init__(self) -> None:
        self._by_key: dict[str, list[Listener]] = {}
        self._matcher: TopicMatcher[str] = TopicMatcher()
        self._sequence = count()
        self._before_emit: tuple[Listener, ...] = ()
        self._after_emit: tuple[Listener, ...] = ()
        #: Dispatch plan per emitted name; only ever changed in place.
        self.plans: dict[str, Plan] = {}
        #: Traced plans, kept apart so that emit never finds them in :attr:`plans`.
        self._traced: dict[str, Plan] = {}

    def add(self, listener: Listener) -> None:
        """Register *listener* under its key, after every listener registered so far."""
        listener.sequence = next(self._sequence)
        registered = self._by_key.get(listener.key)
        if registered is None:
            self._by_key[listener.key] = [listener]
            self._matcher.add(listener.key, listener.key)
        else:
            registered.append(listener)
        self._forget_plans(listener.key)

    def discard(self, listener: Listener) -> None:
        """Unregister *listener* if it is still registered."""
        registered = self._by_key.get(listener.key)
        if registered is None or listener not in registered:
            return
        registered.remove(listener)
        if not registered:
            del self._by_key[listener.key]
            self._matcher.remove(listener.key, listener.key)
        self._forget_plans(listener.key)

    def find(self, key: str, handler: Callable[..., Any]) -> Listener | None:
        """The most recent registration of *handler* under *key*, if any."""
        for listener in reversed(self._by_key.get(key, ())):
            if listener.handler == handler:
                return listener
        return None

    def discard_key(self, key: str) -> int:
        """Unregister everything under *key*; return how many listeners that was."""
        registered = self._by_key.pop(key, None)
        if registered is None:
            return 0
        self._matcher.remove(key, key)
        self._forget_plans(key)
        return len(registered)

    def clear(self) -> int:
        """Unregister every listener (hooks stay); return how many there were."""
        removed = self.count()
        self._by_key.clear()
        self._matcher = TopicMatcher()
        self._forget_plans("#")
        return removed

    def count(self, key: str | None = None) -> int:
        """How many listeners are registered under *key*, or in all."""
        if key is None:
            return sum(map(len, self._by_key.values()))
        return len(self._by_key.get(key, ()))

    def ordered(self, key: str) -> list[Listener]:
        """The listeners registered under *key*, in the order they run."""
        return sorted(self._by_key.get(key, ()), key=run_order)

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

    def plan(self, name: str) -> Plan:
        """Build (and cache) the plan for an event name, validating the name first.

        While the ``mtbus`` logger logs DEBUG, the plan is a traced one, and is cached
        apart from :attr:`plans`.

        :raises TypeError: if *name* is not a ``str``
        :raises ValueError: if *name* is not a valid event name
        """
        validate_name(name)
        return self._build(name)

    def plan_for(self, name: str) -> Plan:
        """The cached plan for *name*, or a new one: *name* must be a valid event name."""
        plan = self.plans.get(name)
        return self._build(name) if plan is None else plan

    def notice_tracing(self) -> None:
        """Drop the cached plans if the ``mtbus`` logger logs DEBUG now: they were built
        untraced. The emitter calls this at each of its periodic checkpoints, so a level
        lowered to DEBUG reaches every name within that many emits, at no cost per emit."""
        if self.plans and tracing():
            self.plans.clear()

    def _build(self, name: str) -> Plan:
        traced = tracing()
        cache = self._traced if traced else self.plans
        plan = cache.get(name)
        if plan is not None:  # a traced one, or one built while DEBUG was on
            return plan
        by_key = self._by_key
        handlers = [listener for key in self._matcher.match(name) for listener in by_key[key]]
        handlers.sort(key=run_order)
        plan = Plan(self._before_emit, handlers, self._after_emit, traced=traced)
        if len(cache) >= PLAN_CACHE_SIZE:
            del cache[next(iter(cache))]  # the oldest
        cache[name] = plan
        return plan

    def _forget_plans(self, key: str) -> None:
        for cache in (self.plans, self._traced):
            if has_wildcard(key):
                cache.clear()
            else:
                cache.pop(key, None)


def run_order(listener: Listener) -> tuple[bool, int, int]:
    """Monitors last, whatever the other priorities; higher priority first; then
    registration order."""
    return (listener.monitor, -listener.priority, listener.sequence)


def run_level(listener: Listener) -> tuple[bool, int]:
    """What a listener shares with the others of its level under concurrent dispatch."""
    return (listener.monitor, listener.priority)
