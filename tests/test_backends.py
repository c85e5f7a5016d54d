"""The backend seam: the same channel contract over the memory backend and over a transport.

``RelayBackend`` is a stand-in for a network transport: records leave the publisher, travel
through a stream, and a pump task (one per channel, as a Redis reader would be) hands them
to the channel's local delivery. The contract tests run over it and over the default memory
backend, and must not be able to tell the difference except for publish's return value.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from mtbus import Channel, ChannelClosedError
from mtbus.backends import Backend, Deliver, Link, MemoryBackend

if TYPE_CHECKING:
    from anyio.abc import ObjectReceiveStream, ObjectSendStream, TaskGroup

pytestmark = pytest.mark.anyio

Record = tuple[str | None, Any, Mapping[str, Any]]


class RelayLink:
    def __init__(self, sender: ObjectSendStream[Record]) -> None:
        self._sender = sender

    async def send(self, topic: str | None, data: Any, metadata: Mapping[str, Any]) -> int:
        await self._sender.send((topic, data, metadata))
        return 0  # delivery happens later, elsewhere: this process cannot count it

    async def aclose(self) -> None:
        await self._sender.aclose()


class RelayBackend:
    def __init__(self, group: TaskGroup) -> None:
        self._group = group
        self.records: list[Record] = []

    def connect(self, channel: str, deliver: Deliver) -> Link:
        sender, receiver = anyio.create_memory_object_stream[Record](16)
        self._group.start_soon(self._pump, receiver, deliver)
        return RelayLink(sender)

    async def _pump(self, receiver: ObjectReceiveStream[Record], deliver: Deliver) -> None:
        async with receiver:
            async for record in receiver:
                self.records.append(record)
                await deliver(*record)


@pytest.fixture(params=["memory", "relay"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        yield MemoryBackend()
        return
    async with anyio.create_task_group() as group:
        yield RelayBackend(group)


async def test_messages_arrive_in_order_with_topics_and_metadata(backend: Backend) -> None:
    channel = Channel[int]("orders", backend=backend)
    subscriber = await channel.subscribe("order.*")
    for number in range(20):
        await channel.publish(number, topic=f"order.n{number}", metadata={"n": number})
    with anyio.fail_after(5):
        received = [await subscriber.receive() for _ in range(20)]
    assert [message.data for message in received] == list(range(20))
    assert [message.topic for message in received] == [f"order.n{n}" for n in range(20)]
    assert [message.metadata for message in received] == [{"n": n} for n in range(20)]
    await channel.close()


async def test_wildcards_and_broadcasts_route_the_same(backend: Backend) -> None:
    channel = Channel[str]("events", backend=backend)
    users = await channel.subscribe(["user.*", "user.#"])
    systems = await channel.subscribe("system.#")
    await channel.publish("login", topic="user.login")
    await channel.publish("boot", topic="system.boot.done")
    await channel.broadcast("all")
    with anyio.fail_after(5):
        assert [(await users.receive()).data for _ in range(2)] == ["login", "all"]
        assert [(await systems.receive()).data for _ in range(2)] == ["boot", "all"]
    await channel.close()


async def test_close_ends_iteration_after_the_queued_messages(backend: Backend) -> None:
    channel = Channel[int]("events", backend=backend)
    subscriber = await channel.subscribe()
    await channel.publish(1)
    with anyio.fail_after(5):
        first = await subscriber.receive()
    await channel.close()
    assert first.data == 1
    assert [message async for message in subscriber] == []
    with pytest.raises(ChannelClosedError):
        await channel.publish(2)


async def test_a_transport_sees_each_record_once_whatever_the_subscribers() -> None:
    async with anyio.create_task_group() as group:
        relay = RelayBackend(group)
        channel = Channel[int]("events", backend=relay)
        subscribers = [await channel.subscribe() for _ in range(3)]
        assert await channel.publish(7, topic="a.b") == 0
        with anyio.fail_after(5):
            assert [(await s.receive()).data for s in subscribers] == [7, 7, 7]
        await channel.close()
    assert relay.records == [("a.b", 7, {})]


async def test_the_memory_backend_delivers_before_publish_returns() -> None:
    backend = MemoryBackend()
    one, two = Channel[int]("one", backend=backend), Channel[int]("two", backend=backend)
    subscriber = await one.subscribe()
    await two.subscribe()
    assert await one.publish(1) == 1
    assert subscriber.receive_nowait().data == 1
    assert repr(backend) == "MemoryBackend()"
