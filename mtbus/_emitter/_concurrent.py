"""Concurrent dispatch: the listeners of each priority level together, the levels in order.

What ``concurrent=True`` (on the emitter, or for one emit) runs instead of the sequential
loop: each level's listeners start together in a task group, so one stopping propagation
does not skip its siblings, while a lower level still waits for the one above. Each
listener goes through the emitter's sequential dispatch on its own, so it is guarded,
recorded and reported exactly as it would be one after another.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import anyio

from .._core._exceptions import EventHandlerError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .._core._event import Event
    from ._listener import Listener
    from ._tracing import Recorder


class Dispatch(Protocol):
    """The emitter's sequential dispatch (``EmitterCore._dispatch``), as this uses it."""

    async def __call__(
        self,
        event: Event[Any],
        listeners: Iterable[Listener],
        strict: bool | None,
        *,
        stoppable: bool = True,
        record: Recorder | None = None,
    ) -> Event[Any]: ...


async def dispatch_levels(
    dispatch: Dispatch,
    event: Event[Any],
    levels: tuple[tuple[Listener, ...], ...],
    strict: bool,
    record: Recorder | None = None,
) -> Event[Any]:
    """Run each level's listeners together in a task group, and the levels in order.

    What a handler raises that is not an :exc:`Exception` leaves this as itself, as it
    would from sequential dispatch, not in an exception group.

    :param dispatch: the emitter's sequential dispatch, which runs each listener
    :raises ~mtbus.EventHandlerError: if *strict* and a listener failed, once all ran
    """
    errors: list[Exception] = []
    #: What a handler raised that must leave emit as itself (KeyboardInterrupt,
    #: SystemExit, a WrongThreadError): caught in its task, which cancels its level,
    #: and raised by this task (asyncio would also re-raise KeyboardInterrupt and
    #: SystemExit from the event loop if they left the task).
    escaping: list[BaseException] = []
    level_scope: anyio.CancelScope | None = None

    async def run_one(listener: Listener) -> None:
        # Started together, so a sibling stopping propagation does not skip this one.
        try:
            await dispatch(event, (listener,), True, stoppable=False, record=record)
        except EventHandlerError as failure:
            errors.extend(failure.errors)
        except anyio.get_cancelled_exc_class():
            raise
        except BaseException as error:
            escaping.append(error)
            if level_scope is not None:
                level_scope.cancel()

    for level in levels:
        if not event.propagate and not level[0].monitor:
            continue
        if len(level) == 1:  # no task: whatever it raises leaves as itself
            try:
                await dispatch(event, level, True, stoppable=False, record=record)
            except EventHandlerError as failure:
                errors.extend(failure.errors)
            continue
        try:
            async with anyio.create_task_group() as group:
                level_scope = group.cancel_scope
                for listener in level:
                    group.start_soon(run_one, listener)
        finally:
            level_scope = None
            if escaping:
                raise escaping[0]
    if strict and errors:
        raise EventHandlerError(event, tuple(errors))
    return event
