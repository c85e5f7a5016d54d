"""The channel and its subscribers as a backend sees them: the two ports of the backend seam.

A backend knows a channel only as a :class:`~mtbus.backends.ChannelPort` and a subscriber
only as a :class:`~mtbus.backends.SubscriberPort`; these are the channel package's
implementations. Besides the channel's inlined delivery (``_delivery.py``), this module is
the only code outside ``_subscriber.py`` that reads or changes a subscriber's private state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from .._core._exceptions import ChannelError
    from .._core._message import Message
    from ..backends import Acknowledger, Deliver, SubscriberPort
    from ._subscriber import Subscriber


class ChannelAdapter:
    """A channel's :class:`~mtbus.backends.ChannelPort`: delivery, admission, problem reports.

    Made of the channel's own bound methods, so that this module needs nothing of the
    channel's class.
    """

    __slots__ = ("_admit", "_deliver_to", "_report", "_route", "deliver", "name", "payload_type")

    def __init__(
        self,
        name: str,
        *,
        payload_type: type[Any] | None,
        deliver: Deliver,
        deliver_to: Callable[[Subscriber[Any], Message[Any]], Coroutine[Any, Any, int]],
        admit: Callable[[Subscriber[Any]], None],
        route: Callable[[str | None], tuple[Subscriber[Any], ...]],
        report: Callable[[ChannelError], None],
    ) -> None:
        self.name = name
        self.payload_type = payload_type
        self.deliver = deliver
        self._deliver_to = deliver_to
        self._admit = admit
        self._route = route
        self._report = report

    def audience(self, topic: str | None) -> tuple[int, bool]:
        subscribers = self._route(topic)
        return len(subscribers), any(subscriber._buffer_size for subscriber in subscribers)

    def deliver_to(
        self, subscriber: SubscriberPort, message: Message[Any]
    ) -> Coroutine[Any, Any, int]:
        return self._deliver_to(_subscriber_of(subscriber), message)

    def admit(self, subscriber: SubscriberPort) -> None:
        local = _subscriber_of(subscriber)
        if not local._closed:
            self._admit(local)

    def report(self, error: ChannelError) -> None:
        self._report(error)


class SubscriberAdapter:
    """One subscriber's :class:`~mtbus.backends.SubscriberPort`: what its backend may know
    of it and do to it."""

    __slots__ = ("subscriber",)

    def __init__(self, subscriber: Subscriber[Any]) -> None:
        self.subscriber = subscriber

    def __repr__(self) -> str:
        return f"<SubscriberPort of {self.subscriber!r}>"

    @property
    def topics(self) -> tuple[str, ...] | None:
        return self.subscriber._topics

    @property
    def closed(self) -> bool:
        return self.subscriber._closed

    @property
    def pending(self) -> int:
        return len(self.subscriber._queue)

    @property
    def room(self) -> int:
        subscriber = self.subscriber
        return subscriber._capacity - len(subscriber._queue)  # capacity: maxsize if unbounded

    async def wait_for_room(self) -> bool:
        return await self.subscriber._wait_for_room()

    def start_at(self, cursor: str) -> None:
        self.subscriber._cursor = cursor

    def attach_acknowledger(self, acknowledger: Acknowledger) -> None:
        self.subscriber._acknowledger = acknowledger


def _subscriber_of(port: SubscriberPort) -> Subscriber[Any]:
    if not isinstance(port, SubscriberAdapter):
        raise TypeError(f"expected the SubscriberPort the channel attached, not {port!r}")
    return port.subscriber
