"""Model-based test: any mix of subscribe, unsubscribe and publish delivers like a naive model.

The model keeps each live subscription's patterns and, on each publish, asks the reference
matcher who matches. Every subscriber must receive exactly the messages the model says, once
each, in publish order, however the channel's route cache was built and dropped.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import ref_matches

from mtbus import Channel, Subscriber

pytestmark = pytest.mark.anyio

names = st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=3).map(".".join)
patterns = st.lists(st.sampled_from(["a", "b", "*", "#"]), min_size=1, max_size=3).map(".".join)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("subscribe"), st.none() | st.lists(patterns, min_size=1, max_size=3)),
        st.tuples(st.just("unsubscribe"), st.integers(min_value=0, max_value=50)),
        st.tuples(st.just("publish"), st.none() | names),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(operations=operations)
async def test_channel_delivers_like_the_model(operations: list[tuple[Any, ...]]) -> None:
    channel = Channel[int]("model")
    live: list[tuple[Subscriber[int], list[str] | None]] = []
    expected: dict[Subscriber[int], list[int]] = {}

    for step, (kind, argument) in enumerate(operations):
        if kind == "subscribe":
            subscriber = await channel.subscribe(argument)
            live.append((subscriber, argument))
            expected[subscriber] = []
        elif kind == "unsubscribe" and live:
            subscriber, _ = live.pop(argument % len(live))
            subscriber.unsubscribe()
        elif kind == "publish":
            reached = [
                subscriber
                for subscriber, topics in live
                if argument is None
                or topics is None
                or any(ref_matches(pattern, argument) for pattern in topics)
            ]
            assert await channel.publish(step, topic=argument) == len(reached)
            for subscriber in reached:
                expected[subscriber].append(step)
        assert channel.subscriber_count == len(live)

    for subscriber, messages in expected.items():
        pending = subscriber.statistics().pending
        assert [subscriber.receive_nowait().data for _ in range(pending)] == messages
