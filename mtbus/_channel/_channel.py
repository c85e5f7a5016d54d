"""Topic-wildcard publish/subscribe: :class:`~mtbus.Channel`, what its users call.

Subscribing, publishing (through the backend's :class:`~mtbus.backends.Link`) and the
lifecycle (``async with``, ``close``), on top of ``ChannelCore`` (``_delivery``): the routes
to the subscribers and delivery into their queues, which is what the backend calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from itertools import count
from threading import get_ident
from typing import TYPE_CHECKING, Any, Self, cast, overload

import anyio
import anyio.lowlevel

from .._core._checks import (
    check_buffer_size,
    check_count,
    check_instance,
    check_overflow,
    check_subscription,
    check_topics,
)
from .._core._exceptions import ChannelClosedError, ChannelError
from .._core._message import NO_METADATA, freeze_metadata
from .._core._threads import run_from_sync
from .._core._topics import validate_name
from ..backends import MemoryBackend
from ..backends._resp import redact
from ._delivery import ChannelCore
from ._payloads import PayloadType
from ._ports import SubscriberAdapter
from ._subscriber import Subscriber

if TYPE_CHECKING:
    import builtins
    from collections.abc import Coroutine, Iterable, Mapping
    from types import TracebackType

    from anyio.abc import TaskGroup
    from anyio.lowlevel import EventLoopToken

    from .._core._checks import Overflow
    from ..backends import Backend, Record

if TYPE_CHECKING:
    from typing_extensions import TypeVar

    # A channel made without a type (and not subscripted) is a Channel[Any], for mypy and
    # pyright alike: not a Channel[Never], nor one whose type must be annotated.
    T = TypeVar("T", default=Any)
else:
    from typing import TypeVar

    T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ChannelStatistics:
    """A snapshot of a channel's counters.

    :ivar subscribers: how many subscribers it has now
    :ivar published: messages delivered through it in this process (each counted once,
        however many subscribers received it)
    :ivar closed: whether it is closed
    :ivar gaps: times a backend found that messages this process had not read yet were
        gone (trimmed from a Redis stream, say); each was also logged and reported
    :ivar lost: the messages known lost in those gaps (exact where the backend can tell
        how many a gap cost, see :attr:`ChannelGapError.lost <mtbus.ChannelGapError.lost>`;
        otherwise a lower bound)
    :ivar undecodable: records a backend received but could not decode (skipped, logged)
    """

    subscribers: int
    published: int
    closed: bool
    gaps: int = 0
    undecodable: int = 0
    lost: int = 0


class Channel(ChannelCore[T]):
    """A named stream of messages, each routed to the subscribers whose patterns match its topic.

    Every subscriber has its own FIFO queue; what happens when one is full is its overflow
    policy (see :meth:`subscribe`). In memory, publishing never yields to the event loop unless
    it must wait for room under the ``block`` policy; over a server, it waits for the server.

    :param name: the channel's name (a dot-separated name, like a topic)
    :param buffer_size: default queue capacity of its subscribers; ``0`` is unbounded
    :param max_subscribers: how many subscribers it may have at once (``None``: no limit)
    :param overflow: default overflow policy of its subscribers: ``"block"`` (the
        publisher waits: lossless), ``"drop_oldest"``, ``"drop_newest"`` or ``"error"``
    :param type: make it a typed channel, carrying instances of this class (and of its
        subclasses): publishing anything else raises :exc:`TypeError`, a message published
        without a topic goes under the event name of its class (:func:`~mtbus.event_name`:
        ``OrderPlaced`` -> ``order.placed``), and subscribers receive instances, rebuilt
        by a backend that carries plain values (Redis: a dataclass, attrs class, pydantic
        model or msgspec Struct). ``Channel("orders", type=OrderPlaced)`` is a
        ``Channel[OrderPlaced]``.
    :param backend: where messages travel (default: a :class:`~mtbus.backends.MemoryBackend`);
        a backend that talks to a server (:class:`~mtbus.backends.RedisBackend`) needs
        ``async with channel:`` around the channel's use, which connects and disconnects

    Like anyio's streams, a channel belongs to one event loop: use it from the loop's
    thread (from another thread, through :meth:`publish_sync` or
    :func:`anyio.from_thread.run`). A call from
    another thread that would wake a task waiting on one of its subscribers raises
    :exc:`RuntimeError` before it changes anything.
    """

    __slots__ = (
        "_buffer_size",
        "_link",
        "_loop",
        "_max_subscribers",
        "_overflow",
        "_payloads",
        "_send",
        "_sequence",
        "_tasks",
    )

    @overload
    def __init__(
        self,
        name: str,
        *,
        type: None = None,
        buffer_size: int = 0,
        max_subscribers: int | None = None,
        overflow: Overflow = "block",
        backend: Backend | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self: Channel[T],
        name: str,
        *,
        type: builtins.type[T],
        buffer_size: int = 0,
        max_subscribers: int | None = None,
        overflow: Overflow = "block",
        backend: Backend | None = None,
    ) -> None: ...

    def __init__(
        self,
        name: str,
        *,
        type: builtins.type[T] | None = None,
        buffer_size: int = 0,
        max_subscribers: int | None = None,
        overflow: Overflow = "block",
        backend: Backend | None = None,
    ) -> None:
        super().__init__(name)
        self._payloads = None if type is None else PayloadType(type, self)
        self._buffer_size = check_buffer_size(buffer_size)
        self._overflow = check_overflow(overflow)
        if max_subscribers is not None:
            check_count(max_subscribers, "max_subscribers", minimum=1)
        self._max_subscribers = max_subscribers
        self._tasks: TaskGroup | None = None  # the backend's, while in ``async with``
        # The way into the event loop of ``async with`` (and its thread), for publish_sync.
        self._loop: tuple[EventLoopToken, int] | None = None
        self._sequence = count()
        self._link = _check_backend(backend).connect(self._port(type))
        # A typed channel checks and names each payload on its way to the backend; an
        # untyped one pays nothing for that.
        send = self._link.send
        self._send = send if self._payloads is None else self._payloads.sender(send)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        kind = self.type
        typed = "" if kind is None else f" type={kind.__qualname__}"
        return f"<Channel {self._name!r}{typed} subscribers={len(self._subscribers)} {state}>"

    @property
    def name(self) -> str:
        """The channel's name."""
        return self._name

    @property
    def type(self) -> builtins.type[T] | None:
        """The class a typed channel carries, or ``None`` for an untyped channel."""
        return None if self._payloads is None else self._payloads.kind

    @property
    def subscriber_count(self) -> int:
        """How many subscribers it has now."""
        return len(self._subscribers)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def statistics(self) -> ChannelStatistics:
        """Its counters now."""
        return ChannelStatistics(
            len(self._subscribers),
            self._published,
            self._closed,
            self._gaps,
            self._undecodable,
            self._lost,
        )

    # -- subscribing -------------------------------------------------------------------

    async def subscribe(
        self,
        topics: str | Iterable[str] | None = None,
        *,
        buffer_size: int | None = None,
        overflow: Overflow | None = None,
        since: str | None = None,
        group: str | None = None,
        consumer: str | None = None,
    ) -> Subscriber[T]:
        """Start receiving the messages whose topic matches *topics*.

        A message matching several of the patterns is delivered once. Broadcasts (messages
        published without a topic) reach every subscriber. The channel holds the subscriber
        until it unsubscribes (or leaves ``async with subscriber:``) or the channel closes.

        :param topics: a pattern or an iterable of patterns (``*`` matches one segment,
            ``#`` any number); ``None`` receives every message
        :param buffer_size: this subscriber's queue capacity (default: the channel's);
            ``0`` is unbounded
        :param overflow: what happens when its queue is full (default: the channel's):
            ``"block"`` makes the publisher wait for room, ``"drop_oldest"`` evicts the
            oldest queued message, ``"drop_newest"`` drops the new one, ``"error"`` drops
            it and raises :exc:`~mtbus.ChannelFullError` in the publisher. Drops are
            counted in :meth:`Subscriber.statistics <mtbus.Subscriber.statistics>`.
        :param since: (backends that keep messages) also receive the kept messages
            published after this :attr:`Subscriber.cursor <mtbus.Subscriber.cursor>`;
            ``"0"`` is the oldest kept message, ``"$"`` only new ones
        :param group: (backends that keep messages) join this consumer group: each
            message goes to one member of the group, across processes
        :param consumer: this member's name within *group* (default: unique per process)
        :raises ~mtbus.ChannelClosedError: if the channel is closed
        :raises ~mtbus.ChannelError: if it already has ``max_subscribers`` subscribers,
            or its backend cannot honour *since* or *group*
        :raises TypeError, ValueError: if a pattern, size, policy or option is not valid
        """
        patterns = check_topics(topics)
        size = self._buffer_size if buffer_size is None else check_buffer_size(buffer_size)
        policy = self._overflow if overflow is None else check_overflow(overflow)
        check_subscription(since, group, consumer)
        if self._closed:
            raise ChannelClosedError(f"cannot subscribe to {self!r}: it is closed")
        if self._max_subscribers is not None and len(self._subscribers) >= self._max_subscribers:
            raise ChannelError(
                f"cannot subscribe to {self!r}: it has max_subscribers={self._max_subscribers}"
            )
        subscriber: Subscriber[T] = Subscriber(self, patterns, size, policy, next(self._sequence))
        self._subscribers[subscriber] = None
        port = SubscriberAdapter(subscriber)
        try:
            if await self._link.attach(port, since=since, group=group, consumer=consumer):
                self._admit(subscriber)
        except BaseException:
            subscriber.unsubscribe()
            raise
        return subscriber

    def unsubscribe(self, subscriber: Subscriber[T]) -> None:
        """Same as :meth:`Subscriber.unsubscribe <mtbus.Subscriber.unsubscribe>`; never waits.

        :raises ValueError: if *subscriber* is another channel's
        :raises RuntimeError: if called from another thread than the event loop's whose
            tasks wait on *subscriber* (nothing changes then)
        """
        check_instance(subscriber, Subscriber, "subscriber")
        if subscriber._channel is not self:
            raise ValueError(f"{subscriber!r} is not a subscriber of {self!r}")
        subscriber.unsubscribe()

    # -- publishing --------------------------------------------------------------------

    def publish(
        self,
        data: T,
        topic: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Coroutine[Any, Any, int]:
        """Deliver *data* to every subscriber whose patterns match *topic*; await it.

        Each subscriber gets the same immutable :class:`~mtbus.Message`. Under the
        ``block`` policy the publisher waits for room in each full queue in turn; if it is
        cancelled while waiting, the subscribers already reached keep the message.

        In memory, publishing does not yield to the event loop unless it must wait for
        room, except every 256th publish to the channel: that one makes a full checkpoint
        first (where it may be cancelled, and other tasks run), so a publish loop still
        notices cancellation and lets the subscribers' tasks run.

        Over a backend that leaves the process (Redis), publishing returns once the server
        has stored the message, and counts only this process's subscribers (the others
        are in other processes). Their queues get it from this process's reader a moment
        later; when one of them has a bounded queue, publish waits for that, so a full one
        holds the publisher (``block``) or fails it (``error``) as in memory. A subscriber
        created after publish returned never receives the message.

        :param data: the payload (on a typed channel, an instance of its type)
        :param topic: a name like ``user.login`` (no wildcards); ``None`` broadcasts to
            every subscriber, except on a typed channel: there it is the event name of
            the payload's class (an explicit topic is used as given)
        :param metadata: copied, read-only, into ``message.metadata``
        :return: (when awaited) how many subscribers the message was queued for (over
            Redis: this process's subscribers that matched when the server stored it; one
            that unsubscribes before this process's reader reaches the message is counted
            but does not get it)
        :raises ~mtbus.ChannelClosedError: if the channel is closed (or closes while the
            publisher waits for room)
        :raises ~mtbus.ChannelFullError: (when awaited) if a subscriber with the ``"error"``
            policy had a full queue; every other subscriber still got the message
        :raises TypeError, ValueError: if *topic* is not a valid name or *metadata* not a
            mapping, or a typed channel's *data* is not an instance of its type
        :raises RuntimeError: (when awaited) if called from another thread than the event
            loop's whose tasks wait on a subscriber it would wake; nothing is delivered then
        """
        # A plain method returning the delivery coroutine: one coroutine per publish.
        if self._closed:
            raise ChannelClosedError(f"cannot publish to {self!r}: it is closed")
        try:
            known = topic in self._routes
        except TypeError:  # unhashable, so certainly not a str: let validation say so
            known = False
        if not known and topic is not None:
            validate_name(topic, kind="topic")
        # A local, not self._send(...): a bound method kept in a slot is called through an
        # unspecialisable LOAD_METHOD in CPython 3.11.
        send = self._send
        return send(
            topic,
            data,
            NO_METADATA if metadata is None else freeze_metadata(metadata),
        )

    def _check_data(self, data: object) -> None:
        """Refuse, as ``publish`` would, a payload a typed channel does not carry."""
        if self._payloads is not None:
            self._payloads.check(data)

    def publish_sync(
        self,
        data: T,
        topic: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> int:
        """Publish from sync code or another thread: deliver *data* and wait, as :meth:`publish`.

        The publish runs in one of three places, the first that applies:

        1. inside ``async with channel:`` in an event loop of another thread: in that
           loop, as a task of the block, while the calling thread blocks (waiting for room
           in a full queue too, under the ``block`` policy). If the block ends meanwhile,
           the channel closes and ``publish_sync`` raises
           :exc:`~mtbus.ChannelClosedError`;
        2. in an anyio worker thread (``anyio.to_thread.run_sync``): in the event loop
           that started the thread;
        3. otherwise: in a new asyncio event loop, in the calling thread, closed before
           it returns. A channel over a server (Redis) is not open then, and raises the
           :exc:`~mtbus.ChannelError` that :meth:`publish` raises outside
           ``async with channel:``.

        ``async with channel:`` is what binds a channel to its event loop: outside such
        a block, a channel that a loop in another thread uses cannot be told apart from an
        unused one (a publish that would wake one of its waiting tasks is refused).

        The arguments are checked in the calling thread, before anything runs; the payload
        is encoded (for a server) where the publish runs. What the publish raises is raised
        here as itself.

        :param data: the payload (on a typed channel, an instance of its type)
        :param topic: a name like ``user.login`` (no wildcards); ``None`` broadcasts to
            every subscriber, or on a typed channel names the message after the payload's
            class (see :meth:`publish`)
        :param metadata: copied, read-only, into ``message.metadata``
        :return: how many subscribers the message was queued for (see :meth:`publish`)
        :raises RuntimeError: if an event loop runs in the calling thread (waiting would
            block it): there, use ``await channel.publish(...)``
        :raises ~mtbus.ChannelClosedError: if the channel is closed, or closes before the
            publish is done
        :raises ~mtbus.ChannelFullError: if a subscriber with the ``"error"`` policy had
            a full queue; every other subscriber still got the message
        :raises ~mtbus.ChannelError: for a channel over a server, outside
            ``async with channel:``
        :raises TypeError, ValueError: if *topic* is not a valid name or *metadata* not a
            mapping, or a typed channel's *data* is not an instance of its type
        """
        if self._closed:
            raise ChannelClosedError(f"cannot publish to {self!r}: it is closed")
        self._check_data(data)
        if topic is not None:
            validate_name(topic, kind="topic")
        frozen = freeze_metadata(metadata)
        loop = self._loop
        in_block = None
        if loop is not None:
            in_block = (*loop, partial(self._publish_in_block, (data, topic, frozen)))
        return run_from_sync(
            "channel.publish_sync",
            "await channel.publish(...)",
            partial(self.publish, data, topic, frozen),
            in_block,
            lambda: ChannelClosedError(
                f"cannot publish to {self!r}: the event loop of its 'async with' block has finished"
            ),
        )

    async def _publish_in_block(self, message: tuple[T, str | None, Mapping[str, Any]]) -> int:
        """What ``publish_sync`` runs in the event loop: a publish in the block's task group."""
        tasks = self._tasks
        if tasks is None or self._closed:  # the block ended before this ran
            raise ChannelClosedError(f"cannot publish to {self!r}: it is closed")
        outcome: list[int | Exception] = []
        done = anyio.Event()

        async def publish() -> None:
            try:
                outcome.append(await self.publish(*message))
            except Exception as error:  # for the calling thread, not the task group
                outcome.append(error)
            finally:
                done.set()

        tasks.start_soon(publish)
        await done.wait()
        if not outcome:
            raise ChannelClosedError(f"{self!r} closed while publish_sync() waited")
        result = outcome[0]
        if isinstance(result, Exception):
            raise result
        return result

    async def _publish_batch(
        self,
        items: Iterable[tuple[T, str | None, Mapping[str, Any] | None]],
        results: list[int | Exception],
        *,
        stop_at_error: bool,
    ) -> None:
        """Publish ``(data, topic, metadata)`` items in order, in one round trip if the
        backend can; append to *results* what each ``publish`` returned or raised.

        An item that ``publish`` would refuse at the call gets that error as its result;
        with *stop_at_error*, nothing after the first error is published. A typed channel
        checks each payload, and names those without a topic, as ``publish`` does.
        """
        if self._closed:
            closed = ChannelClosedError(f"cannot publish to {self!r}: it is closed")
            results.extend([closed] if stop_at_error else [closed for _ in items])
            return
        checked: list[Record | Exception] = []
        payloads = self._payloads
        for data, topic, metadata in items:
            try:
                if payloads is not None:
                    payloads.check(data)
                    if topic is None:
                        topic = payloads.topic_of(data)
                    else:
                        validate_name(topic, kind="topic")
                elif topic is not None:
                    validate_name(topic, kind="topic")
                frozen = freeze_metadata(metadata)
            except (TypeError, ValueError) as error:
                checked.append(error)
                if stop_at_error:
                    break
            else:
                checked.append((topic, data, frozen))
        sent: list[int | Exception] = []
        try:
            records = [item for item in checked if not isinstance(item, Exception)]
            await self._link.send_batch(records, sent, stop_at_error=stop_at_error)
        finally:
            # The refused items take their places among what was sent, up to the first
            # record the backend did not get to (it stopped at an error, or was cancelled).
            outcomes = iter(sent)
            for item in checked:
                if isinstance(item, Exception):
                    results.append(item)
                elif (outcome := next(outcomes, None)) is not None:
                    results.append(outcome)
                else:
                    break

    def broadcast(
        self, data: T, metadata: Mapping[str, Any] | None = None
    ) -> Coroutine[Any, Any, int]:
        """Deliver *data* to every subscriber, whatever its patterns: ``publish(data)``, but
        on a typed channel too (whose ``publish(data)`` names the message after its class).

        A typed channel still refuses what is not an instance of its type; over a server,
        its receivers rebuild a broadcast payload into the type itself (a message without
        a topic names no subclass).
        """
        if self._payloads is None:
            return self.publish(data, None, metadata)
        if self._closed:
            raise ChannelClosedError(f"cannot publish to {self!r}: it is closed")
        self._payloads.check(data)
        return self._link.send(None, data, freeze_metadata(metadata))

    # -- closing -----------------------------------------------------------------------

    async def close(self) -> None:
        """Close the channel; idempotent.

        Nothing more can be published or subscribed. Each subscriber can still receive what
        was queued for it, then its ``receive`` raises :exc:`~mtbus.ChannelClosedError`
        and its ``async for`` ends. A publisher waiting for room gets ``ChannelClosedError``.

        :raises RuntimeError: if called from another thread than the event loop's whose
            tasks wait on its subscribers (nothing changes then)
        """
        if self._closed:
            return
        self._shut()
        await self._link.aclose()

    async def __aenter__(self) -> Self:
        """Connect to the backend (a no-op in memory); ``__aexit__`` closes the channel."""
        if self._closed:
            raise ChannelClosedError(f"cannot open {self!r}: it is closed")
        if self._tasks is not None:
            raise ChannelError(f"{self!r} is already open: enter it once")
        tasks = anyio.create_task_group()
        await tasks.__aenter__()
        try:
            await tasks.start(self._link.run)
        except BaseException:
            tasks.cancel_scope.cancel()
            await tasks.__aexit__(None, None, None)
            raise
        self._tasks = tasks
        self._loop = (anyio.lowlevel.current_token(), get_ident())
        return self

    async def __aexit__(
        self,
        exc_type: builtins.type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            await self.close()
        finally:
            tasks, self._tasks = self._tasks, None
            self._loop = None
            if tasks is not None:
                # The block's own exception is not the backend's: it propagates as it is,
                # and only a failure of the backend's tasks comes out of the task group.
                tasks.cancel_scope.cancel()
                await tasks.__aexit__(None, None, None)


def _check_backend(value: object) -> Backend:
    if value is None:
        return MemoryBackend()
    if isinstance(value, type) or not callable(getattr(value, "connect", None)):
        if isinstance(value, type):
            shown = f"the class {value.__name__} itself"
        elif isinstance(value, str):
            shown = f"str {redact(value)!r}"  # a URL, most likely: never show its password
        elif isinstance(value, bytes | bytearray):
            shown = type(value).__name__  # it may hold a password, and cannot be redacted
        else:
            shown = f"{type(value).__name__} {value!r}"
        raise TypeError(
            f"backend must be a Backend such as RedisBackend(url) or MemoryBackend(), not {shown}"
        )
    return cast("Backend", value)
