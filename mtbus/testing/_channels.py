"""Recording what a channel carries, through a subscriber of its own."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

from .._channel._channel import Channel
from .._core._checks import check_instance
from .._core._exceptions import ChannelClosedError
from .._core._message import Message
from ._recording import Recording

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from contextlib import AbstractAsyncContextManager

    from .._channel._subscriber import Subscriber


class MessageRecording(Recording[Message[Any]]):
    """The messages a channel delivered to the recording's subscriber, in order.

    Everything :class:`Recording` offers, over :attr:`messages`; a pattern matches a
    message's topic. Over a backend that leaves the process (Redis), messages arrive a
    moment after ``publish`` returns: :meth:`~Recording.wait_for` them before asserting.
    """

    __slots__ = ("_subscriber",)

    _kind = "message"

    def __init__(self, subscriber: Subscriber[Any]) -> None:
        super().__init__()
        self._subscriber = subscriber

    @property
    def messages(self) -> list[Message[Any]]:
        """The messages received so far, in order."""
        return list(self._collect())

    @staticmethod
    def _name_of(item: Message[Any]) -> str | None:
        return item.topic

    @staticmethod
    def _data_of(item: Message[Any]) -> Any:
        return item.data

    def _collect(self) -> list[Message[Any]]:
        """Take every message queued for the subscriber, then return them all."""
        while True:
            try:
                self._items.append(self._subscriber.receive_nowait())
            except (anyio.WouldBlock, ChannelClosedError):
                return self._items

    async def _more(self) -> bool:
        try:
            self._items.append(await self._subscriber.receive())
        except ChannelClosedError:  # unsubscribed, or the channel closed: none can come
            return False
        return True


def record_messages(channel: Channel[Any]) -> AbstractAsyncContextManager[MessageRecording]:
    """Record every message *channel* carries while the ``async with`` block runs.

    ``async with record_messages(channel) as recording:`` subscribes to every topic
    (broadcasts included) with an unbounded queue, so it never holds a publisher back nor
    loses a message; it unsubscribes when the block ends. Over Redis, the channel must be
    open (``async with channel:``), and a message (from this process or another) is
    recorded once this process's reader has fetched it from the server, a moment after
    ``publish`` returned: :meth:`~Recording.wait_for` it. The recording stays readable
    after the block, with what had arrived by then.

    :raises TypeError: if *channel* is not a :class:`~mtbus.Channel`
    :raises ~mtbus.ChannelClosedError: (entering the block) if the channel is closed
    """
    check_instance(channel, Channel, "channel")
    return _recording(channel)


@asynccontextmanager
async def _recording(channel: Channel[Any]) -> AsyncIterator[MessageRecording]:
    subscriber = await channel.subscribe(buffer_size=0)
    recording = MessageRecording(subscriber)
    try:
        yield recording
    finally:
        subscriber.unsubscribe()
        recording._collect()
        recording._stop()
