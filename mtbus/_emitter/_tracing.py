"""Debug tracing: with the ``mtbus`` logger at DEBUG, each emit and each handler is logged.

Whether a name's emits are traced is decided when its dispatch plan is built (see
``Registry.plan_for``), not per emit: a traced plan is never put in the plan cache that
:meth:`~mtbus.EventEmitter.emit` reads, so with DEBUG off the hot path is exactly what it
was, and with DEBUG on every emit of the name takes the slow path through
``EmitterCore._trace``, which hands a :class:`Trace` to dispatch as its recorder.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from ._listener import describe

if TYPE_CHECKING:
    from .._core._event import Event
    from ._listener import Listener

logger = logging.getLogger("mtbus")

#: Told, for each listener that ran, what it returned, what it raised, and for how long
#: (in seconds): what collected results and traces are made of.
Recorder: TypeAlias = Callable[["Listener", Any, "Exception | None", float], None]

_clock = time.perf_counter


def tracing() -> bool:
    """Whether plans built now should be traced: the ``mtbus`` logger logs DEBUG."""
    return logger.isEnabledFor(logging.DEBUG)


class Trace:
    """The trace of one emit: a line when it starts, one per listener, one when it ends."""

    __slots__ = ("_event", "_failed", "_ran", "_record", "_started")

    def __init__(self, event: Event[Any], listeners: int, record: Recorder | None) -> None:
        self._event = event
        self._record = record
        self._ran = 0
        self._failed = 0
        matched = "1 listener matches" if listeners == 1 else f"{listeners} listeners match"
        logger.debug("emit %r: %s", event.name, matched)
        self._started = _clock()

    def __call__(
        self, listener: Listener, value: Any, error: Exception | None, duration: float
    ) -> None:
        self._ran += 1
        name = describe(listener.handler)
        milliseconds = duration * 1000
        if error is None:
            logger.debug(
                "%s %s for %r returned in %.3f ms: %.80r",
                listener.role,
                name,
                self._event.name,
                milliseconds,
                value,
            )
        else:
            self._failed += 1
            logger.debug(
                "%s %s for %r failed in %.3f ms: %r",
                listener.role,
                name,
                self._event.name,
                milliseconds,
                error,
            )
        if self._record is not None:
            self._record(listener, value, error, duration)

    def finish(self, error: BaseException | None) -> None:
        """Log the emit's outcome: how many ran and failed, and how it ended."""
        milliseconds = (_clock() - self._started) * 1000
        stopped = "" if self._event.propagate else ", propagation stopped"
        ended = "" if error is None else f", left with {error!r}"
        logger.debug(
            "emit %r done in %.3f ms: %d ran, %d failed%s%s",
            self._event.name,
            milliseconds,
            self._ran,
            self._failed,
            stopped,
            ended,
        )
