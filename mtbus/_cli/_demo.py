"""``mtbus demo``: a small order pipeline that shows what an emitter does, step by step."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import anyio.lowlevel

from .._core._event import Event, EventPriority
from .._emitter._event_emitter import EventEmitter

if TYPE_CHECKING:
    from collections.abc import Callable

STOCK = {"widget": 5, "gadget": 0}


class _SayHandler(logging.Handler):
    """Prints mtbus log records in line with the demo's output, without their tracebacks."""

    def __init__(self, say: Callable[[str], object]) -> None:
        super().__init__()
        self._say = say

    def emit(self, record: logging.LogRecord) -> None:
        self._say(f"  [log]     {record.levelname} {record.name}: {record.getMessage()}")


def _build_pipeline(emitter: EventEmitter, say: Callable[[str], object]) -> None:
    @emitter.on("order.placed", priority=EventPriority.HIGHEST)
    def validate_stock(event: Event[dict[str, Any]]) -> None:
        order = event.data
        if STOCK.get(order["item"], 0) < order["quantity"]:
            say(f"  [HIGHEST] stock check: {order['item']!r} is out of stock, stopping here")
            event.propagate = False
        else:
            say(f"  [HIGHEST] stock check: {order['quantity']} x {order['item']!r} available")

    @emitter.on("order.placed", priority=EventPriority.HIGH)
    async def charge_payment(event: Event[dict[str, Any]]) -> None:
        await anyio.lowlevel.checkpoint()  # where a payment provider would be called
        say(f"  [HIGH]    charged {event.data['total']:.2f} for order {event.data['id']}")

    @emitter.on("order.placed")
    async def send_confirmation(event: Event[dict[str, Any]]) -> None:
        say(f"  [NORMAL]  confirmation e-mail queued for order {event.data['id']}")

    @emitter.on("order.placed", priority=EventPriority.LOW)
    def award_loyalty_points(event: Event[dict[str, Any]]) -> None:
        raise RuntimeError("loyalty service is down")

    @emitter.on("order.*", priority=EventPriority.LOWEST)
    def update_dashboard(event: Event[dict[str, Any]]) -> None:
        say(f"  [LOWEST]  'order.*' dashboard sees {event.name!r}")

    @emitter.on("#", priority=EventPriority.MONITOR)
    def audit(event: Event[Any]) -> None:
        outcome = "completed" if event.propagate else "stopped early"
        say(f"  [MONITOR] audit: {event.name!r} {outcome}")

    def report_failure(event: Event[Any], error: Exception, handler: Any) -> None:
        say(f"  [on_error] {handler.__name__} failed: {error!r}; the others still ran")

    emitter.add_hook("on_error", report_failure)


async def run_demo(say: Callable[[str], object] = print) -> None:
    """Run the order pipeline on a fresh emitter, printing each step through *say*."""
    log = logging.getLogger("mtbus")
    handler = _SayHandler(say)
    log.addHandler(handler)
    try:
        emitter = EventEmitter()
        _build_pipeline(emitter, say)
        orders = [
            {"id": 1, "item": "widget", "quantity": 2, "total": 19.98},
            {"id": 2, "item": "gadget", "quantity": 1, "total": 24.50},
        ]
        for order in orders:
            say(f"emit('order.placed') for order {order['id']} ({order['item']}):")
            event = await emitter.emit("order.placed", order)
            say(f"  -> propagate={event.propagate}\n")
        say("emit('order.shipped') reaches only the wildcard and monitor handlers:")
        await emitter.emit("order.shipped", {"id": 1})
    finally:
        log.removeHandler(handler)
