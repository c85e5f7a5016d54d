"""What type checkers conclude about typed events: tests/test_typing.py runs mypy --strict and
strict pyright over this file, and it must pass both.

Each mistake below carries a ``# type: ignore[code]`` comment for the error it must cause
(pyright reads those comments too); both checkers report an ignore comment that silences
nothing (``warn_unused_ignores``, ``reportUnnecessaryTypeIgnoreComment``), so a mistake that
stops being an error fails the test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, assert_type

from mtbus import Event, EventEmitter, HandlerResults


@dataclass
class OrderPlaced:
    order_id: int


@dataclass
class RushOrderPlaced(OrderPlaced):
    courier: str = "bike"


@dataclass
class OrderShipped:
    order_id: int


emitter = EventEmitter()


@emitter.on(OrderPlaced)
async def charge(event: Event[OrderPlaced]) -> None:
    assert_type(event.data.order_id, int)


@emitter.once(RushOrderPlaced, priority=10)
def dispatch_courier(event: Event[RushOrderPlaced]) -> str:
    return event.data.courier


@emitter.on(OrderPlaced)
def audit(event: Event[Any]) -> None:
    """A handler of any event fits every class."""


def ship(event: Event[OrderShipped]) -> None:
    print(event.data.order_id)


# The decorated function keeps its type.
assert_type(dispatch_courier, Callable[[Event[RushOrderPlaced]], str])

# A handler of another class's events is refused.
emitter.on(OrderPlaced, ship)  # type: ignore[arg-type]

# A handler of a subclass's events cannot take the base class's.
emitter.on(OrderPlaced, dispatch_courier)  # type: ignore[arg-type]


async def main() -> None:
    placed = await emitter.emit(OrderPlaced(1))
    assert_type(placed, Event[OrderPlaced])
    rushed = await emitter.emit(RushOrderPlaced(2), metadata={"source": "web"})
    assert_type(rushed, Event[RushOrderPlaced])
    named = await emitter.emit("order.placed", {"order_id": 3})
    assert_type(named, Event[Any])
    waited = await emitter.wait_for(OrderShipped, timeout=1)
    assert_type(waited.data, OrderShipped)
    results = await emitter.collect(OrderPlaced(4))
    assert_type(results, HandlerResults[OrderPlaced])
    assert_type(results.event.data, OrderPlaced)
    assert_type(await emitter.collect("order.placed"), HandlerResults[Any])
    assert_type(emitter.collect_sync(RushOrderPlaced(5)).event, Event[RushOrderPlaced])
    assert_type(emitter.emit_sync(OrderPlaced(5)), Event[OrderPlaced])
    # A typed emit takes no data: the instance is the data.
    await emitter.emit(OrderPlaced(6), {"order_id": 6})  # type: ignore[call-overload]
