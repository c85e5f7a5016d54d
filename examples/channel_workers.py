"""A channel feeding workers that each run at their own pace.

The shop publishes order events on one channel. A billing worker takes every ``order.*``
message and may never lose one (the default ``block`` policy: when its small queue is full,
the shop waits). A dashboard only wants the latest state and keeps a tiny ``drop_oldest``
queue. An audit log receives everything, broadcasts included. At the end the channel closes,
every worker drains its queue, and the counters show what each one saw and dropped.

Run with ``python examples/channel_workers.py`` (add ``trio`` to run it on trio).
"""

from __future__ import annotations

import sys
from typing import Any

import anyio

from mtbus import Channel, Subscriber

ORDERS = 50


async def billing(orders: Subscriber[dict[str, Any]], charged: list[int]) -> None:
    async for message in orders:
        await anyio.sleep(0.0001)  # a call to the payment provider
        if message.topic == "order.placed":
            charged.append(message.data["id"])


async def dashboard(updates: Subscriber[dict[str, Any]]) -> None:
    await anyio.sleep(0.05)  # busy rendering: it misses updates, and that is fine
    latest = [message.data["id"] async for message in updates if message.topic]  # no broadcasts
    print(f"dashboard: caught up with the last {len(latest)} updates, ending at {latest[-1]}")


async def audit(log: Subscriber[dict[str, Any]], lines: list[str]) -> None:
    lines.extend([f"{message.topic or '*'}: {message.data}" async for message in log])


async def main() -> None:
    channel = Channel[dict[str, Any]]("shop")
    orders = await channel.subscribe("order.*", buffer_size=4)  # lossless: the shop waits
    updates = await channel.subscribe("order.#", buffer_size=3, overflow="drop_oldest")
    log = await channel.subscribe()
    charged: list[int] = []
    lines: list[str] = []

    async with anyio.create_task_group() as workers:
        workers.start_soon(billing, orders, charged)
        workers.start_soon(dashboard, updates)
        workers.start_soon(audit, log, lines)
        for order_id in range(ORDERS):
            await channel.publish({"id": order_id}, topic="order.placed")
        await channel.broadcast({"notice": "shop closing"})
        await channel.close()  # every worker still drains its queue, then stops

    print(f"billing: charged {len(charged)} orders, in order: {charged == list(range(ORDERS))}")
    print(f"audit: {len(lines)} lines, last one {lines[-1]!r}")
    for name, subscriber in (("billing", orders), ("dashboard", updates), ("audit", log)):
        stats = subscriber.statistics()
        print(f"{name}: delivered {stats.delivered}, dropped {stats.dropped}")


if __name__ == "__main__":
    anyio.run(main, backend=sys.argv[1] if len(sys.argv) > 1 else "asyncio")
