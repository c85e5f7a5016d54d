"""One subscription to a channel: its FIFO queue, its overflow policy and its counters."""

from __future__ import annotations

import sys
from collections import deque
from dataclasses import dataclass
from threading import get_ident
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, Self, TypeVar

import anyio
from anyio.lowlevel import checkpoint

from .._core._exceptions import ChannelClosedError
from .._core._pacing import CHECKPOINT_INTERVAL
from .._core._threads import wrong_thread

if TYPE_CHECKING:
    from types import TracebackType

    from .._core._checks import Overflow
    from .._core._message import Message
    from ..backends import Acknowledger

T_co = TypeVar("T_co", covariant=True)


# What Subscriber._offer answers: queued, dropped (drop_newest), refused (the "error"
# policy), or full under the "block" policy (then the publisher waits with _put).
QUEUED: Final = 1
DROPPED: Final = 0
REFUSED: Final = -1
FULL: Final = -2

#: How to publish from another thread than the event loop's.
PUBLISH_REMEDY: Final = (
    "channel.publish_sync(data) inside 'async with channel:', "
    "or anyio.from_thread.run(channel.publish, data)"
)


class Owner(Protocol):
    """What a subscriber knows of its channel (:class:`~mtbus.Channel`)."""

    @property
    def name(self) -> str:
        """The channel's name."""
        ...

    def _forget(self, subscriber: Subscriber[Any]) -> None:
        """Stop routing to *subscriber* (it is unsubscribing)."""
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


class Subscriber(Generic[T_co]):
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
    :meth:`asyncio.Queue.get`), except once every 256 calls, so that a receive loop over a
    long backlog still notices cancellation and lets other tasks run.

    Like anyio's streams, a subscriber belongs to one event loop: use it from the loop's
    thread (from another thread, through :func:`anyio.from_thread.run_sync` or
    :func:`anyio.from_thread.run`). A call from another thread that would wake a task
    waiting on it raises :exc:`RuntimeError` before it changes anything.
    """

    __slots__ = (
        "__weakref__",
        "_acknowledger",
        "_buffer_size",
        "_capacity",
        "_channel",
        "_closed",
        "_countdown",
        "_cursor",
        "_delivered",
        "_dropped",
        "_not_empty",
        "_not_full",
        "_overflow",
        "_queue",
        "_thread",
        "_topics",
        "sequence",
    )

    def __init__(
        self,
        channel: Owner,
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
        self._queue: deque[Message[T_co]] = deque()
        self._closed = False
        self._delivered = 0
        self._dropped = 0
        # Receives left before the next one checkpoints even though a message is waiting.
        self._countdown = CHECKPOINT_INTERVAL - 1
        # Created only while somebody waits: a receiver for a message, a publisher for room;
        # _thread is the thread whose event loop runs the tasks waiting on them.
        self._not_empty: anyio.Event | None = None
        self._not_full: anyio.Event | None = None
        self._thread = 0
        # The backend's consumer-group member feeding it, told what the consumer processed.
        self._acknowledger: Acknowledger | None = None
        #: The order of subscription within its channel (delivery visits subscribers in it).
        self.sequence: int = sequence

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
    def closed(self) -> bool:
        """Whether it is unsubscribed (or its channel closed): no new messages will arrive."""
        return self._closed

    def statistics(self) -> SubscriberStatistics:
        """Its counters now: delivered, dropped and pending messages."""
        return SubscriberStatistics(
            self._delivered, self._dropped, len(self._queue), self._buffer_size, self._overflow
        )

    # -- receiving ---------------------------------------------------------------------

    async def receive(self) -> Message[T_co]:
        """Take the next message, waiting for one if none is queued.

        Cancelling a waiting ``receive`` loses nothing: a message is only taken off the
        queue by the call that returns it. A message that is waiting is returned without
        yielding to the event loop, except every 256th time in a row: then ``receive``
        makes a full checkpoint first (it may be cancelled there, and other tasks run). In
        a consumer group, calling it means the message received before is processed: it is
        acknowledged.

        :raises ~mtbus.ChannelClosedError: once it is unsubscribed (or its channel closed)
            and every queued message has been received
        :raises RuntimeError: if called from another thread than the event loop's whose
            tasks wait on this subscriber
        """
        if self._acknowledger is not None:
            self._acknowledger.processed()
        queue = self._queue
        if queue and self._countdown:
            self._countdown -= 1
        else:
            await self._wait_for_message()
        if self._not_full is not None:
            self._wake_publishers("anyio.from_thread.run(subscriber.receive)")
        message = queue.popleft()
        self._cursor = message.id
        return message

    async def _wait_for_message(self) -> None:
        """Checkpoint, or wait until a message is queued (every way :meth:`receive` yields)."""
        self._countdown = CHECKPOINT_INTERVAL - 1
        queue = self._queue
        if queue:
            await checkpoint()
        while not queue:
            if self._closed:
                raise self._drained()
            waiting = self._not_empty
            if waiting is None:
                self._claim_thread("receive", "anyio.from_thread.run(subscriber.receive)")
                waiting = self._not_empty = anyio.Event()
            elif get_ident() != self._thread:
                raise self._foreign("receive", "anyio.from_thread.run(subscriber.receive)")
            await waiting.wait()

    def receive_nowait(self) -> Message[T_co]:
        """Take the next message if one is queued; never yields to the event loop.

        :raises anyio.WouldBlock: if no message is queued (and more may come)
        :raises ~mtbus.ChannelClosedError: once it is unsubscribed (or its channel closed)
            and every queued message has been received
        :raises RuntimeError: if called from another thread than the event loop's whose
            tasks wait on this subscriber
        """
        if self._acknowledger is not None:
            self._acknowledger.processed()
        if not self._queue:
            if self._closed:
                raise self._drained()
            raise anyio.WouldBlock(f"no message waiting for {self!r}")
        if self._not_full is not None:
            self._wake_publishers("anyio.from_thread.run_sync(subscriber.receive_nowait)")
        message = self._queue.popleft()
        self._cursor = message.id
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

    async def __anext__(self) -> Message[T_co]:
        try:
            return await self.receive()
        except ChannelClosedError:
            raise StopAsyncIteration from None

    # -- leaving -----------------------------------------------------------------------

    def unsubscribe(self) -> None:
        """Stop receiving new messages; idempotent, and never waits.

        What is already queued can still be received. A publisher blocked on this
        subscriber's full queue stops waiting for it.

        :raises RuntimeError: if called from another thread than the event loop's whose
            tasks wait on this subscriber (nothing changes then); from another thread, call
            ``anyio.from_thread.run_sync(subscriber.unsubscribe)``
        """
        if not self._closed:
            self._check_thread("unsubscribe", "anyio.from_thread.run_sync(subscriber.unsubscribe)")
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

    # -- what the channel (and its backend, through mtbus._channel._ports) calls --------

    def _offer(self, message: Message[Any]) -> int:
        """Queue *message* if the overflow policy allows it without waiting.

        :return: :data:`QUEUED`, :data:`DROPPED` (``drop_newest``), :data:`REFUSED` (the
            ``error`` policy), or :data:`FULL` (``block``: wait with :meth:`_put`)
        """
        queue = self._queue
        if len(queue) < self._capacity:
            if self._not_empty is not None:
                self._wake_receivers()
            queue.append(message)
            self._delivered += 1
            return QUEUED
        overflow = self._overflow
        if overflow == "drop_oldest":
            queue.popleft()
            queue.append(message)
            self._delivered += 1
            self._dropped += 1
            return QUEUED
        if overflow == "block":
            return FULL
        self._dropped += 1
        return REFUSED if overflow == "error" else DROPPED

    async def _put(self, message: Message[Any]) -> int:
        """Wait for room in the queue, then queue *message* (the ``block`` policy).

        :return: ``1`` if queued, ``0`` if the subscriber closed while waiting
        """
        if not await self._wait_for_room():
            return 0
        return max(self._offer(message), 0)

    async def _wait_for_room(self) -> bool:
        """Wait until its queue has room; ``False`` if it is (or gets) closed first."""
        queue = self._queue
        while len(queue) >= self._capacity:
            if self._closed:
                return False
            waiting = self._not_full
            if waiting is None:
                self._claim_thread(f"publish to {self._channel!r}", PUBLISH_REMEDY)
                waiting = self._not_full = anyio.Event()
            elif get_ident() != self._thread:
                raise self._foreign(f"publish to {self._channel!r}", PUBLISH_REMEDY)
            await waiting.wait()
        return not self._closed

    def _close(self) -> None:
        """Accept no more messages, and wake everyone waiting so they can see that.

        The caller has checked the thread (:meth:`_check_thread`).
        """
        self._closed = True
        waiting, self._not_empty = self._not_empty, None
        if waiting is not None:
            waiting.set()
        waiting, self._not_full = self._not_full, None
        if waiting is not None:
            waiting.set()

    # -- threads: waking a task is only safe from its event loop's thread --------------

    def _check_thread(self, doing: str, remedy: str) -> None:
        """Raise unless the tasks waiting on it (if any) run in this thread's event loop."""
        if (self._not_empty is not None or self._not_full is not None) and (
            get_ident() != self._thread
        ):
            raise self._foreign(doing, remedy)

    def _claim_thread(self, doing: str, remedy: str) -> None:
        """A task of this thread is about to wait on it: note the thread (and refuse a
        second event loop while one waits already)."""
        self._check_thread(doing, remedy)
        self._thread = get_ident()

    def _foreign(self, doing: str, remedy: str) -> RuntimeError:
        """The error of a call from another thread than that of the tasks waiting on it."""
        return wrong_thread(doing, remedy, where=f"a task waits on {self!r}")

    def _wake_receivers(self) -> None:
        """Wake the tasks waiting for a message.

        Its callers run in the waiting tasks' thread, so this does not check it again: the
        channel's delivery checked it before queuing anything (a publish from another thread
        delivers nothing), and a backend's readers are tasks of the same event loop.
        """
        waiting, self._not_empty = self._not_empty, None
        if waiting is not None:
            waiting.set()

    def _wake_publishers(self, remedy: str) -> None:
        """Wake the publishers waiting for room (called by a receiver in their thread)."""
        if get_ident() != self._thread:
            raise self._foreign("receive", remedy)
        waiting, self._not_full = self._not_full, None
        if waiting is not None:
            waiting.set()

    def _drained(self) -> ChannelClosedError:
        return ChannelClosedError(f"{self!r} is closed and every queued message was received")
