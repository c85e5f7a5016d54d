"""Where a channel's messages travel: the backend interface, memory, and Redis.

A :class:`~mtbus.Channel` keeps routing, queues and overflow policies to itself; its
backend only moves ``(topic, data, metadata)`` records from publishers to every
process's channel of that name. :class:`MemoryBackend` (the default) hands each record
straight to the local subscribers; :class:`RedisBackend` carries them over Redis Streams
(``pip install 'mtbus[redis]'``), encoded by a :class:`Codec`.
"""

from __future__ import annotations

from ._base import Acknowledger as Acknowledger
from ._base import Backend as Backend
from ._base import ChannelPort as ChannelPort
from ._base import Deliver as Deliver
from ._base import Link as Link
from ._base import Record as Record
from ._base import SubscriberPort as SubscriberPort
from ._base import send_each as send_each
from ._codecs import Codec as Codec
from ._codecs import JsonCodec as JsonCodec
from ._codecs import MsgpackCodec as MsgpackCodec
from ._codecs import UnsafeCodecWarning as UnsafeCodecWarning
from ._codecs import UnsafePickleCodec as UnsafePickleCodec
from ._memory import MemoryBackend as MemoryBackend
from ._redis import RedisBackend as RedisBackend

__all__ = (
    "Acknowledger",
    "Backend",
    "ChannelPort",
    "Codec",
    "Deliver",
    "JsonCodec",
    "Link",
    "MemoryBackend",
    "MsgpackCodec",
    "Record",
    "RedisBackend",
    "SubscriberPort",
    "UnsafeCodecWarning",
    "UnsafePickleCodec",
    "send_each",
)

for _name in __all__:
    if _name != "Record":  # a type alias: it has no module of its own to set
        globals()[_name].__module__ = __name__
del _name
