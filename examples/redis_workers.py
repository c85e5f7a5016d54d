"""Orders over Redis: a shop publishes, two workers share the work, an auditor resumes later.

Each `Channel` below stands for a separate process (they would normally be separate programs
on separate hosts); they only meet through the Redis stream of the "orders" channel.

Run it against a Redis server (default redis://localhost:6379/0, or $MTBUS_REDIS_URL):

    python examples/redis_workers.py [asyncio|trio]
"""

from __future__ import annotations

import os
import sys
import uuid

import anyio

from mtbus import Channel, Subscriber
from mtbus.backends import RedisBackend

REDIS = os.environ.get("MTBUS_REDIS_URL", "redis://localhost:6379/0")
ORDERS = 20


async def shop(backend: RedisBackend, channel: str) -> None:
    """Publish the orders, each under its region's topic."""
    async with Channel[dict[str, int]](channel, backend=backend) as orders:
        for number in range(ORDERS):
            region = "eu" if number % 2 else "us"
            await orders.publish({"order": number, "total": 10 * number}, f"order.{region}.placed")


async def worker(name: str, member: Subscriber[dict[str, int]], done: dict[str, list[int]]) -> None:
    """Charge orders until all of them are charged by somebody."""
    while sum(len(charged) for charged in done.values()) < ORDERS:
        with anyio.move_on_after(0.5):
            message = await member.receive()  # also acknowledges the order charged before
            done[name].append(message.data["order"])
    await member.acknowledge()  # the last order charged, too: nobody charges it again


async def main() -> None:
    backend = RedisBackend(REDIS, maxlen=1_000)
    channel = f"orders-{uuid.uuid4().hex[:8]}"  # a fresh stream for every run
    done: dict[str, list[int]] = {"worker-1": [], "worker-2": []}
    async with (
        Channel[dict[str, int]](channel, backend=backend) as first,
        Channel[dict[str, int]](channel, backend=backend) as second,
        Channel[dict[str, int]](channel, backend=backend) as auditor,
    ):
        # The workers compete in the "billing" group; the auditor sees every European order.
        one = await first.subscribe("order.#", group="billing", consumer="1", buffer_size=2)
        two = await second.subscribe("order.#", group="billing", consumer="2", buffer_size=2)
        europe = await auditor.subscribe("order.eu.*")
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(worker, "worker-1", one, done)
            tasks.start_soon(worker, "worker-2", two, done)
            await shop(backend, channel)
        charged = sorted(done["worker-1"] + done["worker-2"])
        print(
            f"billing: {len(charged)} orders charged, each once: {charged == list(range(ORDERS))}"
        )
        first_three = [(await europe.receive()).data["order"] for _ in range(3)]
        cursor = europe.cursor
        print(f"audit: saw European orders {first_three}, then stopped")

    # Later, a restarted auditor resumes right after the last order it saw.
    async with Channel[dict[str, int]](channel, backend=backend) as auditor:
        resumed = await auditor.subscribe("order.eu.*", since=cursor)
        rest = [(await resumed.receive()).data["order"] for _ in range(ORDERS // 2 - 3)]
        print(
            f"audit: resumed with {rest[:3]}..., {len(rest)} more, none missed: "
            f"{first_three + rest == list(range(1, ORDERS, 2))}"
        )


if __name__ == "__main__":
    anyio.run(main, backend=sys.argv[1] if len(sys.argv) > 1 else "asyncio")
