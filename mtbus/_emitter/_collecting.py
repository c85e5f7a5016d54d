"""What handlers returned: ``collect``, an emit that records each handler's outcome."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, overload

from .._core._event import HandlerResult, HandlerResults
from ._dispatch import EmitterCore

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._dispatch import E
    from ._listener import Listener


class Collecting(EmitterCore):
    """The :class:`~mtbus.EventEmitter` method that returns what handlers returned (a mixin).

    ``emit`` does not record anything; ``collect`` passes dispatch a recorder, which the
    dispatch loops call for each listener that ran.
    """

    __slots__ = ()

    @overload
    async def collect(
        self,
        name: str,
        data: Any = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        concurrent: bool | None = None,
    ) -> HandlerResults[Any]: ...

    @overload
    async def collect(
        self,
        name: E,
        data: None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        concurrent: bool | None = None,
    ) -> HandlerResults[E]: ...

    async def collect(
        self,
        name: Any,
        data: Any = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        concurrent: bool | None = None,
    ) -> HandlerResults[Any]:
        """Emit, and return what each handler returned or raised, in the order they ran.

        Dispatch is that of :meth:`emit` (priorities, conditions, propagation, hooks), but
        nothing is raised for a failing handler: its exception is in the results (and still
        logged, and passed to the ``on_error`` hooks). A generator handler's value is the
        list of what it yielded. Hooks, ``wait_for`` waiters and derived emitters are not
        listed (their failures are in ``results.event.failures``). An event that an open
        batch or suppression of this task holds back reaches no handler now: its results
        are empty. :meth:`emit` does not pay for this: only ``collect`` records results.

        :param concurrent: override the emitter's ``concurrent`` setting for this emit
            (results are then listed in the order the handlers finished)
        :return: the :class:`~mtbus.HandlerResults`: a sequence of
            :class:`~mtbus.HandlerResult`, with the event
        :raises TypeError: if *name* is neither a ``str`` nor an instance of an event class
            (as :meth:`emit` takes it), *metadata* not a mapping, or
            *concurrent* neither a ``bool`` nor ``None``
        :raises ValueError: if *name* is not a valid event name
        :raises ~mtbus.EventEmitError: if the emitter is closed
        """
        event = self._check_emit(name, data, metadata, concurrent, None)
        results: list[HandlerResult] = []

        def record(listener: Listener, value: Any, error: Exception | None, _: float) -> None:
            if listener.collected:
                results.append(HandlerResult(listener.handler, value, error))

        await self._pace()
        await self._deliver(event, concurrent, False, valid=True, record=record)
        return HandlerResults(event, results)
