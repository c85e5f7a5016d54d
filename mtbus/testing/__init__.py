"""mtbus's testing kit: record, assert and mute what emitters and channels carry.

- :func:`record_events` and :func:`record_messages` record what an emitter dispatches and
  what a channel carries; the :class:`Recording` they give asserts on it
  (``assert_seen``, ``assert_not_seen``, ``assert_seen_in_order``, ``wait_for``), and a
  failed assert lists what was recorded.
- :func:`mute` keeps an emitter's events from every handler and hook for a block, and
  records them.
- :class:`RedisServer` runs a throwaway real ``redis-server``; the opt-in pytest plugin
  ``mtbus.testing.pytest_plugin`` offers it as fixtures, with both anyio backends.

Importing this module needs nothing beyond mtbus itself; the plugin needs pytest. Everything
is sync except what waits: ``record_messages`` (it subscribes) and ``wait_for``. Built on
the emitter's and the channel's floors (it is beside ``mtbus._cli``, floor 4).
"""

from __future__ import annotations

from ._channels import MessageRecording as MessageRecording
from ._channels import record_messages as record_messages
from ._emitters import EventRecording as EventRecording
from ._emitters import mute as mute
from ._emitters import record_events as record_events
from ._recording import Recording as Recording
from ._redis import RedisServer as RedisServer
from ._redis import TlsFiles as TlsFiles
from ._redis import find_redis_server as find_redis_server

__all__ = (
    "EventRecording",
    "MessageRecording",
    "Recording",
    "RedisServer",
    "TlsFiles",
    "find_redis_server",
    "mute",
    "record_events",
    "record_messages",
)

# Public classes and functions say they live here, not in the private modules.
for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
