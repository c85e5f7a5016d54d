"""mtbus: an anyio-native in-process event bus.

Everything public is importable from here; the submodules are private.
"""

from __future__ import annotations

from ._channel._channel import Channel as Channel
from ._channel._channel import ChannelStatistics as ChannelStatistics
from ._channel._publisher import Publisher as Publisher
from ._channel._publisher import PublisherBatch as PublisherBatch
from ._channel._publisher import PublisherStatistics as PublisherStatistics
from ._channel._subscriber import Overflow as Overflow
from ._channel._subscriber import Subscriber as Subscriber
from ._channel._subscriber import SubscriberStatistics as SubscriberStatistics
from ._core._event import Event as Event
from ._core._event import EventPriority as EventPriority
from ._core._exceptions import ChannelClosedError as ChannelClosedError
from ._core._exceptions import ChannelError as ChannelError
from ._core._exceptions import ChannelFullError as ChannelFullError
from ._core._exceptions import ChannelGapError as ChannelGapError
from ._core._exceptions import EventEmitError as EventEmitError
from ._core._exceptions import EventError as EventError
from ._core._exceptions import EventHandlerError as EventHandlerError
from ._core._exceptions import MessageDecodeError as MessageDecodeError
from ._core._exceptions import MtbusError as MtbusError
from ._core._message import Message as Message
from ._emitter._batching import Batch as Batch
from ._emitter._event_emitter import EventEmitter as EventEmitter
from ._emitter._tasks import EmitHandle as EmitHandle

__all__ = (
    "Batch",
    "Channel",
    "ChannelClosedError",
    "ChannelError",
    "ChannelFullError",
    "ChannelGapError",
    "ChannelStatistics",
    "EmitHandle",
    "Event",
    "EventEmitError",
    "EventEmitter",
    "EventError",
    "EventHandlerError",
    "EventPriority",
    "Message",
    "MessageDecodeError",
    "MtbusError",
    "Overflow",
    "Publisher",
    "PublisherBatch",
    "PublisherStatistics",
    "Subscriber",
    "SubscriberStatistics",
)

# Public classes say they live in the package, not in its private modules.
for _name in __all__:
    if _name != "Overflow":  # a type alias, not a class
        globals()[_name].__module__ = __name__
del _name
