"""The embedded default backend: publishing to a channel is delivering to its subscribers."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._base import Deliver


class MemoryBackend:
    """Keep every message inside the process and the :class:`~mtbus.Channel` it was published to.

    There is no serialisation, no copy and no extra task: ``publish`` queues the message
    for the matching subscribers before it returns (or waits for room, under the ``block``
    overflow policy). One instance may serve any number of channels.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "MemoryBackend()"

    def connect(self, channel: str, deliver: Deliver) -> _MemoryLink:
        """Attach a channel: what it publishes goes straight to its own *deliver*."""
        return _MemoryLink(deliver)


class _MemoryLink:
    """A link whose ``send`` *is* the channel's local delivery: no hop, no extra coroutine."""

    __slots__ = ("send",)

    def __init__(self, deliver: Deliver) -> None:
        self.send = deliver

    async def aclose(self) -> None:
        """Nothing to release: the channel itself drops its subscribers."""
