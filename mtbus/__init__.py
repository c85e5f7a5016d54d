"""mtbus: an anyio-native in-process event bus.

Everything public is importable from here (and backends from ``mtbus.backends``); the
submodules are private. The package is built in floors, each importing only those below it:

- ``_core``: the floor. Event and topic names and patterns (and the names of event classes),
  ``Event``, ``Message``, argument checks and exceptions: plain data and pure functions; and
  the way in from sync code and other threads (``_threads``).
- ``_emitter``: the ``EventEmitter``, assembled from parts (dispatch, composition, batches,
  background work) that share one core.
- ``backends``: where a channel's messages travel (memory, Redis); they see a channel and
  its subscribers only through the ports in ``backends._base``. Beside ``_emitter``: neither
  imports the other.
- ``_channel``: ``Channel`` (over a core that routes and delivers: the side its backend
  calls), ``Subscriber`` and ``Publisher``, on top of a backend.
- ``_cli``: the ``mtbus`` command, and ``testing``: the public testing kit (recordings,
  ``mute``, a throwaway ``redis-server``, an opt-in pytest plugin); both on top of everything.

``tests/test_layers.py`` reads the imports and fails on a cycle or an import that points up.
"""

from __future__ import annotations

from ._channel._channel import Channel as Channel
from ._channel._channel import ChannelStatistics as ChannelStatistics
from ._channel._publisher import Publisher as Publisher
from ._channel._publisher import PublisherBatch as PublisherBatch
from ._channel._publisher import PublisherStatistics as PublisherStatistics
from ._channel._subscriber import Subscriber as Subscriber
from ._channel._subscriber import SubscriberStatistics as SubscriberStatistics
from ._core._checks import Overflow as Overflow
from ._core._event import Event as Event
from ._core._event import EventPriority as EventPriority
from ._core._event import HandlerResult as HandlerResult
from ._core._event import HandlerResults as HandlerResults
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
from ._core._typed import event_name as event_name
from ._core._version import __version__ as __version__
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
    "HandlerResult",
    "HandlerResults",
    "Message",
    "MessageDecodeError",
    "MtbusError",
    "Overflow",
    "Publisher",
    "PublisherBatch",
    "PublisherStatistics",
    "Subscriber",
    "SubscriberStatistics",
    "event_name",
)

# Public classes say they live in the package, not in its private modules.
for _name in __all__:
    if _name != "Overflow":  # a type alias, not a class
        globals()[_name].__module__ = __name__
del _name
