"""Scenario ``emit-typed``: an event emitted as an instance of its class, against by name.

Both contenders are mtbus, with one plain handler and the same payload, a dataclass
instance: ``await emitter.emit(OrderPlaced(...))`` dispatches on the class (handlers on it
and its bases, chosen when the plan was built), the baseline on the class's event name.
What a typed emit adds is the type test that tells the two apart, and its own plan lookup.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._harness import Contender

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from ._harness import Workload
    from ._profile import Profile
    from ._tally import Tally


@dataclass
class BenchTicked:
    """The event class; its event name is ``bench.ticked``."""

    order: int


PAYLOAD = BenchTicked(42)


@asynccontextmanager
async def by_name(tally: Tally) -> AsyncIterator[Workload]:
    """``await emitter.emit("bench.ticked", instance)`` to a handler registered by name."""
    from mtbus import EventEmitter, event_name

    emitter = EventEmitter()
    name = event_name(BenchTicked)
    emitter.on(name, tally.sync_handler())
    emit = emitter.emit

    async def workload(ops: int) -> None:
        for _ in range(ops):
            await emit(name, PAYLOAD)

    yield workload


@asynccontextmanager
async def by_class(tally: Tally) -> AsyncIterator[Workload]:
    """``await emitter.emit(instance)`` to a handler registered on the class."""
    from mtbus import EventEmitter

    emitter = EventEmitter()
    emitter.on(BenchTicked, tally.sync_handler())
    emit = emitter.emit

    async def workload(ops: int) -> None:
        for _ in range(ops):
            await emit(PAYLOAD)

    yield workload


def contenders(profile: Profile) -> list[Contender]:
    """The named emit (the baseline) and the typed one, one plain handler each."""
    ops = profile.emit_ops
    return [
        Contender(
            "emit-typed", "1 handler", "baseline: mtbus emit by name", by_name, ops, baseline=True
        ),
        Contender("emit-typed", "1 handler", "mtbus", by_class, ops),
    ]
