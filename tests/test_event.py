"""Event and EventPriority."""

from __future__ import annotations

import dataclasses
import time

import pytest

from mtbus import Event, EventPriority


def test_event_defaults() -> None:
    before = time.time()
    event = Event(name="user.login", data={"name": "John"})
    after = time.time()
    assert event.name == "user.login"
    assert event.data == {"name": "John"}
    assert event.propagate is True
    assert event.metadata == {}
    assert before <= event.timestamp <= after


def test_each_event_gets_its_own_metadata_dict() -> None:
    first, second = Event("a", 1), Event("a", 1)
    first.metadata["k"] = "v"
    assert second.metadata == {}


def test_event_is_a_generic_slotted_dataclass() -> None:
    event: Event[int] = Event("n", 3, metadata={"m": 1}, timestamp=12.5)
    assert [field.name for field in dataclasses.fields(Event)] == [
        "name",
        "data",
        "propagate",
        "metadata",
        "timestamp",
    ]
    assert dataclasses.asdict(event) == {
        "name": "n",
        "data": 3,
        "propagate": True,
        "metadata": {"m": 1},
        "timestamp": 12.5,
    }
    assert event == Event("n", 3, True, {"m": 1}, 12.5)
    assert repr(event) == (
        "Event(name='n', data=3, propagate=True, metadata={'m': 1}, timestamp=12.5)"
    )
    with pytest.raises(AttributeError):
        event.unknown = 1  # type: ignore[attr-defined]


def test_priorities_order_like_ints_with_monitor_lowest() -> None:
    ordered = [
        EventPriority.HIGHEST,
        EventPriority.HIGH,
        EventPriority.NORMAL,
        EventPriority.LOW,
        EventPriority.LOWEST,
        EventPriority.MONITOR,
    ]
    assert sorted(EventPriority, reverse=True) == ordered
    assert EventPriority.HIGH > 10 > EventPriority.NORMAL > -10 > EventPriority.LOW
    assert int(EventPriority.NORMAL) == 0
    assert min(EventPriority) is EventPriority.MONITOR
