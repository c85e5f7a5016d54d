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

from mtbus import Channel, ChannelFullError, Subscriber

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


lossy_policies = st.sampled_from(["drop_oldest", "drop_newest", "error"])
queue_steps = st.lists(st.sampled_from(["publish", "receive"]), max_size=60)


@settings(max_examples=150, deadline=None)
@given(policy=lossy_policies, size=st.integers(min_value=1, max_value=4), steps=queue_steps)
async def test_lossy_policies_keep_and_count_like_a_bounded_queue(
    policy: Any, size: int, steps: list[str]
) -> None:
    channel = Channel[int]("model", buffer_size=size, overflow=policy)
    subscriber = await channel.subscribe()
    model: list[int] = []
    delivered = dropped = 0
    for step, kind in enumerate(steps):
        if kind == "receive":
            if model:
                assert subscriber.receive_nowait().data == model.pop(0)
            continue
        full = len(model) == size
        if full and policy == "error":
            with pytest.raises(ChannelFullError):
                await channel.publish(step)
        else:
            assert await channel.publish(step) == (0 if full and policy == "drop_newest" else 1)
        if not full:
            model.append(step)
            delivered += 1
        elif policy == "drop_oldest":
            model = [*model[1:], step]
            delivered += 1
            dropped += 1
        else:
            dropped += 1
        stats = subscriber.statistics()
        assert (stats.delivered, stats.dropped, stats.pending) == (delivered, dropped, len(model))
