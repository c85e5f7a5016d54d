"""The small interface between a channel and the transport its messages travel through."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Protocol, TypeAlias

#: How a backend hands a record to the local channel: ``await deliver(topic, data, metadata)``
#: queues it for every matching local subscriber and returns how many that was.
Deliver: TypeAlias = Callable[[str | None, Any, Mapping[str, Any]], Coroutine[Any, Any, int]]


class Link(Protocol):
    """One channel's connection to its backend, made by :meth:`Backend.connect`."""

    def send(
        self, topic: str | None, data: Any, metadata: Mapping[str, Any]
    ) -> Coroutine[Any, Any, int]:
        """Publish one record to every subscriber of the channel, wherever it is.

        The topic is already validated, and *metadata* is a read-only copy.

        :return: (when awaited) how many subscribers it was delivered to, as far as this
            process can tell
        """
        ...

    async def aclose(self) -> None:
        """Stop sending and delivering; called once, when the channel closes."""
        ...


class Backend(Protocol):
    """A transport for channels: in memory, or a server several processes share."""

    def connect(self, channel: str, deliver: Deliver) -> Link:
        """Attach a channel named *channel*: records published to it reach *deliver*.

        Called once, when the :class:`~mtbus.Channel` is created; it must not block.
        """
        ...
