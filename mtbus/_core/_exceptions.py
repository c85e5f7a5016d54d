"""The exception tree: every error mtbus raises on purpose derives from :class:`MtbusError`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._event import Event, HandlerResult


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


class ChannelGapError(ChannelError):
    """Messages a reader had not reached yet were gone from the backend (trimmed, lost).

    Never raised at a caller: a backend's reader reports it (logged on the ``mtbus``
    logger, counted in :attr:`ChannelStatistics.gaps <mtbus.ChannelStatistics.gaps>` and
    :attr:`~mtbus.ChannelStatistics.lost`, and passed to the backend's ``on_error``) and
    goes on from the oldest message still there.

    :ivar channel: the channel's name
    :ivar after: the last message ID the reader had (its cursor)
    :ivar resumed_at: the first message ID it read after the gap, or ``None`` if none yet
    :ivar lost: how many messages the gap cost, when the backend can tell (Redis 7 and
        later can, for trimming); ``None`` when it cannot
    :ivar reason: what made the gap, in words
    """

    def __init__(
        self,
        channel: str,
        after: str,
        resumed_at: str | None,
        *,
        lost: int | None = None,
        reason: str = "they were trimmed or lost before they were read",
    ) -> None:
        self.channel = channel
        self.after = after
        self.resumed_at = resumed_at
        self.lost = lost
        self.reason = reason
        count = "messages" if lost is None else f"{lost} message{'' if lost == 1 else 's'}"
        super().__init__(
            f"{count} of channel {channel!r} after {after!r} are gone: {reason}; "
            f"resuming at {resumed_at!r}"
        )


class MessageDecodeError(ChannelError):
    """A record arrived that this process cannot decode; it was skipped.

    Reported like :exc:`ChannelGapError`, never raised at a caller: counted in
    :attr:`ChannelStatistics.undecodable <mtbus.ChannelStatistics.undecodable>`.

    :ivar channel: the channel's name
    :ivar id: the record's ID
    :ivar reason: why it could not be decoded
    """

    def __init__(self, channel: str, id: str, reason: str) -> None:
        self.channel = channel
        self.id = id
        self.reason = reason
        super().__init__(f"cannot decode message {id!r} of channel {channel!r}: {reason}")


class DownstreamErrors(Exception):
    """Handler failures of a derived emitter or pipe target, already reported there (private).

    A forwarding listener raises it so that the source's dispatch counts the failures in
    strict mode without logging and reporting them a second time.
    """

    def __init__(self, errors: tuple[Exception, ...], failures: tuple[HandlerResult, ...]) -> None:
        super().__init__(errors)
        self.errors = errors
        #: The failed handlers, for the source's event (see :attr:`mtbus.Event.failures`).
        self.failures = failures
