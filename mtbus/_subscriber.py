"""One subscription to a channel: its FIFO queue, its overflow policy and its counters."""

from __future__ import annotations

import sys
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Literal, Self, TypeVar, get_args

import anyio

from ._exceptions import ChannelClosedError

if TYPE_CHECKING:
    from types import TracebackType

    from ._channel import Channel
    from ._message import Message

T = TypeVar("T")

#: What happens when a message reaches a subscriber whose queue is full.
Overflow = Literal["block", "drop_oldest", "drop_newest", "error"]
OVERFLOW_POLICIES: frozenset[str] = frozenset(get_args(Overflow))

# What Subscriber._offer answers when the queue is full under the "error" policy.
REFUSED = -1


@dataclass(frozen=True, slots=True)
class SubscriberStatistics:
    """A snapshot of one subscriber's counters.

    :ivar delivered: messages put in its queue since it subscribed
    :ivar dropped: messages it lost to its overflow policy (``drop_oldest`` evictions,
        ``drop_newest`` and ``error`` refusals)
    :ivar pending: messages in its queue now, waiting to be received
    :ivar buffer_size: the queue's capacity (``0``: unbounded)
    :ivar overflow: its overflow policy
    """

    delivered: int
    dropped: int
    pending: int
    buffer_size: int
    overflow: Overflow


class Subscriber(Generic[T]):
    """The receiving end of a subscription: a FIFO queue the channel fills.

    Get one from :meth:`Channel.subscribe <mtbus.Channel.subscribe>`. Receive with
    :meth:`receive`, :meth:`receive_nowait` or ``async for``; use ``async with subscriber:``
    to unsubscribe when the block ends. After it is unsubscribed or its channel closed,
    the messages already queued can still be received; then receiving raises
    :exc:`~mtbus.ChannelClosedError` and ``async for`` ends.

    ``receive`` does not yield to the event loop when a message is waiting (like
    :meth:`asyncio.Queue.get`): a consumer only waits when it must.
    """

    __slots__ = (
        "__weakref__",
        "_buffer_size",
        "_capacity",
        "_channel",
        "_closed",
        "_cursor",
        "_delivered",
        "_dropped",
        "_not_empty",
        "_not_full",
        "_overflow",
        "_queue",
        "_topics",
        "sequence",
    )

    def __init__(
        self,
        channel: Channel[T],
        topics: tuple[str, ...] | None,
        buffer_size: int,
        overflow: Overflow,
        sequence: int,
    ) -> None:
        self._channel = channel
        self._cursor: str | None = None  # a backend may start it at a since= cursor
        self._topics = topics
        self._buffer_size = buffer_size
        self._capacity = buffer_size or sys.maxsize
        self._overflow = overflow
        self._queue: deque[Message[T]] = deque()
        self._closed = False
        self._delivered = 0
        self._dropped = 0
        # Created only while somebody waits: a receiver for a message, a publisher for room.
        self._not_empty: anyio.Event | None = None
        self._not_full: anyio.Event | None = None
        #: The order of subscription within its channel (delivery visits subscribers in it).
        self.sequence = sequence

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<Subscriber of {self._channel.name!r} topics={self._topics!r} "
            f"pending={len(self._queue)} {state}>"
        )

    @property
    def topics(self) -> tuple[str, ...] | None:
        """The patterns this subscriber asked for, or ``None`` if it receives every message."""
        return self._topics

    @property
    def cursor(self) -> str | None:
        """The :attr:`~mtbus.Message.id` of the last message received, to resume after it.

        Pass it back as ``channel.subscribe(..., since=cursor)`` (after a restart, say) to
        receive what was published after that message and is still kept. ``None`` before
        the first message, and always with a backend that keeps no messages (memory).
        """
        return self._cursor

    @property
    def is_closed(self) -> bool:
        """Whether it is unsubscribed (or its channel closed): no new messages will arrive."""
        return self._closed

    def statistics(self) -> SubscriberStatistics:
        """Its counters now: delivered, dropped and pending messages."""
        return SubscriberStatistics(
            self._delivered, self._dropped, len(self._queue), self._buffer_size, self._overflow
        )

    # -- receiving ---------------------------------------------------------------------

    async def receive(self) -> Message[T]:
        """Take the next message, waiting for one if none is queued.

        Cancelling a waiting ``receive`` loses nothing: a message is only taken off the
        queue by the call that returns it.

        :raises ~mtbus.ChannelClosedError: once it is unsubscribed (or its channel closed)
            and every queued message has been received
        """
        queue = self._queue
        while not queue:
            if self._closed:
                raise self._drained()
            waiting = self._not_empty
            if waiting is None:
                waiting = self._not_empty = anyio.Event()
            await waiting.wait()
        message = queue.popleft()
        self._cursor = message[3]
        if self._not_full is not None:
            self._wake_publishers()
        return message

    def receive_nowait(self) -> Message[T]:
        """Take the next message if one is queued.

        :raises anyio.WouldBlock: if no message is queued (and more may come)
        :raises ~mtbus.ChannelClosedError: once it is unsubscribed (or its channel closed)
            and every queued message has been received
        """
        if not self._queue:
            if self._closed:
                raise self._drained()
            raise anyio.WouldBlock(f"no message waiting for {self!r}")
        message = self._queue.popleft()
        self._cursor = message[3]
        if self._not_full is not None:
            self._wake_publishers()
        return message

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Message[T]:
        try:
            return await self.receive()
        except ChannelClosedError:
            raise StopAsyncIteration from None

    # -- leaving -----------------------------------------------------------------------

    def unsubscribe(self) -> None:
        """Stop receiving new messages; idempotent, and never waits.

        What is already queued can still be received. A publisher blocked on this
        subscriber's full queue stops waiting for it.
        """
        if not self._closed:
            self._channel._forget(self)
            self._close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.unsubscribe()

    # -- what the channel calls --------------------------------------------------------

    def _offer(self, message: Message[T]) -> int:
        """Queue *message* if the overflow policy allows it without waiting.

        :return: ``1`` if queued, ``0`` if dropped (``drop_newest``), :data:`REFUSED` under
            the ``error`` policy; for ``block`` with a full queue, ``0`` means "wait with
            :meth:`_put`"
        """
        queue = self._queue
        if len(queue) < self._capacity:
            queue.append(message)
            self._delivered += 1
            if self._not_empty is not None:
                self._wake_receivers()
            return 1
        overflow = self._overflow
        if overflow == "drop_oldest":
            queue.popleft()
            queue.append(message)
            self._delivered += 1
            self._dropped += 1
            return 1
        if overflow != "block":
            self._dropped += 1
            return REFUSED if overflow == "error" else 0
        return 0

    async def _put(self, message: Message[T]) -> int:
        """Wait for room in the queue, then queue *message* (the ``block`` policy).

        :return: ``1`` if queued, ``0`` if the subscriber closed while waiting
        """
        queue = self._queue
        while len(queue) >= self._capacity:
            if self._closed:
                return 0
            waiting = self._not_full
            if waiting is None:
                waiting = self._not_full = anyio.Event()
            await waiting.wait()
        if self._closed:
            return 0
        return self._offer(message)

    def _close(self) -> None:
        """Accept no more messages, and wake everyone waiting so they can see that."""
        self._closed = True
        if self._not_empty is not None:
            self._wake_receivers()
        if self._not_full is not None:
            self._wake_publishers()

    def _wake_receivers(self) -> None:
        waiting, self._not_empty = self._not_empty, None
        if waiting is not None:
            waiting.set()

    def _wake_publishers(self) -> None:
        waiting, self._not_full = self._not_full, None
        if waiting is not None:
            waiting.set()

    def _drained(self) -> ChannelClosedError:
        return ChannelClosedError(f"{self!r} is closed and every queued message was received")
