"""mtbus: an anyio-native in-process event bus.

Everything public is importable from here; the submodules are private.
"""

from __future__ import annotations

from ._background import EmitHandle as EmitHandle
from ._batch import Batch as Batch
from ._channel import Channel as Channel
from ._channel import ChannelStatistics as ChannelStatistics
from ._emitter import EventEmitter as EventEmitter
from ._event import Event as Event
from ._event import EventPriority as EventPriority
from ._exceptions import ChannelClosedError as ChannelClosedError
from ._exceptions import ChannelError as ChannelError
from ._exceptions import ChannelFullError as ChannelFullError
from ._exceptions import ChannelGapError as ChannelGapError
from ._exceptions import EventEmitError as EventEmitError
from ._exceptions import EventError as EventError
from ._exceptions import EventHandlerError as EventHandlerError
from ._exceptions import MessageDecodeError as MessageDecodeError
from ._exceptions import MtbusError as MtbusError
from ._message import Message as Message
from ._publisher import Publisher as Publisher
from ._publisher import PublisherBatch as PublisherBatch
from ._publisher import PublisherStatistics as PublisherStatistics
from ._subscriber import Overflow as Overflow
from ._subscriber import Subscriber as Subscriber
from ._subscriber import SubscriberStatistics as SubscriberStatistics

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
