"""Batches, batched handlers, suppression and background emits.

An importer processes a file of rows. Inside a batch, the per-row events wait until the
whole file was read: a bad file discards them all, a good one is dispatched in order, and
a batched handler writes every row in one go. A maintenance window suppresses the
notifications and replays them afterwards. Finally, ``async with`` gives the emitter a task
group for a heartbeat and fire-and-forget emits.

Run with ``python examples/batching.py`` (add ``trio`` to run it on trio).
"""

from __future__ import annotations

import sys
from typing import Any

import anyio

from mtbus import Event, EventEmitter

bus = EventEmitter()


@bus.on("row.imported")
def log_row(event: Event[dict[str, Any]]) -> None:
    print(f"  row {event.data['n']} imported")


@bus.on("row.imported", batched=True)
async def write_rows(event: Event[list[Event[dict[str, Any]]]]) -> None:
    print(f"  database: one insert of {len(event.data)} rows")


@bus.on("notify.#")
def notify(event: Event[str]) -> None:
    print(f"  notify: {event.data}")


def show_heartbeat(event: Event[int]) -> None:
    print(f"  heartbeat {event.data}")


async def import_file(rows: list[str]) -> None:
    async with bus.batch_operations():
        for n, row in enumerate(rows, 1):
            if not row:
                raise ValueError(f"row {n} is empty")
            await bus.emit("row.imported", {"n": n, "text": row})


async def main() -> None:
    print("importing a good file:")
    await import_file(["a", "b", "c"])

    print("importing a bad file:")
    batch = bus.batch()
    try:
        async with batch:
            await bus.emit("row.imported", {"n": 1, "text": "x"})
            raise ValueError("row 2 is empty")
    except ValueError as error:
        print(f"  failed ({error}); discarded {len(batch.discarded)} event, none handled")

    print("maintenance window:")
    async with bus.suppress_events("notify.#") as held:
        await bus.emit("notify.user", "your export is ready")
        print(f"  holding {len(held)} notification")
    await bus.replay_events(held)

    print("background work:")
    async with bus:
        bus.on("heartbeat", show_heartbeat)
        beats = iter(range(1, 4))
        await bus.emit_periodic(0.001, "heartbeat", lambda: next(beats), max_count=3).wait()
        bus.emit_soon("notify.ops", "import finished")
        bus.emit_after(60, "notify.ops", "never sent: the block ends first")
    print("done")


if __name__ == "__main__":
    anyio.run(main, backend=sys.argv[1] if len(sys.argv) > 1 else "asyncio")
