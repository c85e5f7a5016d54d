"""The backend seam: the same channel contract over memory, a relay, and a real Redis.

``RelayBackend`` is a stand-in for a network transport: records leave the publisher, travel
through a stream, and a pump task (one per channel, as a Redis reader is) hands them to the
channel's local delivery. The contract tests run over it, over the default memory backend
and over :class:`~mtbus.backends.RedisBackend` with a real ``redis-server``, and must not be
able to tell the difference except for publish's return value over the relay.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from mtbus import Channel, ChannelClosedError, ChannelError, ChannelFullError, Publisher
from mtbus.backends import Backend, ChannelPort, MemoryBackend, RedisBackend, send_each

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

    from mtbus import Subscriber
    from mtbus.backends import SubscriberPort

pytestmark = pytest.mark.anyio

Record = tuple[str | None, Any, Mapping[str, Any]]


class RelayLink:
    def __init__(self, port: ChannelPort, records: list[Record]) -> None:
        self._port = port
        self._records = records
        self._sender, self._receiver = anyio.create_memory_object_stream[Record](16)

    def send(
        self, topic: str | None, data: Any, metadata: Mapping[str, Any]
    ) -> Coroutine[Any, Any, int]:
        return self._send((topic, data, metadata))

    async def _send(self, record: Record) -> int:
        await self._sender.send(record)
        return 0  # delivery happens later, elsewhere: this process cannot count it

    async def send_batch(
        self, records: Sequence[Record], results: list[int | Exception], *, stop_at_error: bool
    ) -> None:
        await send_each(self, records, results, stop_at_error=stop_at_error)

    async def run(self, *, task_status: TaskStatus[None]) -> None:
        task_status.started()
        async with self._receiver:
            async for record in self._receiver:
                self._records.append(record)
                await self._port.deliver(*record)

    async def attach(
        self,
        subscriber: SubscriberPort,
        *,
        since: str | None,
        group: str | None,
        consumer: str | None,
    ) -> bool:
        return True

    async def aclose(self) -> None:
        await self._sender.aclose()


class RelayBackend:
    def __init__(self) -> None:
        self.records: list[Record] = []

    def connect(self, channel: ChannelPort) -> RelayLink:
        return RelayLink(channel, self.records)


@pytest.fixture(params=["memory", "relay", "redis"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """The same contract over each transport (a test may narrow the list, indirectly)."""
    if request.param == "memory":
        return MemoryBackend()
    if request.param == "relay":
        return RelayBackend()
    url: str = request.getfixturevalue("redis_url")
    return RedisBackend(url)


@pytest.fixture
async def channel(backend: Backend, channel_name: str) -> AsyncIterator[Channel[Any]]:
    async with Channel[Any](channel_name, backend=backend) as channel:
        yield channel


def published_count(backend: Backend, expected: int) -> int:
    """What publish returns: the relay cannot count deliveries made in another process."""
    return 0 if isinstance(backend, RelayBackend) else expected


async def test_messages_arrive_in_order_with_topics_and_metadata(channel: Channel[Any]) -> None:
    subscriber = await channel.subscribe("order.*")
    for number in range(20):
        await channel.publish(number, topic=f"order.n{number}", metadata={"n": number})
    with anyio.fail_after(5):
        received = [await subscriber.receive() for _ in range(20)]
    assert [message.data for message in received] == list(range(20))
    assert [message.topic for message in received] == [f"order.n{n}" for n in range(20)]
    assert [message.metadata for message in received] == [{"n": n} for n in range(20)]


async def test_wildcards_and_broadcasts_route_the_same(channel: Channel[Any]) -> None:
    users = await channel.subscribe(["user.*", "user.#"])
    systems = await channel.subscribe("system.#")
    everything = await channel.subscribe()
    await channel.publish("login", topic="user.login")
    await channel.publish("boot", topic="system.boot.done")
    await channel.publish("nobody", topic="billing.paid")
    await channel.broadcast("all")
    with anyio.fail_after(5):
        assert [(await users.receive()).data for _ in range(2)] == ["login", "all"]
        assert [(await systems.receive()).data for _ in range(2)] == ["boot", "all"]
        assert [(await everything.receive()).data for _ in range(4)] == [
            "login",
            "boot",
            "nobody",
            "all",
        ]
    assert users.statistics().pending == systems.statistics().pending == 0


async def test_publish_counts_the_local_subscribers_reached(
    backend: Backend, channel: Channel[Any]
) -> None:
    one = await channel.subscribe("a.*")
    two = await channel.subscribe("#")
    assert await channel.publish("x", topic="a.b") == published_count(backend, 2)
    assert await channel.publish("y", topic="c") == published_count(backend, 1)
    with anyio.fail_after(5):
        assert (await one.receive()).data == "x"
        assert [(await two.receive()).data for _ in range(2)] == ["x", "y"]


async def test_a_slow_subscriber_under_block_loses_nothing(channel: Channel[Any]) -> None:
    subscriber = await channel.subscribe(buffer_size=2)
    received: list[int] = []

    async def consume() -> None:
        async for message in subscriber:
            received.append(message.data)
            if len(received) == 50:
                return

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(consume)
            for number in range(50):
                await channel.publish(number, topic="n")
    assert received == list(range(50))
    assert subscriber.statistics().dropped == 0


async def test_close_ends_iteration_after_the_queued_messages(channel: Channel[Any]) -> None:
    subscriber = await channel.subscribe()
    await channel.publish(1)
    with anyio.fail_after(5):
        first = await subscriber.receive()
    await channel.publish(2)
    await anyio.wait_all_tasks_blocked()  # the relay's pump delivers after publish returns
    assert subscriber.statistics().pending == 1
    await channel.close()
    assert first.data == 1
    assert [message.data async for message in subscriber] == [2]
    with pytest.raises(ChannelClosedError):
        await channel.publish(3)
    with pytest.raises(ChannelClosedError):
        await channel.subscribe()


async def test_lossy_policies_drop_and_count_the_same(channel: Channel[Any]) -> None:
    oldest = await channel.subscribe(buffer_size=2, overflow="drop_oldest")
    newest = await channel.subscribe(buffer_size=2, overflow="drop_newest")
    for number in range(5):
        await channel.publish(number)
    await anyio.wait_all_tasks_blocked()  # the relay's pump delivers after publish returns
    assert [oldest.receive_nowait().data for _ in range(2)] == [3, 4]
    assert [newest.receive_nowait().data for _ in range(2)] == [0, 1]
    assert oldest.statistics().dropped == newest.statistics().dropped == 3


@pytest.mark.parametrize("backend", ["memory", "redis"], indirect=True)
async def test_the_error_policy_fails_a_local_publisher(channel: Channel[Any]) -> None:
    strict = await channel.subscribe(buffer_size=1, overflow="error")
    relaxed = await channel.subscribe()
    await channel.publish(1)
    with pytest.raises(ChannelFullError, match=r"dropped for 1 full subscriber"):
        await channel.publish(2)
    assert [relaxed.receive_nowait().data for _ in range(2)] == [1, 2]
    assert strict.receive_nowait().data == 1
    assert strict.statistics().dropped == 1


async def test_unsubscribing_keeps_what_was_queued(channel: Channel[Any]) -> None:
    leaving = await channel.subscribe()
    staying = await channel.subscribe()
    await channel.publish("before")
    with anyio.fail_after(5):  # one delivery queues it for both (over Redis, a moment later)
        assert (await staying.receive()).data == "before"
    leaving.unsubscribe()
    await channel.publish("after")
    with anyio.fail_after(5):
        assert (await staying.receive()).data == "after"
    assert [message.data async for message in leaving] == ["before"]
    assert channel.subscriber_count == 1


async def test_publishers_batch_over_every_backend(channel: Channel[Any]) -> None:
    subscriber = await channel.subscribe("job.*")
    publisher = Publisher(channel, default_topic="job.new")
    async with publisher.batch() as batch:
        for number in range(3):
            await batch.publish(number)
    assert await publisher.publish_batch([(3, "job.done", None), (4, None, {"n": 4})]) == [
        None,
        None,
    ]
    with anyio.fail_after(5):
        received = [await subscriber.receive() for _ in range(5)]
    assert [(m.data, m.topic) for m in received] == [
        (0, "job.new"),
        (1, "job.new"),
        (2, "job.new"),
        (3, "job.done"),
        (4, "job.new"),  # no topic: the publisher's default
    ]


async def test_a_transport_sees_each_record_once_whatever_the_subscribers(
    channel_name: str,
) -> None:
    relay = RelayBackend()
    async with Channel[int](channel_name, backend=relay) as channel:
        subscribers = [await channel.subscribe() for _ in range(3)]
        assert await channel.publish(7, topic="a.b") == 0
        with anyio.fail_after(5):
            assert [(await s.receive()).data for s in subscribers] == [7, 7, 7]
    assert relay.records == [("a.b", 7, {})]


async def test_the_memory_backend_delivers_before_publish_returns() -> None:
    backend = MemoryBackend()
    one, two = Channel[int]("one", backend=backend), Channel[int]("two", backend=backend)
    subscriber = await one.subscribe()
    await two.subscribe()
    assert await one.publish(1) == 1
    assert subscriber.receive_nowait().data == 1
    assert repr(backend) == "MemoryBackend()"


async def test_the_memory_backend_refuses_since_and_groups() -> None:
    channel = Channel[int]("one")
    with pytest.raises(ChannelError, match=r"MemoryBackend keeps no messages, so since='0'"):
        await channel.subscribe(since="0")
    with pytest.raises(ChannelError, match=r"so group='workers' cannot be honoured"):
        await channel.subscribe(group="workers")
    assert channel.subscriber_count == 0


async def test_a_channel_is_entered_once() -> None:
    async with Channel[int]("one") as channel:
        with pytest.raises(ChannelError, match=r"is already open: enter it once"):
            await channel.__aenter__()
    with pytest.raises(ChannelClosedError, match=r"cannot open .* it is closed"):
        await channel.__aenter__()


async def test_an_error_in_the_block_comes_out_as_it_is(
    backend: Backend, channel_name: str
) -> None:
    channel = Channel[int](channel_name, backend=backend)
    subscribers: list[Subscriber[int]] = []

    async def fail_inside() -> None:
        async with channel:
            subscribers.append(await channel.subscribe())
            raise LookupError("the block's own")

    with pytest.raises(LookupError, match=r"^the block's own$"):
        await fail_inside()
    assert channel.closed
    assert subscribers[0].closed
    with anyio.CancelScope() as scope:
        async with Channel[int](channel_name, backend=backend) as again:
            await again.subscribe()
            scope.cancel()
            await anyio.sleep_forever()
    assert scope.cancelled_caught
    assert again.closed
