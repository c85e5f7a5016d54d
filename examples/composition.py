"""Composing emitters: a filtered view, a mapped audit trail, a buffer, and a pipe.

An order service emits every order on one emitter. A fraud desk only wants the large
ones (``filter``); compliance wants an audit record of each (``map``); the warehouse
ships in pairs (``buffer``); and analytics, another team's emitter, gets a copy of every
event (``pipe``).

Run with ``python examples/composition.py`` (add ``trio`` to run it on trio).
"""

from __future__ import annotations

import sys
from typing import Any

import anyio

from mtbus import Event, EventEmitError, EventEmitter

orders = EventEmitter()

# Derived emitters are held weakly by their parent: keep references to them.
fraud_desk = orders.filter(lambda event: event.data["total"] >= 500, "order.placed")
audit_trail = orders.map(
    lambda event: Event(
        f"audit.{event.name}", event.data["id"], metadata={"total": event.data["total"]}
    )
)
warehouse = orders.buffer(2, "order.placed")
analytics = EventEmitter()
orders.pipe(analytics)


@fraud_desk.on("order.placed")
async def review(event: Event[dict[str, Any]]) -> None:
    print(f"fraud desk: reviewing order {event.data['id']} ({event.data['total']} EUR)")


@audit_trail.on("audit.#")
def audit(event: Event[int]) -> None:
    print(f"audit: {event.name} #{event.data} total={event.metadata['total']}")


@warehouse.on("order.placed")
async def ship(event: Event[list[Event[dict[str, Any]]]]) -> None:
    ids = [order.data["id"] for order in event.data]
    print(f"warehouse: shipping orders {ids}")


totals: list[int] = []


@analytics.on("order.*")
def count(event: Event[dict[str, Any]]) -> None:
    totals.append(event.data["total"])


async def main() -> None:
    for order_id, total in [(1, 40), (2, 900), (3, 75)]:
        await orders.emit("order.placed", {"id": order_id, "total": total})
    print(f"warehouse: flushed {await warehouse.flush()} order that had no pair")
    print(f"analytics: {len(totals)} orders, {sum(totals)} EUR in total")

    fraud_desk.close()
    print(f"after closing the fraud desk, orders has {orders.listener_count()} listeners")
    try:
        analytics.pipe(orders)
    except EventEmitError as error:
        print(f"refused: {str(error).split(':')[0]}")


if __name__ == "__main__":
    anyio.run(main, backend=sys.argv[1] if len(sys.argv) > 1 else "asyncio")
