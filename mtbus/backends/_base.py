"""The small interface between a channel and the transport its messages travel through."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Coroutine, Mapping

    from anyio.abc import TaskStatus

    from .._exceptions import ChannelError
    from .._message import Message
    from .._subscriber import Subscriber


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


class ChannelPort(Protocol):
    """What a backend may do to the channel it serves (given to :meth:`Backend.connect`)."""

    @property
    def name(self) -> str:
        """The channel's name."""
        ...

    @property
    def deliver(self) -> Deliver:
        """Queue a record for every matching local subscriber (the shared fan-out)."""
        ...

    def deliver_to(
        self, subscriber: Subscriber[Any], message: Message[Any]
    ) -> Coroutine[Any, Any, int]:
        """Queue *message* for one subscriber only, under its overflow policy; ``1`` if queued."""
        ...

    def admit(self, subscriber: Subscriber[Any]) -> None:
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

    async def run(self, *, task_status: TaskStatus[None]) -> None:
        """Connect, report readiness with ``task_status.started()``, then serve until cancelled.

        ``async with channel:`` runs this in a task of the channel's own task group; a
        backend with nothing to run just calls ``task_status.started()`` and returns.
        """
        ...

    async def attach(
        self,
        subscriber: Subscriber[Any],
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
