"""Receiving in tests over Redis, where messages arrive a moment after publish returns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from mtbus import Subscriber


async def receive(subscriber: Subscriber[Any], count: int) -> list[Any]:
    """The data of the next *count* messages (failing after 10 s)."""
    with anyio.fail_after(10):
        return [(await subscriber.receive()).data for _ in range(count)]


async def receive_until(subscriber: Subscriber[Any], last: Any) -> list[Any]:
    """The data of every message up to the one carrying *last* (failing after 20 s)."""
    received: list[Any] = []
    with anyio.fail_after(20):
        while not received or received[-1] != last:
            received.append((await subscriber.receive()).data)
    return received
