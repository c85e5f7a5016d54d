"""Where a channel's messages travel: the backend interface, and the in-memory default.

A :class:`~mtbus.Channel` keeps routing, queues and overflow policies to itself; its
backend only moves ``(topic, data, metadata)`` records from publishers to every
process's channel of that name. :class:`MemoryBackend` (the default) hands each record
straight to the local subscribers.
"""

from __future__ import annotations

from ._base import Backend as Backend
from ._base import Deliver as Deliver
from ._base import Link as Link
from ._memory import MemoryBackend as MemoryBackend

__all__ = ("Backend", "Deliver", "Link", "MemoryBackend")

for _name in ("Backend", "Link", "MemoryBackend"):
    globals()[_name].__module__ = __name__
del _name
