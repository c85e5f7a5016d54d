"""One subscription to a channel: its FIFO queue, its overflow policy and its counters."""

from __future__ import annotations

import sys
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Literal, Protocol, Self, TypeVar, get_args

import anyio

from .._core._exceptions import ChannelClosedError

if TYPE_CHECKING:
    from types import TracebackType

    from .._core._message import Message
    from ._channel import Channel

T = TypeVar("T")

#: What happens when a message reaches a subscriber whose queue is full.
Overflow = Literal["block", "drop_oldest", "drop_newest", "error"]
OVERFLOW_POLICIES: frozenset[str] = frozenset(get_args(Overflow))

# What Subscriber._offer answers when the queue is full under the "error" policy.
REFUSED = -1


class Acknowledger(Protocol):
    """What a consumer-group subscriber tells the backend member that feeds it.

    A member acknowledges a message once its consumer has *processed* it, so a consumer
    that fails (or dies) leaves the message pending, to be delivered again.
    """

    def processed(self) -> None:
        """The consumer is done with every message it has taken (it asks for the next)."""
        ...

    def abandoned(self) -> None:
        """The consumer failed on the messages it has taken: leave them unacknowledged."""
        ...

    async def acknowledge(self) -> None:
        """Acknowledge every message taken so far, and wait until the backend has it."""
        ...


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

    A consumer-group member (``subscribe(group=...)``) acknowledges a message once it is
    processed: when the consumer asks for the next one (the ``async for`` body finished),
    calls :meth:`acknowledge`, or leaves ``async with subscriber:`` without an exception.
    A message whose processing raised (or whose process died) is delivered again. Since
    asking for the next message marks the one before as processed, receive from a group
    subscriber in one task.

    ``receive`` does not yield to the event loop when a message is waiting (like
    :meth:`asyncio.Queue.get`): a consumer only waits when it must.
    """

    __slots__ = (
        "__weakref__",
        "_acknowledger",
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
        # The backend's consumer-group member feeding it, told what the consumer processed.
        self._acknowledger: Acknowledger | None = None
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
        queue by the call that returns it. In a consumer group, calling it means the
        message received before is processed: it is acknowledged.

        :raises ~mtbus.ChannelClosedError: once it is unsubscribed (or its channel closed)
            and every queued message has been received
        """
        if self._acknowledger is not None:
            self._acknowledger.processed()
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
        if self._acknowledger is not None:
            self._acknowledger.processed()
        if not self._queue:
            if self._closed:
                raise self._drained()
            raise anyio.WouldBlock(f"no message waiting for {self!r}")
        message = self._queue.popleft()
        self._cursor = message[3]
        if self._not_full is not None:
            self._wake_publishers()
        return message

    async def acknowledge(self) -> None:
        """Acknowledge every message received so far, the last one included.

        For a consumer-group member: once this returns, the messages will not be delivered
        again, to it or to another member. Receiving the next message acknowledges the one
        before anyway; call this to acknowledge the last one while keeping the subscriber,
        or right after a job that would be costly to do twice. Returns once the backend has
        recorded it (while the connection to Redis is down, once it is back). Once the
        channel is closed it does nothing: what was not acknowledged is delivered again. A
        subscriber outside a group acknowledges nothing, and this returns at once.
        """
        if self._acknowledger is not None:
            await self._acknowledger.acknowledge()

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
        """Unsubscribe; a group member first acknowledges the message in hand, unless the
        block raised (then it stays unacknowledged, to be delivered again)."""
        try:
            if self._acknowledger is not None:
                if exc_type is None:
                    await self._acknowledger.acknowledge()
                else:
                    self._acknowledger.abandoned()
        finally:
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
        if not await self._wait_for_room():
            return 0
        return self._offer(message)

    async def _wait_for_room(self) -> bool:
        """Wait until its queue has room; ``False`` if it is (or gets) closed first."""
        queue = self._queue
        while len(queue) >= self._capacity:
            if self._closed:
                return False
            waiting = self._not_full
            if waiting is None:
                waiting = self._not_full = anyio.Event()
            await waiting.wait()
        return not self._closed

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
