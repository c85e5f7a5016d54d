"""Modules that know nothing of each other, wired through one emitter.

The orders module emits ``order.placed``; billing, e-mail and inventory react. I/O-bound
handlers run concurrently (``concurrent=True``), a failing handler is isolated and reported,
and a background task waits for ``inventory.low`` with ``wait_for``.

Run with ``python examples/decoupled_modules.py`` (add ``trio`` to run it on trio).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import anyio

from mtbus import Event, EventEmitter, EventPriority

bus = EventEmitter(concurrent=True)
stock = {"widget": 3}


# --- billing module -------------------------------------------------------------------
@bus.on("order.placed", priority=EventPriority.HIGH)
async def charge(event: Event[dict[str, Any]]) -> None:
    await anyio.sleep(0.01)  # a call to the payment provider
    event.metadata["charged"] = True
    print(f"billing: charged order {event.data['id']}")


# --- e-mail module ----------------------------------------------------------------------
@bus.on("order.placed")
async def send_receipt(event: Event[dict[str, Any]]) -> None:
    await anyio.sleep(0.01)  # an SMTP round trip
    print(f"email: receipt sent for order {event.data['id']}")


@bus.on("order.placed")
async def send_newsletter_signup(event: Event[dict[str, Any]]) -> None:
    raise ConnectionError("newsletter service unreachable")


# --- inventory module -------------------------------------------------------------------
@bus.on("order.placed")
async def reserve_stock(event: Event[dict[str, Any]]) -> None:
    item = event.data["item"]
    stock[item] -= 1
    print(f"inventory: {stock[item]} {item}(s) left")
    if stock[item] < 2:
        await bus.emit("inventory.low", {"item": item, "left": stock[item]})


# --- operations: observe failures -----------------------------------------------------
def report(event: Event[Any], error: Exception, handler: Any) -> None:
    print(f"ops: {handler.__name__} failed on {event.name}: {error}")


bus.add_hook("on_error", report)
# The hook above reports failures; skip the default traceback log to keep the output short.
logging.getLogger("mtbus").setLevel(logging.CRITICAL)


async def restock_when_low() -> None:
    event = await bus.wait_for("inventory.low", timeout=5)
    print(f"purchasing: restock {event.data['item']} (only {event.data['left']} left)")


async def main() -> None:
    async with anyio.create_task_group() as group:
        group.start_soon(restock_when_low)
        await anyio.wait_all_tasks_blocked()
        for order_id in (1, 2):
            event = await bus.emit("order.placed", {"id": order_id, "item": "widget"})
            print(f"orders: order {order_id} done, charged={event.metadata['charged']}")


if __name__ == "__main__":
    anyio.run(main, backend=sys.argv[1] if len(sys.argv) > 1 else "asyncio")
