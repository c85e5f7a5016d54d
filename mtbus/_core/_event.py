"""The :class:`Event` envelope handed to handlers, and :class:`EventPriority`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")

_now = time.time


class EventPriority(IntEnum):
    """When a handler runs relative to the others registered for the same event.

    Handlers run from :attr:`HIGHEST` down to :attr:`LOWEST`; handlers of equal priority run
    in registration order. Plain ``int`` priorities are accepted too and interleave with these
    members by value (higher runs first): ``priority=10`` runs after :attr:`HIGH` (50) and
    before :attr:`NORMAL` (0).

    :attr:`MONITOR` is special: monitor handlers run **last**, after every other handler, and
    run even when a handler stopped propagation. They observe the outcome of an emit.
    Its value is the smallest priority there is; an ``int`` below it is rejected.
    """

    MONITOR = -1000
    LOWEST = -100
    LOW = -50
    NORMAL = 0
    HIGH = 50
    HIGHEST = 100


@dataclass(init=False)
class Event(Generic[T]):
    """One emitted event, as every handler of an emit sees it (they share the same object).

    :ivar name: the event name that was emitted (never a pattern)
    :ivar data: the payload given to :meth:`~mtbus.EventEmitter.emit`
    :ivar propagate: set to ``False`` in a handler to stop the lower-priority handlers;
        :attr:`EventPriority.MONITOR` handlers still run
    :ivar metadata: free-form context (a fresh ``dict`` per event unless one is given)
    :ivar timestamp: creation time, in seconds since the epoch (:func:`time.time`)
    """

    # Slots written out rather than generated (``slots=True``), to add two that are not
    # fields, so ``dataclasses.fields()``, ``asdict()`` and ``==`` ignore them:
    # ``_failures`` is set only when a handler fails, so an emit that fails nothing never
    # touches it; ``_type`` is the event class of a typed emit (``emit(OrderPlaced(...))``),
    # whose handlers on that class and its bases run for the event wherever it goes next
    # (derived emitters, batches), and ``None`` for an event emitted by name.
    __slots__ = ("_failures", "_type", "data", "metadata", "name", "propagate", "timestamp")

    name: str
    data: T
    propagate: bool
    metadata: dict[str, Any]
    timestamp: float

    # Written by hand rather than generated, to skip the default-factory machinery.
    # emit does not call it: it fills the slots of a bare instance itself (see _core),
    # so a new field must be set there too.
    def __init__(
        self,
        name: str,
        data: T = None,  # type: ignore[assignment]
        propagate: bool = True,
        metadata: dict[str, Any] | None = None,
        timestamp: float | None = None,
    ) -> None:
        self.name = name
        self.data = data
        self.propagate = propagate
        self.metadata = {} if metadata is None else metadata
        self.timestamp = _now() if timestamp is None else timestamp
        self._type: type[Any] | None = None

    @property
    def failures(self) -> tuple[HandlerResult, ...]:
        """The handlers (and hooks) that failed on this event so far, each with its exception.

        Filled as they fail, in the order they failed, whether or not the emit is strict:
        a lenient caller reads it from the event :meth:`~mtbus.EventEmitter.emit` returned.
        Failures in a derived emitter or pipe target this event reached are included (they
        ran on a copy of it). Empty when nothing failed.
        """
        try:
            return self._failures
        except AttributeError:  # never set: nothing failed
            return ()

    def _add_failures(self, failures: tuple[HandlerResult, ...]) -> None:
        self._failures: tuple[HandlerResult, ...] = (*self.failures, *failures)


@dataclass(frozen=True, slots=True)
class HandlerResult:
    """What one handler did with one event: what it returned, or what it raised.

    :ivar handler: the function as it was registered (what ``off()`` takes)
    :ivar value: what it returned, awaited if it was awaitable; for a generator handler
        (sync or async), the list of the values it yielded; ``None`` if it failed
    :ivar error: the exception it raised (a :exc:`TimeoutError` if it ran past its
        ``timeout=``), or ``None``
    """

    handler: Callable[..., Any]
    value: Any = None
    error: Exception | None = None

    @property
    def failed(self) -> bool:
        """Whether the handler raised."""
        return self.error is not None


class HandlerResults(Sequence[HandlerResult], Generic[T]):
    """What :meth:`~mtbus.EventEmitter.collect` returns: each handler's
    :class:`HandlerResult`, in the order they ran, and the event they saw.

    ``results.values`` are what the handlers that did not fail returned (Tina4's and
    Nitro's ``emit`` results); iterate for each handler with its value or exception (as
    blinker's ``send`` pairs); ``results.failed`` are the ones that raised. A typed emit's
    results are a ``HandlerResults[OrderPlaced]``, whose ``event`` is an
    ``Event[OrderPlaced]``.

    :ivar event: the :class:`Event` the handlers saw (its ``failures`` include hooks')
    """

    __slots__ = ("_results", "event")

    def __init__(self, event: Event[T], results: list[HandlerResult]) -> None:
        self.event: Event[T] = event
        self._results = results

    @overload
    def __getitem__(self, index: int) -> HandlerResult: ...

    @overload
    def __getitem__(self, index: slice) -> list[HandlerResult]: ...

    def __getitem__(self, index: int | slice) -> HandlerResult | list[HandlerResult]:
        return self._results[index]

    def __len__(self) -> int:
        return len(self._results)

    def __iter__(self) -> Iterator[HandlerResult]:
        return iter(self._results)

    @property
    def values(self) -> list[Any]:
        """What each handler that did not fail returned, in the order they ran."""
        return [result.value for result in self._results if result.error is None]

    @property
    def failed(self) -> list[HandlerResult]:
        """The results of the handlers that raised, in the order they ran."""
        return [result for result in self._results if result.error is not None]

    def __repr__(self) -> str:
        return (
            f"<HandlerResults for {self.event.name!r}: {len(self._results)} ran, "
            f"{len(self.failed)} failed>"
        )
