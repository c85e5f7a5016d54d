"""The channel examples of the mtaio.events reference document, run against mtbus.

Each test keeps the example's code as written (only the import changes), then checks
what it did. The document's examples stop before showing results; the checks are ours.
"""

from __future__ import annotations

import pytest

from mtbus import Channel, Message, Subscriber

pytestmark = pytest.mark.anyio


async def test_event_channels() -> None:
    async def channel_example() -> Message[str]:
        channel = Channel[str]("notifications")

        # Subscribe to channel
        subscriber = await channel.subscribe()

        # Publish message
        await channel.publish("Hello subscribers!")

        # Receive message
        message = await subscriber.receive()
        return message  # noqa: RET504 -- the document's line, kept as written

    message = await channel_example()
    assert message.data == "Hello subscribers!"
    assert message.topic is None
    assert message.metadata == {}


async def test_topic_based_events() -> None:
    async def topic_example() -> Subscriber[str]:
        channel = Channel[str]("events")

        # Subscribe to specific topics
        subscriber = await channel.subscribe(["user.*", "system.*"])

        # Publish to topic
        await channel.publish("User logged in", topic="user.login")
        return subscriber

    subscriber = await topic_example()
    message = subscriber.receive_nowait()
    assert (message.data, message.topic) == ("User logged in", "user.login")
    assert subscriber.statistics().pending == 0
