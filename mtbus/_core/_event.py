"""The :class:`Event` envelope handed to handlers, and :class:`EventPriority`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Generic, TypeVar

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


@dataclass(slots=True, init=False)
class Event(Generic[T]):
    """One emitted event, as every handler of an emit sees it (they share the same object).

    :ivar name: the event name that was emitted (never a pattern)
    :ivar data: the payload given to :meth:`~mtbus.EventEmitter.emit`
    :ivar propagate: set to ``False`` in a handler to stop the lower-priority handlers;
        :attr:`EventPriority.MONITOR` handlers still run
    :ivar metadata: free-form context (a fresh ``dict`` per event unless one is given)
    :ivar timestamp: creation time, in seconds since the epoch (:func:`time.time`)
    """

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
