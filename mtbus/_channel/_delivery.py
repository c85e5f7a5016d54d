"""What a channel's backend calls: routing each message to the subscribers it reaches, and
delivering it into their queues.

:class:`ChannelCore` holds the state routing and delivery share (the subscribers, the
pattern matcher, the cache of routes per topic, the counters) and the methods a backend
reaches through the channel's :class:`~mtbus.backends.ChannelPort`;
:class:`~mtbus.Channel` builds subscribing, publishing and its lifecycle on top.

:meth:`ChannelCore._deliver` is the hot path of an in-memory publish: one route lookup,
one :class:`~mtbus.Message`, one append per subscriber while every queue has room. A full
queue sends the message down :meth:`ChannelCore._deliver_rest`, where the overflow
policies apply. Every :data:`CHECKPOINT_INTERVAL`-th delivery checkpoints first, so a
publish loop notices cancellation and lets the subscribers' tasks run.
"""

from __future__ import annotations

import logging
from threading import get_ident
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from anyio.lowlevel import checkpoint

from .._core._exceptions import ChannelClosedError, ChannelFullError, ChannelGapError
from .._core._message import new_message
from .._core._pacing import CHECKPOINT_INTERVAL
from .._core._topics import TopicMatcher, validate_name
from ._ports import ChannelAdapter
from ._subscriber import FULL, PUBLISH_REMEDY, QUEUED, REFUSED

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .._core._exceptions import ChannelError
    from .._core._message import Message
    from ._subscriber import Subscriber

T = TypeVar("T")

#: How many distinct topics keep their precomputed list of subscribers.
ROUTE_CACHE_SIZE = 4096

# The pattern a subscriber without topics is filed under: it matches every topic.
_EVERY_TOPIC = "#"

_logger = logging.getLogger("mtbus")


class ChannelCore(Generic[T]):
    """A channel's subscribers, the routes to them, delivery into their queues and the
    counters: the side of a channel its backend calls."""

    __slots__ = (
        "__weakref__",
        "_closed",
        "_countdown",
        "_fanned_out",
        "_gaps",
        "_lost",
        "_matcher",
        "_name",
        "_published",
        "_routes",
        "_subscribers",
        "_undecodable",
    )

    def __init__(self, name: str) -> None:
        self._name = validate_name(name, kind="channel name")
        self._closed = False
        # In-memory publishes left before the next one checkpoints (as in Subscriber.receive).
        self._countdown = CHECKPOINT_INTERVAL - 1
        self._published = 0
        self._gaps = 0
        self._lost = 0
        self._undecodable = 0
        self._subscribers: dict[Subscriber[T], None] = {}  # an ordered set
        # Those the shared fan-out reaches (not a backend's group members, say).
        self._fanned_out: dict[Subscriber[T], None] = {}
        self._matcher: TopicMatcher[Subscriber[T]] = TopicMatcher()
        # topic (None: broadcast) -> the subscribers it reaches, in subscription order
        self._routes: dict[str | None, tuple[Subscriber[T], ...]] = {}

    def _port(self, payload_type: type[Any] | None) -> ChannelAdapter:
        """This channel as its backend sees it: the delivery methods below, bound, and the
        class of its payloads (a typed channel's)."""
        return ChannelAdapter(
            self._name,
            payload_type=payload_type,
            deliver=self._deliver,
            deliver_to=self._deliver_to,
            admit=self._admit,
            route=self._subscribers_for,
            report=self._report,
        )

    # -- delivery (what the backend calls) ---------------------------------------------

    async def _deliver(
        self,
        topic: str | None,
        data: Any,
        metadata: Mapping[str, Any],
        id: str | None = None,
    ) -> int:
        """Queue one message for each local subscriber it matches; return how many.

        The common case runs here: every queue has room. The first full queue hands this
        subscriber and the rest to :meth:`_deliver_rest`, where the overflow policies apply.
        Every :data:`CHECKPOINT_INTERVAL`-th call checkpoints first, before delivering anything.
        """
        if self._countdown:
            self._countdown -= 1
        else:
            await self._checkpoint()
        try:
            subscribers = self._routes[topic]
        except KeyError:
            subscribers = self._route(topic)
        self._published += 1
        message: Message[Any] = new_message((data, topic, metadata, id))
        for subscriber in subscribers:
            # Subscriber._offer's common case, inlined: room in the queue.
            queue = subscriber._queue
            if len(queue) >= subscriber._capacity:
                done = subscribers.index(subscriber)
                return await self._deliver_rest(topic, message, subscribers, done)
            if subscriber._not_empty is not None:
                if get_ident() != subscriber._thread:  # then nothing is delivered at all
                    raise self._undo(message, subscribers, subscriber)
                subscriber._wake_receivers()
            queue.append(message)
            subscriber._delivered += 1
        return len(subscribers)

    async def _checkpoint(self) -> None:
        """The periodic checkpoint of :meth:`_deliver`: other tasks run, cancellation acts."""
        self._countdown = CHECKPOINT_INTERVAL - 1
        await checkpoint()
        if self._closed:  # meanwhile
            raise ChannelClosedError(f"cannot publish to {self!r}: it is closed")

    def _undo(
        self, message: Message[Any], subscribers: tuple[Subscriber[T], ...], foreign: Subscriber[T]
    ) -> RuntimeError:
        """Take *message* back from the subscribers before *foreign* (whose waiting task runs
        in another thread than this publish); return the error to raise."""
        for subscriber in subscribers[: subscribers.index(foreign)]:
            subscriber._queue.pop()  # the message, appended last: nothing ran since
            subscriber._delivered -= 1
        self._published -= 1
        return foreign._foreign(f"publish to {self!r}", PUBLISH_REMEDY)

    async def _deliver_rest(
        self,
        topic: str | None,
        message: Message[Any],
        subscribers: tuple[Subscriber[T], ...],
        done: int,
    ) -> int:
        """Offer *message* to ``subscribers[done:]``, the first of them full, under their
        policies (``subscribers[:done]`` have it already).

        :return: how many subscribers queued it in all
        """
        rest = subscribers[done:]
        for subscriber in rest:
            waited_on = subscriber._not_empty is not None or subscriber._not_full is not None
            if waited_on and get_ident() != subscriber._thread:  # then nothing is delivered
                raise self._undo(message, subscribers, subscriber)
        delivered = done
        refused: list[Subscriber[T]] = []
        cut_short = False
        for subscriber in rest:
            outcome = subscriber._offer(message)
            if outcome == QUEUED:
                delivered += 1
            elif outcome == REFUSED:
                refused.append(subscriber)
            elif outcome == FULL:
                if await subscriber._put(message):
                    delivered += 1
                else:
                    cut_short = self._closed
        if refused:
            raise ChannelFullError(
                f"message to topic {topic!r} dropped for {len(refused)} full subscriber(s) "
                f"of {self!r} with overflow='error': {refused!r}"
            )
        if cut_short:
            raise ChannelClosedError(f"{self!r} closed while a publisher waited for room")
        return delivered

    async def _deliver_to(self, subscriber: Subscriber[T], message: Message[T]) -> int:
        """Queue *message* for *subscriber* alone (a backend's catch-up or group reader)."""
        if subscriber._closed:
            return 0
        self._published += 1
        outcome = subscriber._offer(message)
        if outcome == FULL:
            return await subscriber._put(message)
        return max(outcome, 0)

    def _report(self, error: ChannelError) -> None:
        """Count and log what a backend could not raise to anybody."""
        if isinstance(error, ChannelGapError):
            self._gaps += 1
            self._lost += error.lost or 0
        else:
            self._undecodable += 1
        _logger.warning("%s: %s", self._name, error)

    def _subscribers_for(self, topic: str | None) -> tuple[Subscriber[T], ...]:
        """The subscribers a message on *topic* reaches now, in subscription order."""
        try:
            return self._routes[topic]
        except KeyError:
            return self._route(topic)

    def _route(self, topic: str | None) -> tuple[Subscriber[T], ...]:
        """Work out (and cache) which subscribers a topic reaches."""
        if topic is None:
            subscribers = tuple(self._fanned_out)
        else:
            matched = self._matcher.match(topic)
            subscribers = tuple(sorted(matched, key=_subscription_order))
        routes = self._routes
        if len(routes) >= ROUTE_CACHE_SIZE:
            del routes[next(iter(routes))]  # the oldest
        routes[topic] = subscribers
        return subscribers

    # -- who is routed to --------------------------------------------------------------

    def _admit(self, subscriber: Subscriber[T]) -> None:
        """Route the messages matching its patterns to *subscriber* from now on."""
        self._fanned_out[subscriber] = None
        for pattern in subscriber.topics or (_EVERY_TOPIC,):
            self._matcher.add(pattern, subscriber)
        self._routes.clear()

    def _forget(self, subscriber: Subscriber[T]) -> None:
        """Stop routing to *subscriber* (it is unsubscribing)."""
        if subscriber not in self._subscribers:
            return
        del self._subscribers[subscriber]
        self._fanned_out.pop(subscriber, None)
        for pattern in subscriber.topics or (_EVERY_TOPIC,):
            self._matcher.remove(pattern, subscriber)
        self._routes.clear()

    def _shut(self) -> None:
        """Close every subscriber and route to none: nothing is delivered from now on.

        :raises RuntimeError: if a task of an event loop in another thread waits on a
            subscriber (nothing changes then)
        """
        for subscriber in self._subscribers:
            subscriber._check_thread(f"close {self!r}", "anyio.from_thread.run(channel.close)")
        self._closed = True
        subscribers = list(self._subscribers)
        self._subscribers.clear()
        self._fanned_out.clear()
        self._matcher = TopicMatcher()
        self._routes.clear()
        for subscriber in subscribers:
            subscriber._close()


def _subscription_order(subscriber: Subscriber[Any]) -> int:
    return subscriber.sequence
