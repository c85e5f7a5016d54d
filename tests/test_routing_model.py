"""Model-based test: any sequence of registrations, removals and emits routes like a naive model.

The model keeps a plain list of registrations and, on each emit, filters it with the
reference matcher and sorts it by (priority, registration order). The emitter must call
exactly those handlers in exactly that order, however its plan cache was built and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import ref_matches

from mtbus import Event, EventEmitter, EventPriority

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.anyio

segments = st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=3)
names = segments.map(".".join)
patterns = st.lists(st.sampled_from(["a", "b", "*", "#"]), min_size=1, max_size=3).map(".".join)
priorities = st.sampled_from(
    [EventPriority.MONITOR, EventPriority.LOW, EventPriority.NORMAL, 7, EventPriority.HIGH]
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("on"), patterns, priorities, st.booleans()),
        st.tuples(st.just("off"), st.integers(min_value=0, max_value=50)),
        st.tuples(st.just("emit"), names),
        st.tuples(st.just("remove_all"), patterns),
    ),
    max_size=40,
)


@dataclass
class Registration:
    key: str
    priority: int
    once: bool
    order: int
    handler: Callable[[Event[Any]], None]


@settings(max_examples=150, deadline=None)
@given(operations=operations)
async def test_emitter_routes_like_the_model(operations: list[tuple[Any, ...]]) -> None:
    emitter = EventEmitter()
    model: list[Registration] = []
    calls: list[int] = []

    def make_handler(number: int) -> Callable[[Event[Any]], None]:
        return lambda event: calls.append(number)

    for step, operation in enumerate(operations):
        kind = operation[0]
        if kind == "on":
            _, key, priority, once = operation
            registration = Registration(key, priority, once, step, make_handler(step))
            model.append(registration)
            register = emitter.once if once else emitter.on
            register(key, registration.handler, priority=priority)
        elif kind == "off" and model:
            registration = model.pop(operation[1] % len(model))
            assert emitter.off(registration.key, registration.handler) is True
        elif kind == "emit":
            name = operation[1]
            matching = [entry for entry in model if ref_matches(entry.key, name)]
            matching.sort(key=lambda entry: (-entry.priority, entry.order))
            calls.clear()
            await emitter.emit(name)
            assert calls == [entry.order for entry in matching]
            model = [entry for entry in model if not (entry.once and entry in matching)]
        elif kind == "remove_all":
            key = operation[1]
            assert emitter.remove_all_listeners(key) == sum(entry.key == key for entry in model)
            model = [entry for entry in model if entry.key != key]
        assert emitter.listener_count() == len(model)
