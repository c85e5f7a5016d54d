"""The exception tree: every error mtbus raises on purpose derives from :class:`MtbusError`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._event import Event


class MtbusError(Exception):
    """Base class of every error raised by mtbus itself."""


class EventError(MtbusError):
    """Base class of errors about emitters and events."""


class EventEmitError(EventError):
    """An event could not be emitted (for example, the emitter can no longer dispatch)."""


class EventHandlerError(EventError):
    """One or more handlers failed during a strict emit.

    Raised by :meth:`~mtbus.EventEmitter.emit` in strict mode *after* every handler has run,
    so one failure never hides another.

    :ivar event: the event whose handlers failed
    :ivar errors: every exception raised by a handler or hook, in the order they occurred
    """

    def __init__(self, event: Event[Any], errors: tuple[Exception, ...]) -> None:
        self.event = event
        self.errors = errors
        summary = ", ".join(repr(error) for error in errors)
        count = len(errors)
        noun = "handler" if count == 1 else "handlers"
        super().__init__(f"{count} {noun} failed for event {event.name!r}: {summary}")


class ChannelError(MtbusError):
    """Base class of errors about channels and subscribers."""


class ChannelClosedError(ChannelError):
    """The channel (or subscriber) is closed and its queue is drained."""


class ChannelFullError(ChannelError):
    """A subscriber's queue is full and its overflow policy is ``"error"``."""


class DownstreamErrors(Exception):
    """Handler failures of a derived emitter or pipe target, already reported there (private).

    A forwarding listener raises it so that the source's dispatch counts the failures in
    strict mode without logging and reporting them a second time.
    """

    def __init__(self, errors: tuple[Exception, ...]) -> None:
        super().__init__(errors)
        self.errors = errors
