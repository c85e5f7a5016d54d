"""Recording what an emitter dispatches, and muting an emitter for a block."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .._core._checks import check_instance
from .._core._event import Event
from .._emitter._batching import mute_events
from .._emitter._event_emitter import EventEmitter
from ._recording import Recording

if TYPE_CHECKING:
    from collections.abc import Iterator
    from contextlib import AbstractContextManager

    from .._emitter._batching import Mute


class EventRecording(Recording[Event[Any]]):
    """The events an emitter dispatched (or a mute held back), in order.

    Everything :class:`Recording` offers, over :attr:`events`; a pattern matches an
    event's name.
    """

    __slots__ = ()

    _kind = "event"

    @property
    def events(self) -> list[Event[Any]]:
        """The events, in order: the very objects the handlers saw (or would have)."""
        return list(self._items)

    @staticmethod
    def _name_of(item: Event[Any]) -> str:
        return item.name

    @staticmethod
    def _data_of(item: Event[Any]) -> Any:
        return item.data


def record_events(emitter: EventEmitter) -> AbstractContextManager[EventRecording]:
    """Record every event *emitter* dispatches while the ``with`` block runs.

    ``with record_events(emitter) as recording:`` adds a ``before_emit`` hook, removed when
    the block ends, so it counts in neither ``listener_count()`` nor ``event_names()``,
    sees every dispatched event (also one whose propagation a handler stops, a nested emit
    right after the emit that made it, an emit of any task) and records them in the order
    their dispatch starts. An event a batch holds back is recorded when the batch
    dispatches it; one that a suppression or a :func:`mute` holds back is not recorded (a
    mute records it itself). The recording stays readable after the block.

    :raises TypeError: if *emitter* is not an :class:`~mtbus.EventEmitter`
    :raises ~mtbus.EventEmitError: (entering the block) if the emitter is closed
    """
    check_instance(emitter, EventEmitter, "emitter")
    return _recording(emitter)


@contextmanager
def _recording(emitter: EventEmitter) -> Iterator[EventRecording]:
    recording = EventRecording()
    hook = recording._add
    emitter.add_hook("before_emit", hook)
    try:
        yield recording
    finally:
        emitter.remove_hook("before_emit", hook)
        recording._stop()


def mute(
    emitter: EventEmitter, pattern: str | None = None
) -> AbstractContextManager[EventRecording]:
    """Keep *emitter*'s events from reaching any handler or hook while the ``with`` block runs.

    ``with mute(emitter) as muted:`` holds back every event matching *pattern* (every
    event if ``None``) that *emitter* would dispatch, from any task: the test's, a
    background emit, a server loop started elsewhere. ``emit`` returns the event as
    usual. ``muted`` records the events held back, in order; nothing is dispatched when
    the block ends (``await emitter.replay_events(muted.events)`` does that).

    A batch or suppression that the emitting task opened still takes its events first; the
    mute takes whatever they let through while it is open (a batch ending inside the
    block, a replay). Mutes nest: the innermost one that matches takes the event.

    :raises TypeError: if *emitter* is not an :class:`~mtbus.EventEmitter`, or *pattern*
        neither a ``str`` nor ``None``
    :raises ValueError: if *pattern* is not a valid name or pattern
    :raises ~mtbus.EventEmitError: if the emitter is closed
    """
    check_instance(emitter, EventEmitter, "emitter")
    recording = EventRecording()
    return _muting(mute_events(emitter, pattern, recording._add), recording)


@contextmanager
def _muting(scope: Mute, recording: EventRecording) -> Iterator[EventRecording]:
    with scope:
        try:
            yield recording
        finally:
            recording._stop()
