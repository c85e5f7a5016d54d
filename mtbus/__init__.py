"""mtbus: an anyio-native in-process event bus.

Everything public is importable from here; the submodules are private.
"""

from __future__ import annotations

from ._background import EmitHandle as EmitHandle
from ._batch import Batch as Batch
from ._emitter import EventEmitter as EventEmitter
from ._event import Event as Event
from ._event import EventPriority as EventPriority
from ._exceptions import ChannelClosedError as ChannelClosedError
from ._exceptions import ChannelError as ChannelError
from ._exceptions import ChannelFullError as ChannelFullError
from ._exceptions import EventEmitError as EventEmitError
from ._exceptions import EventError as EventError
from ._exceptions import EventHandlerError as EventHandlerError
from ._exceptions import MtbusError as MtbusError

__all__ = (
    "Batch",
    "ChannelClosedError",
    "ChannelError",
    "ChannelFullError",
    "EmitHandle",
    "Event",
    "EventEmitError",
    "EventEmitter",
    "EventError",
    "EventHandlerError",
    "EventPriority",
    "MtbusError",
)

# Public classes say they live in the package, not in its private modules.
for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
