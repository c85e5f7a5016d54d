"""The embedded default backend: publishing to a channel is delivering to its subscribers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._core._exceptions import ChannelError
from ._base import send_each

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anyio.abc import TaskStatus

    from ._base import ChannelPort, Deliver, Link, Record, SubscriberPort


class MemoryBackend:
    """Keep every message inside the process and the :class:`~mtbus.Channel` it was published to.

    There is no serialisation, no copy and no extra task: ``publish`` queues the message
    for the matching subscribers before it returns (or waits for room, under the ``block``
    overflow policy). One instance may serve any number of channels. Nothing is kept once
    delivered, so ``since=`` and consumer groups need another backend.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "MemoryBackend()"

    def connect(self, channel: ChannelPort) -> Link:
        """Attach a channel: what it publishes goes straight to its own delivery."""
        return _MemoryLink(channel)


class _MemoryLink:
    """A link whose ``send`` *is* the channel's local delivery: no hop, no extra coroutine."""

    __slots__ = ("send",)

    def __init__(self, channel: ChannelPort) -> None:
        self.send: Deliver = channel.deliver

    async def send_batch(
        self, records: Sequence[Record], results: list[int | Exception], *, stop_at_error: bool
    ) -> None:
        """Deliver each record in turn, as ``publish`` would."""
        await send_each(self, records, results, stop_at_error=stop_at_error)

    async def run(self, *, task_status: TaskStatus[None]) -> None:
        """Nothing to connect to or to serve."""
        task_status.started()

    async def attach(
        self,
        subscriber: SubscriberPort,
        *,
        since: str | None,
        group: str | None,
        consumer: str | None,
    ) -> bool:
        """Route to every subscriber at once; refuse what needs kept messages."""
        if since is not None or group is not None:
            option = f"since={since!r}" if since is not None else f"group={group!r}"
            raise ChannelError(
                f"MemoryBackend keeps no messages, so {option} cannot be honoured: "
                f"use a backend that does, such as RedisBackend"
            )
        return True

    async def aclose(self) -> None:
        """Nothing to release: the channel itself drops its subscribers."""
