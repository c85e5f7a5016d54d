"""Publisher: default topic, publish_batch results, batch contexts, background flushing."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest

from mtbus import (
    Channel,
    ChannelClosedError,
    ChannelFullError,
    Message,
    Publisher,
    PublisherStatistics,
    Subscriber,
)

pytestmark = pytest.mark.anyio


def queued(subscriber: Subscriber[Any]) -> list[tuple[str | None, Any]]:
    pending = subscriber.statistics().pending
    return [(m.topic, m.data) for m in (subscriber.receive_nowait() for _ in range(pending))]


async def test_publish_uses_the_default_topic_unless_given_one() -> None:
    channel = Channel[str]("events")
    subscriber = await channel.subscribe()
    publisher = Publisher(channel, default_topic="user.login")
    assert await publisher.publish("alice") == 1
    assert await publisher.publish("boot", topic="system.boot", metadata={"host": "a"}) == 1
    assert queued(subscriber) == [("user.login", "alice"), ("system.boot", "boot")]
    assert publisher.statistics() == PublisherStatistics(published=2, failed=0, pending=0)
    assert publisher.channel is channel
    assert publisher.default_topic == "user.login"


async def test_without_a_default_topic_publish_broadcasts() -> None:
    channel = Channel[str]("events")
    users = await channel.subscribe("user.*")
    publisher = Publisher(channel)
    assert await publisher.publish("to everyone") == 1
    assert queued(users) == [(None, "to everyone")]


async def test_publish_batch_returns_one_result_per_message() -> None:
    channel = Channel[int]("events")
    subscriber = await channel.subscribe(buffer_size=1, overflow="error")
    publisher = Publisher(channel)
    results = await publisher.publish_batch(
        [(1, "a", None), (2, "b", None), (3, "c", {"k": 1})], ignore_errors=True
    )
    assert results[0] is None
    assert isinstance(results[1], ChannelFullError)
    assert isinstance(results[2], ChannelFullError)
    assert queued(subscriber) == [("a", 1)]
    assert publisher.statistics().failed == 2


async def test_publish_batch_stops_at_the_first_error_unless_told_otherwise() -> None:
    channel = Channel[int]("events")
    publisher = Publisher(channel)
    results = await publisher.publish_batch([(1, "bad topic", None), (2, "a", None)])
    assert len(results) == 1
    assert isinstance(results[0], ValueError)
    assert channel.statistics().published == 0


async def test_publish_batch_rejects_items_that_are_not_triples_before_publishing() -> None:
    channel = Channel[int]("events")
    publisher = Publisher(channel)
    with pytest.raises(
        TypeError, match=r"takes \(data, topic, metadata\) tuples or Messages, not tuple"
    ):
        await publisher.publish_batch([(1, "a", None), (2, "b")])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="not int: 5"):
        await publisher.publish_batch([5])  # type: ignore[list-item]
    assert channel.statistics().published == 0


async def test_publish_batch_accepts_messages() -> None:
    channel = Channel[int]("events")
    subscriber = await channel.subscribe()
    publisher = Publisher(channel)
    assert await publisher.publish_batch([Message(1, "a"), Message(2)]) == [None, None]
    assert queued(subscriber) == [("a", 1), (None, 2)]


async def test_batch_publishes_when_full_and_on_exit() -> None:
    channel = Channel[int]("events")
    subscriber = await channel.subscribe()
    publisher = Publisher(channel, default_topic="n", batch_size=2)
    async with publisher.batch() as batch:
        await batch.publish(1)
        assert queued(subscriber) == []
        await batch.publish(2)  # the batch is full: published now
        assert queued(subscriber) == [("n", 1), ("n", 2)]
        await batch.publish(3, topic="m")
    assert queued(subscriber) == [("m", 3)]
    assert batch.results == [None, None, None]


async def test_a_batch_whose_block_raises_is_discarded_and_kept_for_inspection() -> None:
    channel = Channel[int]("events")
    subscriber = await channel.subscribe()
    publisher = Publisher(channel, default_topic="n")
    batch = publisher.batch()

    async def fail_midway() -> None:
        async with batch:
            await batch.publish(1)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail_midway()
    assert queued(subscriber) == []
    assert batch.discarded == [Message(1, "n")]


async def test_a_batch_whose_messages_fail_raises_them_together() -> None:
    channel = Channel[int]("events")
    await channel.subscribe(buffer_size=1, overflow="error")
    publisher = Publisher(channel)

    async def publish_three() -> None:
        async with publisher.batch() as batch:
            for number in range(3):
                await batch.publish(number)

    with pytest.raises(ExceptionGroup, match="2 of 3 batched messages failed") as caught:
        await publish_three()
    assert all(isinstance(error, ChannelFullError) for error in caught.value.exceptions)


async def test_batch_rejects_a_bad_topic_at_once() -> None:
    publisher = Publisher(Channel[int]("events"))
    async with publisher.batch() as batch:
        with pytest.raises(ValueError, match=r"invalid topic 'a\.\.b'"):
            await batch.publish(1, topic="a..b")
        with pytest.raises(TypeError, match=r"metadata must be a mapping, not list: \[1\]"):
            await batch.publish(1, metadata=[1])  # type: ignore[arg-type]


async def test_background_flushing_publishes_when_batch_size_is_reached() -> None:
    channel = Channel[int]("events")
    subscriber = await channel.subscribe()
    with anyio.fail_after(5):
        async with Publisher(channel, default_topic="n", batch_size=3, flush_interval=60) as pub:
            for number in range(3):
                pub.publish_soon(number)
            assert pub.statistics().pending == 3
            first = await subscriber.receive()  # the flusher woke up because the batch filled
            assert pub.statistics().pending == 0
    assert [first.data, *(data for _, data in queued(subscriber))] == [0, 1, 2]


async def test_background_flushing_publishes_every_flush_interval() -> None:
    channel = Channel[int]("events")
    subscriber = await channel.subscribe()
    with anyio.fail_after(5):
        async with Publisher(channel, default_topic="n", batch_size=100, flush_interval=0.01) as p:
            p.publish_soon(1)
            assert (await subscriber.receive()).data == 1


async def test_leaving_the_publisher_block_publishes_what_is_queued() -> None:
    channel = Channel[int]("events")
    subscriber = await channel.subscribe()
    async with Publisher(channel, default_topic="n", flush_interval=60) as publisher:
        publisher.publish_soon(1)
        publisher.publish_soon(2, topic="m", metadata={"k": "v"})
    assert queued(subscriber) == [("n", 1), ("m", 2)]
    assert publisher.statistics() == PublisherStatistics(published=2, failed=0, pending=0)


async def test_background_failures_are_logged_once_per_flush_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel = Channel[int]("events")
    publisher = Publisher(channel, default_topic="n", flush_interval=60)
    with caplog.at_level(logging.ERROR, logger="mtbus"):
        async with publisher:
            for number in range(50):
                publisher.publish_soon(number)
            await channel.close()
    assert publisher.statistics() == PublisherStatistics(published=0, failed=50, pending=0)
    [record] = caplog.records  # one for the flush, not one per message
    assert record.getMessage() == (
        "50 of 50 messages flushed to <Channel 'events' subscribers=0 closed> were not "
        "published; the first (to topic 'n') failed with:"
    )
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ChannelClosedError)


async def test_publish_soon_needs_the_background_flusher() -> None:
    publisher = Publisher(Channel[int]("events"))
    with pytest.raises(RuntimeError, match="use 'async with publisher:'"):
        publisher.publish_soon(1)
    async with publisher:
        with pytest.raises(ValueError, match=r"invalid topic 'a\*'"):
            publisher.publish_soon(1, topic="a*")
        with pytest.raises(RuntimeError, match="already running its background flusher"):
            await publisher.__aenter__()
    with pytest.raises(RuntimeError, match="use 'async with publisher:'"):
        publisher.publish_soon(1)


async def test_a_publish_failure_reaches_the_caller_and_is_counted() -> None:
    channel = Channel[int]("events")
    await channel.close()
    publisher = Publisher(channel)
    with pytest.raises(ChannelClosedError):
        await publisher.publish(1)
    assert publisher.statistics().failed == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"channel": "events"}, TypeError, "channel must be a Channel, not str: 'events'"),
        ({"default_topic": "a.*"}, ValueError, r"invalid default_topic 'a\.\*'"),
        ({"batch_size": 0}, ValueError, "invalid batch_size 0: must be >= 1"),
        ({"batch_size": 2.0}, TypeError, "batch_size must be an int, not float: 2.0"),
        (
            {"flush_interval": 0},
            ValueError,
            "invalid flush_interval 0: must be a finite number > 0",
        ),
        (
            {"flush_interval": float("nan")},
            ValueError,
            "invalid flush_interval nan: must be a finite number > 0",
        ),
        (
            {"flush_interval": "1"},
            TypeError,
            "flush_interval must be a number of seconds, not str: '1'",
        ),
    ],
)
def test_bad_publisher_arguments(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    arguments: dict[str, Any] = {"channel": Channel[int]("events"), **kwargs}
    channel = arguments.pop("channel")
    with pytest.raises(error, match=message):
        Publisher(channel, **arguments)


# -- leaving ``async with publisher:`` -----------------------------------------------------


class Stop(BaseException):
    """A BaseException of the test's own (a real KeyboardInterrupt would stop pytest)."""


@pytest.mark.parametrize("error", [KeyError("mine"), Stop("mine")], ids=["Exception", "Base"])
async def test_the_block_s_own_exception_comes_out_unwrapped(
    channel: Channel[int], error: BaseException
) -> None:
    subscriber = await channel.subscribe()
    publisher = Publisher(channel, default_topic="n", flush_interval=60)

    async def fail_inside() -> None:
        async with publisher:
            publisher.publish_soon(1)
            raise error

    with pytest.raises(type(error)) as caught:
        await fail_inside()
    assert caught.value is error  # itself, not inside an ExceptionGroup
    # The flusher was cancelled: what it did not publish stays queued, for a later flush.
    assert publisher.statistics() == PublisherStatistics(published=0, failed=0, pending=1)
    assert await publisher.flush() == 1
    with anyio.fail_after(5):
        assert (await subscriber.receive()).data == 1


async def test_cancelling_the_block_cancels_the_flusher(channel: Channel[int]) -> None:
    publisher = Publisher(channel, default_topic="n", flush_interval=60)
    with anyio.fail_after(5), anyio.CancelScope() as scope:
        async with publisher:
            publisher.publish_soon(1)
            scope.cancel()
            await anyio.sleep_forever()
    assert scope.cancelled_caught
    assert publisher.statistics().pending == 1
    async with publisher:  # and the publisher can be entered again
        pass
    assert publisher.statistics() == PublisherStatistics(published=1, failed=0, pending=0)
