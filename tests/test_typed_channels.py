"""Typed channels: ``Channel(name, type=...)`` carries instances of one class, in memory and
over Redis, where payloads travel as plain values and are rebuilt on the way in.

Type inference (``Channel("orders", type=OrderPlaced)`` is a ``Channel[OrderPlaced]``) is
checked by the type checkers themselves; these tests check what happens at run time.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import attrs
import pydantic
import pytest
from receiving import receive

from mtbus import Channel, ChannelError, EventEmitter, MessageDecodeError, Publisher
from mtbus.backends import MemoryBackend, RedisBackend

if TYPE_CHECKING:
    import redis

pytestmark = pytest.mark.anyio


@dataclass
class OrderPlaced:
    order_id: int
    total: float


@dataclass
class ExpressOrderPlaced(OrderPlaced):
    courier: str = "bike"


@dataclass
class Address:
    city: str
    street: str


@dataclass
class Line:
    sku: str
    quantity: int


@dataclass
class OrderShipped:
    order_id: int
    address: Address
    lines: list[Line] = field(default_factory=list)
    note: str | None = None


@attrs.define
class PaymentTaken:
    order_id: int
    amount: float
    tags: list[str] = attrs.Factory(list)


class Customer(pydantic.BaseModel):
    name: str
    vip: bool = False


class RefundIssued(pydantic.BaseModel):
    __event_name__ = "refund.issued.v2"

    order_id: int
    customer: Customer
    reason: str = pydantic.Field(alias="why")


class NotCarried:
    """A class of none of the kinds a typed channel over Redis can rebuild."""

    def __init__(self, value: int) -> None:
        self.value = value


SAMPLES = [
    pytest.param(OrderPlaced(1, 9.5), "order.placed", id="dataclass"),
    pytest.param(
        OrderShipped(2, Address("Lyon", "1 rue Neuve"), [Line("a", 1), Line("b", 3)]),
        "order.shipped",
        id="nested-dataclass",
    ),
    pytest.param(PaymentTaken(3, 12.25, ["card"]), "payment.taken", id="attrs"),
    pytest.param(
        RefundIssued(order_id=4, customer=Customer(name="Ada", vip=True), why="broken"),
        "refund.issued.v2",
        id="pydantic",
    ),
]


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> MemoryBackend | RedisBackend:
    if request.param == "memory":
        return MemoryBackend()
    return RedisBackend(request.getfixturevalue("redis_url"))


# -- what a typed channel delivers -------------------------------------------------------


@pytest.mark.parametrize(("sample", "topic"), SAMPLES)
async def test_a_typed_channel_delivers_instances_named_by_their_class(
    backend: MemoryBackend | RedisBackend, channel_name: str, sample: object, topic: str
) -> None:
    async with Channel(channel_name, type=type(sample), backend=backend) as channel:
        subscriber = await channel.subscribe()
        assert await channel.publish(sample) == 1
        with anyio.fail_after(10):
            message = await subscriber.receive()
    assert message.topic == topic
    assert type(message.data) is type(sample)
    assert message.data == sample
    if isinstance(backend, MemoryBackend):
        assert message.data is sample  # in memory, the object itself


async def test_patterns_select_typed_messages_by_event_name(
    backend: MemoryBackend | RedisBackend, channel_name: str
) -> None:
    async with Channel(channel_name, type=OrderPlaced, backend=backend) as channel:
        placed = await channel.subscribe("order.*")
        express = await channel.subscribe("express.#")
        await channel.publish(OrderPlaced(1, 1.0))
        await channel.publish(ExpressOrderPlaced(2, 2.0, "van"))
        await channel.publish(OrderPlaced(3, 3.0))
        assert await receive(placed, 2) == [OrderPlaced(1, 1.0), OrderPlaced(3, 3.0)]
        [arrived] = await receive(express, 1)
    # Over Redis the subclass is found by the message's topic, its event name.
    assert type(arrived) is ExpressOrderPlaced
    assert arrived == ExpressOrderPlaced(2, 2.0, "van")


async def test_an_explicit_topic_is_used_as_given(
    backend: MemoryBackend | RedisBackend, channel_name: str
) -> None:
    async with Channel(channel_name, type=OrderPlaced, backend=backend) as channel:
        subscriber = await channel.subscribe("orders.eu")
        await channel.publish(OrderPlaced(1, 1.0), topic="orders.eu")
        with anyio.fail_after(10):
            message = await subscriber.receive()
    assert (message.topic, message.data) == ("orders.eu", OrderPlaced(1, 1.0))
    assert type(message.data) is OrderPlaced


async def test_a_typed_broadcast_reaches_every_pattern_as_the_type(
    backend: MemoryBackend | RedisBackend, channel_name: str
) -> None:
    async with Channel(channel_name, type=OrderPlaced, backend=backend) as channel:
        elsewhere = await channel.subscribe("payment.*")
        assert await channel.broadcast(OrderPlaced(1, 1.0)) == 1
        with anyio.fail_after(10):
            message = await elsewhere.receive()
    assert (message.topic, message.data) == (None, OrderPlaced(1, 1.0))


async def test_publisher_batches_are_typed_too(
    backend: MemoryBackend | RedisBackend, channel_name: str
) -> None:
    async with Channel(channel_name, type=OrderPlaced, backend=backend) as channel:
        subscriber = await channel.subscribe()
        publisher = Publisher(channel)
        results = await publisher.publish_batch(
            [
                (OrderPlaced(1, 1.0), None, None),
                ("not an order", None, None),
                (ExpressOrderPlaced(2, 2.0), None, None),
                (OrderPlaced(3, 3.0), "orders.eu", None),
            ],
            ignore_errors=True,
        )
        assert [type(result).__name__ for result in results] == [
            "NoneType",
            "TypeError",
            "NoneType",
            "NoneType",
        ]
        assert "it carries OrderPlaced instances, not str" in str(results[1])
        with anyio.fail_after(10):
            received = [await subscriber.receive() for _ in range(3)]
    assert [(m.topic, m.data) for m in received] == [
        ("order.placed", OrderPlaced(1, 1.0)),
        ("express.order.placed", ExpressOrderPlaced(2, 2.0)),
        ("orders.eu", OrderPlaced(3, 3.0)),
    ]


# -- what a typed channel refuses --------------------------------------------------------


async def test_every_way_to_publish_refuses_what_is_not_of_the_type(
    backend: MemoryBackend | RedisBackend, channel_name: str
) -> None:
    refused = r"cannot publish 'nope' to <Channel '[\w.]+' type=OrderPlaced subscribers=1 open>: "
    refused += r"it carries OrderPlaced instances, not str"
    wrong: Any = "nope"
    async with Channel(channel_name, type=OrderPlaced, backend=backend) as channel:
        subscriber = await channel.subscribe()
        with pytest.raises(TypeError, match=refused):
            await channel.publish(wrong)
        with pytest.raises(TypeError, match=refused):
            await channel.publish(wrong, topic="order.placed")
        with pytest.raises(TypeError, match=refused):
            await channel.broadcast(wrong)
        with pytest.raises(TypeError, match=refused):
            await anyio.to_thread.run_sync(channel.publish_sync, wrong)
        publisher = Publisher(channel)
        with pytest.raises(TypeError, match=refused):
            await publisher.publish(wrong)
        async with publisher:
            with pytest.raises(TypeError, match=refused):
                publisher.publish_soon(wrong)
        assert publisher.statistics().pending == 0
        async with publisher.batch() as batch:
            with pytest.raises(TypeError, match=refused):
                await batch.publish(wrong)
        assert batch.results == []
        # Nothing was sent: the first message to arrive is the next good one.
        await channel.publish(OrderPlaced(1, 1.0))
        assert await receive(subscriber, 1) == [OrderPlaced(1, 1.0)]
        assert channel.statistics().undecodable == 0


def test_a_typed_channel_needs_a_class_that_can_name_events() -> None:
    with pytest.raises(TypeError, match=r"int is a built-in type, not an event class"):
        Channel("orders", type=int)
    with pytest.raises(TypeError, match=r"an event class must be a class, not str: 'x'"):
        Channel("orders", type="x")  # type: ignore[call-overload]


def test_the_type_shows_on_the_channel() -> None:
    typed = Channel("orders", type=OrderPlaced)
    assert typed.type is OrderPlaced
    assert repr(typed) == "<Channel 'orders' type=OrderPlaced subscribers=0 open>"
    untyped = Channel[int]("numbers")
    assert untyped.type is None
    assert repr(untyped) == "<Channel 'numbers' subscribers=0 open>"


async def test_in_memory_any_class_may_type_a_channel() -> None:
    async with Channel("things", type=NotCarried) as channel:
        subscriber = await channel.subscribe("not.carried")
        thing = NotCarried(1)
        await channel.publish(thing)
        assert subscriber.receive_nowait().data is thing


def test_over_redis_the_type_must_be_one_a_codec_can_rebuild(redis_url: str) -> None:
    with pytest.raises(TypeError, match=r"NotCarried cannot be rebuilt from a message: a typed"):
        Channel("things", type=NotCarried, backend=RedisBackend(redis_url))


def test_without_msgspec_a_dataclass_channel_over_redis_says_how_to_get_it(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "msgspec", None)  # as if not installed
    with pytest.raises(
        ModuleNotFoundError,
        match=r"needs the msgspec package to rebuild OrderPlaced from its messages\. "
        r"Install it with: pip install 'mtbus\[msgspec\]'",
    ):
        Channel("orders", type=OrderPlaced, backend=RedisBackend(redis_url))
    # Pydantic models rebuild themselves; in memory nothing is rebuilt.
    Channel("refunds", type=RefundIssued, backend=RedisBackend(redis_url))
    Channel("orders", type=OrderPlaced)


# -- over Redis: plain values on the wire ------------------------------------------------


async def test_an_untyped_receiver_gets_plain_values(redis_url: str, channel_name: str) -> None:
    typed = Channel(channel_name, type=OrderShipped, backend=RedisBackend(redis_url))
    untyped = Channel(channel_name, backend=RedisBackend(redis_url))
    async with typed, untyped:
        subscriber = await untyped.subscribe()
        await typed.publish(OrderShipped(7, Address("Oslo", "Gate 1"), [Line("x", 2)]))
        with anyio.fail_after(10):
            message = await subscriber.receive()
    assert message.topic == "order.shipped"
    assert message.data == {
        "order_id": 7,
        "address": {"city": "Oslo", "street": "Gate 1"},
        "lines": [{"sku": "x", "quantity": 2}],
        "note": None,
    }


async def test_a_pydantic_model_travels_by_its_aliases(
    redis_url: str, channel_name: str, raw: redis.Redis
) -> None:
    backend = RedisBackend(redis_url)
    async with Channel(channel_name, type=RefundIssued, backend=backend) as channel:
        subscriber = await channel.subscribe("refund.#")
        refund = RefundIssued(order_id=1, customer=Customer(name="Ada"), why="late")
        await channel.publish(refund)
        assert await receive(subscriber, 1) == [refund]
    [(_, fields)] = raw.xrange(backend.key(channel_name)) or []
    assert fields is not None
    assert json.loads(fields[b"d"]) == {
        "order_id": 1,
        "customer": {"name": "Ada", "vip": False},
        "why": "late",
    }


async def test_a_payload_that_does_not_rebuild_is_counted_as_undecodable(
    redis_url: str, channel_name: str, raw: redis.Redis
) -> None:
    reported: list[Exception] = []
    backend = RedisBackend(redis_url, on_error=reported.append)
    key = backend.key(channel_name)
    async with Channel(channel_name, type=OrderPlaced, backend=backend) as channel:
        subscriber = await channel.subscribe()
        raw.xadd(key, {"c": "json", "d": '{"total": 1.5}', "t": "order.placed"})
        raw.xadd(key, {"c": "json", "d": '{"order_id": "7", "total": 1.5}', "t": "order.placed"})
        raw.xadd(key, {"c": "json", "d": '{"order_id": 8}', "t": "express.order.placed"})
        raw.xadd(key, {"c": "json", "d": "[1, 2]"})
        await channel.publish(OrderPlaced(9, 9.0))
        assert await receive(subscriber, 1) == [OrderPlaced(9, 9.0)]
        assert channel.statistics().undecodable == 4
    assert all(isinstance(error, MessageDecodeError) for error in reported)
    reasons = [str(error) for error in reported]
    assert (
        "payload is not a valid OrderPlaced: Object missing required field `order_id`"
        in (reasons[0])
    )
    assert (
        "payload is not a valid OrderPlaced: Expected `int`, got `str` - at `$.order_id`"
        in (reasons[1])
    )
    assert (
        "payload is not a valid ExpressOrderPlaced: Object missing required field" in (reasons[2])
    )
    assert "payload is not a valid OrderPlaced: Expected `object`, got `array`" in reasons[3]


async def test_a_group_member_counts_and_acknowledges_what_does_not_rebuild(
    redis_url: str, channel_name: str, raw: redis.Redis
) -> None:
    backend = RedisBackend(redis_url)
    key = backend.key(channel_name)
    async with Channel(channel_name, type=RefundIssued, backend=backend) as channel:
        member = await channel.subscribe(group="workers")
        watcher = await channel.subscribe()
        raw.xadd(key, {"c": "json", "d": '{"order_id": 1}', "t": "refund.issued.v2"})
        refund = RefundIssued(order_id=2, customer=Customer(name="Bo"), why="lost")
        await channel.publish(refund)
        async with member:
            assert await receive(member, 1) == [refund]
        assert await receive(watcher, 1) == [refund]
        # Read twice, so counted twice, as any undecodable entry: by the group's reader,
        # and by the channel's own (which feeds the watcher).
        assert channel.statistics().undecodable == 2
    pending = raw.xpending(key, "workers")
    assert pending["pending"] == 0  # the bad entry was acknowledged, never to come back


async def test_a_typed_catch_up_rebuilds_kept_messages(redis_url: str, channel_name: str) -> None:
    backend = RedisBackend(redis_url)
    async with Channel(channel_name, type=PaymentTaken, backend=backend) as channel:
        await channel.publish(PaymentTaken(1, 1.0, ["a"]))
        await channel.publish(PaymentTaken(2, 2.0))
        late = await channel.subscribe(since="0")
        assert await receive(late, 2) == [PaymentTaken(1, 1.0, ["a"]), PaymentTaken(2, 2.0)]


async def test_msgpack_carries_typed_payloads_too(redis_url: str, channel_name: str) -> None:
    from mtbus.backends import MsgpackCodec

    backend = RedisBackend(redis_url, codec=MsgpackCodec())
    async with Channel(channel_name, type=OrderShipped, backend=backend) as channel:
        subscriber = await channel.subscribe()
        shipped = OrderShipped(1, Address("Kyiv", "Khreshchatyk 1"), [Line("z", 9)], "fragile")
        await channel.publish(shipped)
        assert await receive(subscriber, 1) == [shipped]


async def test_a_typed_channel_over_redis_must_be_entered(redis_url: str) -> None:
    channel = Channel("orders", type=OrderPlaced, backend=RedisBackend(redis_url))
    with pytest.raises(ChannelError, match=r"a channel over Redis must be opened first"):
        await channel.publish(OrderPlaced(1, 1.0))


async def test_typed_events_cross_a_channel_and_stay_typed(
    backend: MemoryBackend | RedisBackend, channel_name: str
) -> None:
    """One emitter's typed events, published on a typed channel, emitted again as they
    arrive in another emitter (another process's, over Redis): its handler on the base
    class receives the subclass's instance, under the subclass's event name."""
    sending, receiving = EventEmitter(), EventEmitter()
    seen: list[tuple[str, OrderPlaced]] = []
    receiving.on(OrderPlaced, lambda event: seen.append((event.name, event.data)))
    async with (
        Channel(channel_name, type=OrderPlaced, backend=backend) as outbox,
        Channel(channel_name, type=OrderPlaced, backend=backend) as inbox,
    ):
        sending.on(OrderPlaced, lambda event: outbox.publish(event.data))
        subscriber = await (inbox if isinstance(backend, RedisBackend) else outbox).subscribe()
        await sending.emit(ExpressOrderPlaced(order_id=7, total=12.5, courier="van"))
        with anyio.fail_after(10):
            message = await subscriber.receive()
        await receiving.emit(message.data)
    assert seen == [("express.order.placed", ExpressOrderPlaced(7, 12.5, courier="van"))]
    assert type(seen[0][1]) is ExpressOrderPlaced
