"""The small interface between a channel and the transport its messages travel through."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Coroutine, Mapping, Sequence

    from anyio.abc import TaskStatus

    from .._core._exceptions import ChannelError
    from .._core._message import Message


#: One message on its way to a backend: ``(topic, data, metadata)``, already checked.
Record: TypeAlias = "tuple[str | None, Any, Mapping[str, Any]]"


class Deliver(Protocol):
    """How a backend hands a record to the local channel (:attr:`ChannelPort.deliver`)."""

    def __call__(
        self,
        topic: str | None,
        data: Any,
        metadata: Mapping[str, Any],
        id: str | None = None,
        /,
    ) -> Coroutine[Any, Any, int]:
        """Queue the record for every matching local subscriber; (awaited) how many that was."""
        ...


class Acknowledger(Protocol):
    """What a consumer-group subscriber tells the backend member that feeds it
    (:meth:`SubscriberPort.attach_acknowledger`).

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


class SubscriberPort(Protocol):
    """What a backend may know of, and do to, one subscriber (given to :meth:`Link.attach`).

    Its queue is filled through :meth:`ChannelPort.deliver_to` (or the shared fan-out,
    once admitted with :meth:`ChannelPort.admit`), never directly.
    """

    @property
    def topics(self) -> tuple[str, ...] | None:
        """The patterns it subscribed to, or ``None`` for every topic."""
        ...

    @property
    def closed(self) -> bool:
        """Whether it is unsubscribed (or its channel closed): deliver nothing more."""
        ...

    @property
    def pending(self) -> int:
        """How many messages wait in its queue (delivered, not yet received)."""
        ...

    @property
    def room(self) -> int:
        """How many more messages its queue takes now (a very large number if unbounded)."""
        ...

    async def wait_for_room(self) -> bool:
        """Wait until its queue has room; ``False`` if it is (or gets) closed first."""
        ...

    def start_at(self, cursor: str) -> None:
        """Set its :attr:`~mtbus.Subscriber.cursor` (the ``since=`` position it starts after)."""
        ...

    def attach_acknowledger(self, acknowledger: Acknowledger) -> None:
        """Have *acknowledger* told what its consumer processed (a consumer-group member)."""
        ...


class ChannelPort(Protocol):
    """What a backend may do to the channel it serves (given to :meth:`Backend.connect`)."""

    @property
    def name(self) -> str:
        """The channel's name."""
        ...

    @property
    def payload_type(self) -> type[Any] | None:
        """The class of the channel's payloads (a typed channel's ``type``), or ``None``.

        Every payload a typed channel publishes is an instance of it (or of a subclass),
        and its subscribers expect instances back: a backend that carries payloads as
        plain values rebuilds them (the Redis backend does it with ``TypedPayloads``, in
        ``_codecs``); one that hands the objects over, as memory does, has nothing to do.
        """
        ...

    @property
    def deliver(self) -> Deliver:
        """Queue a record for every matching local subscriber (the shared fan-out)."""
        ...

    def audience(self, topic: str | None) -> tuple[int, bool]:
        """Which subscribers the shared fan-out would offer a message on *topic* to now.

        :return: how many they are, and whether any of them has a bounded queue (which
            may drop the message, make the publisher wait, or refuse it)
        """
        ...

    def deliver_to(
        self, subscriber: SubscriberPort, message: Message[Any]
    ) -> Coroutine[Any, Any, int]:
        """Queue *message* for one subscriber only, under its overflow policy; ``1`` if queued."""
        ...

    def admit(self, subscriber: SubscriberPort) -> None:
        """Start routing the shared fan-out to *subscriber* (after its catch-up, say)."""
        ...

    def report(self, error: ChannelError) -> None:
        """Count and log a problem that has no caller to raise to (a gap, a bad record)."""
        ...


class Link(Protocol):
    """One channel's connection to its backend, made by :meth:`Backend.connect`."""

    def send(
        self, topic: str | None, data: Any, metadata: Mapping[str, Any]
    ) -> Coroutine[Any, Any, int]:
        """Publish one record to every subscriber of the channel, wherever it is.

        The topic is already validated, and *metadata* is a read-only copy. Errors the
        caller can fix (a payload the backend cannot carry) are raised by this call itself,
        before the coroutine is awaited.

        :return: (when awaited) how many local subscribers it was delivered to
        """
        ...

    async def send_batch(
        self, records: Sequence[Record], results: list[int | Exception], *, stop_at_error: bool
    ) -> None:
        """Publish *records* in order (in one round trip, where the transport can).

        Appends to *results*, as each record is done, what :meth:`send` would have
        returned or the ``Exception`` it would have raised; with *stop_at_error*, stops at
        the first error. :func:`send_each` does it one record at a time.
        """
        ...

    async def run(self, *, task_status: TaskStatus[None]) -> None:
        """Connect, report readiness with ``task_status.started()``, then serve until cancelled.

        ``async with channel:`` runs this in a task of the channel's own task group; a
        backend with nothing to run just calls ``task_status.started()`` and returns.
        """
        ...

    async def attach(
        self,
        subscriber: SubscriberPort,
        *,
        since: str | None,
        group: str | None,
        consumer: str | None,
    ) -> bool:
        """Take charge of a new subscriber, before the channel routes anything to it.

        :return: ``True`` if the channel should route the shared fan-out to it now,
            ``False`` if the backend will (through :meth:`ChannelPort.admit`) or never will
            (a consumer-group member, fed by the backend alone)
        :raises ~mtbus.ChannelError: if the backend cannot honour *since* or *group*
        """
        ...

    async def aclose(self) -> None:
        """Stop sending and delivering; called once, when the channel closes."""
        ...


class Backend(Protocol):
    """A transport for channels: in memory, or a server several processes share."""

    def connect(self, channel: ChannelPort) -> Link:
        """Attach a channel: records published to it reach ``channel.deliver``.

        Called once, when the :class:`~mtbus.Channel` is created; it must not block.
        """
        ...


async def send_each(
    link: Link, records: Sequence[Record], results: list[int | Exception], *, stop_at_error: bool
) -> None:
    """:meth:`Link.send_batch` for a transport with nothing better: one :meth:`~Link.send` each."""
    for topic, data, metadata in records:
        try:
            results.append(await link.send(topic, data, metadata))
        except Exception as error:
            results.append(error)
            if stop_at_error:
                return
