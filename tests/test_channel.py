"""Channel and Subscriber: routing, order, receiving, leaving, closing, counters, bad input."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from mtbus import (
    Channel,
    ChannelClosedError,
    ChannelError,
    ChannelStatistics,
    Message,
    Subscriber,
    SubscriberStatistics,
)

pytestmark = pytest.mark.anyio


def drain_messages(subscriber: Subscriber[Any]) -> list[Message[Any]]:
    """Everything queued for *subscriber* now."""
    return [subscriber.receive_nowait() for _ in range(subscriber.statistics().pending)]


def drain(subscriber: Subscriber[Any]) -> list[tuple[str | None, Any]]:
    """Everything queued for *subscriber* now, as (topic, data) pairs."""
    return [(message.topic, message.data) for message in drain_messages(subscriber)]


# -- routing -----------------------------------------------------------------------------


async def test_a_subscriber_without_topics_receives_everything() -> None:
    channel = Channel[str]("notifications")
    subscriber = await channel.subscribe()
    assert await channel.publish("hello") == 1
    assert await channel.publish("order", topic="order.placed") == 1
    assert drain(subscriber) == [(None, "hello"), ("order.placed", "order")]


async def test_patterns_select_topics() -> None:
    channel = Channel[str]("events")
    users = await channel.subscribe(["user.*", "system.*"])
    deep = await channel.subscribe("user.#")
    assert await channel.publish("in", topic="user.login") == 2
    assert await channel.publish("fail", topic="user.login.failed") == 1
    assert await channel.publish("bare", topic="user") == 1
    assert await channel.publish("boot", topic="system.boot") == 1
    assert await channel.publish("nobody", topic="order.placed") == 0
    assert drain(users) == [("user.login", "in"), ("system.boot", "boot")]
    assert drain(deep) == [("user.login", "in"), ("user.login.failed", "fail"), ("user", "bare")]


async def test_a_message_matching_several_patterns_is_delivered_once() -> None:
    channel = Channel[int]("events")
    subscriber = await channel.subscribe(["user.*", "*.login", "#", "user.login"])
    assert await channel.publish(1, topic="user.login") == 1
    assert drain(subscriber) == [("user.login", 1)]


async def test_broadcast_reaches_every_subscriber_whatever_its_patterns() -> None:
    channel = Channel[str]("events")
    users = await channel.subscribe(["user.*"])
    everyone = await channel.subscribe()
    assert await channel.broadcast("maintenance at noon", metadata={"level": "info"}) == 2
    message = users.receive_nowait()
    assert message == everyone.receive_nowait()
    assert message.topic is None
    assert message.metadata == {"level": "info"}


async def test_routes_follow_subscriptions_as_they_come_and_go() -> None:
    channel = Channel[int]("events")
    first = await channel.subscribe("a.*")
    assert await channel.publish(1, topic="a.b") == 1  # the route for "a.b" is now cached
    second = await channel.subscribe("a.b")
    assert await channel.publish(2, topic="a.b") == 2
    first.unsubscribe()
    assert await channel.publish(3, topic="a.b") == 1
    assert drain(first) == [("a.b", 1), ("a.b", 2)]
    assert drain(second) == [("a.b", 2), ("a.b", 3)]


async def test_every_subscriber_gets_the_same_immutable_message() -> None:
    channel = Channel[dict[str, int]]("events")
    one, two = await channel.subscribe(), await channel.subscribe()
    metadata = {"source": 1}
    await channel.publish({"x": 1}, topic="a", metadata=metadata)
    metadata["source"] = 2  # the caller's dict is copied
    message = one.receive_nowait()
    assert message is two.receive_nowait()
    assert message.metadata == {"source": 1}
    with pytest.raises(TypeError):
        message.metadata["source"] = 3  # type: ignore[index]
    with pytest.raises(AttributeError):
        message.data = {}  # type: ignore[misc]
    assert message == Message({"x": 1}, "a", {"source": 1})
    data, topic, _, message_id = message
    assert message_id is None  # memory keeps no messages, so gives them no ID
    assert (data, topic) == ({"x": 1}, "a")
    assert repr(message) == "Message(data={'x': 1}, topic='a', metadata={'source': 1})"


async def test_subscribers_and_messages_are_covariant() -> None:
    # What mypy checks here: like anyio's receive streams, a Subscriber[bool] is a
    # Subscriber[int] (whoever consumes ints can consume bools), and so are its messages.
    channel = Channel[bool]("flags")
    flags: Subscriber[bool] = await channel.subscribe()
    numbers: Subscriber[int] = flags
    await channel.publish(True)
    message: Message[int] = await numbers.receive()
    assert message.data == 1


# -- receiving ---------------------------------------------------------------------------


async def test_messages_arrive_in_publish_order() -> None:
    channel = Channel[int]("numbers")
    subscriber = await channel.subscribe()
    for number in range(100):
        await channel.publish(number, topic=f"n.{number % 3}")
    assert [(await subscriber.receive()).data for _ in range(100)] == list(range(100))


async def test_receive_waits_for_a_message() -> None:
    channel = Channel[str]("events")
    subscriber = await channel.subscribe()
    received: list[str] = []

    async def consume() -> None:
        received.append((await subscriber.receive()).data)

    async with anyio.create_task_group() as group:
        group.start_soon(consume)
        await anyio.wait_all_tasks_blocked()
        assert received == []
        await channel.publish("late")
    assert received == ["late"]


async def test_receive_nowait_on_an_empty_queue_raises_would_block() -> None:
    channel = Channel[str]("events")
    subscriber = await channel.subscribe()
    with pytest.raises(anyio.WouldBlock, match="no message waiting for <Subscriber of 'events'"):
        subscriber.receive_nowait()


async def test_a_cancelled_receive_loses_nothing() -> None:
    channel = Channel[str]("events")
    subscriber = await channel.subscribe()
    with anyio.move_on_after(0.01) as scope:
        await subscriber.receive()
    assert scope.cancelled_caught
    await channel.publish("kept")
    assert (await subscriber.receive()).data == "kept"


async def test_a_receiver_cancelled_right_after_being_woken_takes_the_message_or_leaves_it() -> (
    None
):
    channel = Channel[str]("events")
    subscriber = await channel.subscribe()
    taken: list[str] = []

    async def consume() -> None:
        taken.append((await subscriber.receive()).data)

    async with anyio.create_task_group() as group:
        group.start_soon(consume)
        await anyio.wait_all_tasks_blocked()
        await channel.publish("kept")  # wakes the receiver...
        group.cancel_scope.cancel()  # ...which is cancelled before it runs again
    left = [message.data for message in drain_messages(subscriber)]
    assert taken + left == ["kept"]


async def test_two_receivers_on_one_subscriber_share_its_messages() -> None:
    channel = Channel[int]("events")
    subscriber = await channel.subscribe()
    received: list[int] = []

    async def consume() -> None:
        received.append((await subscriber.receive()).data)

    async with anyio.create_task_group() as group:
        group.start_soon(consume)
        group.start_soon(consume)
        await anyio.wait_all_tasks_blocked()
        await channel.publish(1)
        await channel.publish(2)
    assert sorted(received) == [1, 2]


async def test_async_for_ends_when_the_channel_closes() -> None:
    channel = Channel[int]("events")
    subscriber = await channel.subscribe()
    received: list[int] = []

    async def consume() -> None:
        received.extend([message.data async for message in subscriber])

    async with anyio.create_task_group() as group:
        group.start_soon(consume)
        for number in range(3):
            await channel.publish(number)
        await channel.close()
    assert received == [0, 1, 2]


# -- leaving and closing -----------------------------------------------------------------


async def test_closing_delivers_what_was_queued_then_raises() -> None:
    channel = Channel[int]("events")
    subscriber = await channel.subscribe()
    await channel.publish(1)
    await channel.publish(2)
    await channel.close()
    assert subscriber.closed
    assert [(await subscriber.receive()).data, subscriber.receive_nowait().data] == [1, 2]
    with pytest.raises(ChannelClosedError, match="is closed and every queued message was received"):
        await subscriber.receive()
    with pytest.raises(ChannelClosedError):
        subscriber.receive_nowait()


async def test_close_wakes_a_waiting_receiver() -> None:
    channel = Channel[int]("events")
    subscriber = await channel.subscribe()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(channel.close)
            with pytest.raises(ChannelClosedError):
                await subscriber.receive()


async def test_a_closed_channel_refuses_publishing_and_subscribing() -> None:
    channel = Channel[int]("events")
    await channel.close()
    await channel.close()  # idempotent
    assert channel.closed
    with pytest.raises(ChannelClosedError, match="cannot publish to <Channel 'events'"):
        await channel.publish(1)
    with pytest.raises(ChannelClosedError, match="cannot publish"):
        await channel.broadcast(1)
    with pytest.raises(ChannelClosedError, match="cannot subscribe to <Channel 'events'"):
        await channel.subscribe()


async def test_async_with_channel_closes_it() -> None:
    async with Channel[int]("events") as channel:
        subscriber = await channel.subscribe()
    assert channel.closed
    assert subscriber.closed


async def test_unsubscribe_stops_new_messages_and_keeps_the_queued_ones() -> None:
    channel = Channel[int]("events")
    subscriber = await channel.subscribe()
    await channel.publish(1)
    subscriber.unsubscribe()
    subscriber.unsubscribe()  # idempotent
    assert channel.subscriber_count == 0
    assert await channel.publish(2) == 0
    assert [message.data async for message in subscriber] == [1]


async def test_async_with_subscriber_unsubscribes_on_exit_even_when_cancelled() -> None:
    channel = Channel[int]("events")
    with anyio.move_on_after(0.01):
        async with await channel.subscribe() as subscriber:
            assert channel.subscriber_count == 1
            await subscriber.receive()
    assert channel.subscriber_count == 0
    assert subscriber.closed


async def test_channel_unsubscribe_is_the_same_as_subscriber_unsubscribe() -> None:
    channel = Channel[int]("events")
    subscriber = await channel.subscribe("a.*")
    channel.unsubscribe(subscriber)  # a plain call: it never waits
    assert subscriber.closed
    channel.unsubscribe(subscriber)  # idempotent
    assert await channel.publish(1, topic="a.b") == 0
    other = Channel[int]("other")
    with pytest.raises(ValueError, match="is not a subscriber of <Channel 'other'"):
        other.unsubscribe(await channel.subscribe())
    with pytest.raises(TypeError, match="subscriber must be a Subscriber, not str: 'me'"):
        channel.unsubscribe("me")  # type: ignore[arg-type]


async def test_max_subscribers_is_enforced_and_freed_by_unsubscribing() -> None:
    channel = Channel[int]("events", max_subscribers=2)
    first = await channel.subscribe()
    await channel.subscribe()
    with pytest.raises(ChannelError, match="it has max_subscribers=2"):
        await channel.subscribe()
    first.unsubscribe()
    await channel.subscribe()


# -- counters and repr -------------------------------------------------------------------


async def test_statistics_count_published_delivered_and_pending() -> None:
    channel = Channel[int]("events", buffer_size=4, overflow="drop_newest")
    subscriber = await channel.subscribe("a.*")
    for number in range(3):
        await channel.publish(number, topic="a.b")
    await channel.publish(9, topic="other")
    subscriber.receive_nowait()
    assert subscriber.statistics() == SubscriberStatistics(
        delivered=3, dropped=0, pending=2, buffer_size=4, overflow="drop_newest"
    )
    assert channel.statistics() == ChannelStatistics(subscribers=1, published=4, closed=False)


async def test_reprs_say_what_they_are() -> None:
    channel = Channel[int]("orders")
    subscriber = await channel.subscribe(["order.*"])
    assert repr(channel) == "<Channel 'orders' subscribers=1 open>"
    assert repr(subscriber) == "<Subscriber of 'orders' topics=('order.*',) pending=0 open>"
    assert subscriber.topics == ("order.*",)
    assert channel.name == "orders"


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"name": ""}, ValueError, "invalid channel name ''"),
        ({"name": 5}, TypeError, "channel name must be a str, not int: 5"),
        ({"name": "a", "buffer_size": -1}, ValueError, "invalid buffer_size -1: must be >= 0"),
        ({"name": "a", "buffer_size": 1.5}, TypeError, "buffer_size must be an int, not float"),
        ({"name": "a", "buffer_size": True}, TypeError, "buffer_size must be an int, not bool"),
        (
            {"name": "a", "max_subscribers": 0},
            ValueError,
            "invalid max_subscribers 0: must be >= 1",
        ),
        ({"name": "a", "overflow": "spill"}, ValueError, "invalid overflow policy 'spill'"),
        ({"name": "a", "overflow": ["block"]}, TypeError, r"overflow must be a str, not list"),
    ],
)
def test_bad_channel_arguments(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Channel(**kwargs)


@pytest.mark.parametrize(
    ("topics", "error", "message"),
    [
        ([], ValueError, "topics must not be empty: pass None to receive every message"),
        (["a..b"], ValueError, r"invalid topic pattern 'a\.\.b': empty segment"),
        (["us*er"], ValueError, r"invalid topic pattern 'us\*er'"),
        ([5], TypeError, "topic pattern must be a str, not int: 5"),
        (5, TypeError, "topics must be a pattern or an iterable of patterns, not int: 5"),
        (
            b"b",
            TypeError,
            r"topics must be a pattern or an iterable of patterns, not bytes: b'b'",
        ),
        (
            bytearray(b"b"),
            TypeError,
            r"topics must be a pattern or an iterable of patterns, not bytearray: bytearray",
        ),
    ],
)
async def test_bad_topics_to_subscribe(topics: Any, error: type[Exception], message: str) -> None:
    channel = Channel[int]("events")
    with pytest.raises(error, match=message):
        await channel.subscribe(topics)
    assert channel.subscriber_count == 0


async def test_bad_subscriber_options() -> None:
    channel = Channel[int]("events")
    with pytest.raises(ValueError, match="invalid buffer_size -3: must be >= 0"):
        await channel.subscribe(buffer_size=-3)
    with pytest.raises(ValueError, match="invalid overflow policy 'later'"):
        await channel.subscribe(overflow="later")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("topic", "error", "message"),
    [
        ("user.*", ValueError, r"invalid topic 'user\.\*'"),
        ("", ValueError, "invalid topic ''"),
        (["a"], TypeError, r"topic must be a str, not list: \['a'\]"),
        (7, TypeError, "topic must be a str, not int: 7"),
    ],
)
async def test_bad_topics_to_publish(topic: Any, error: type[Exception], message: str) -> None:
    channel = Channel[int]("events")
    await channel.subscribe()
    with pytest.raises(error, match=message):
        await channel.publish(1, topic=topic)


async def test_bad_metadata_to_publish() -> None:
    channel = Channel[int]("events")
    with pytest.raises(TypeError, match=r"metadata must be a mapping, not list: \[1\]"):
        await channel.publish(1, metadata=[1])  # type: ignore[arg-type]
