"""Quickstart: handlers, priorities, a wildcard monitor, and stopping propagation.

Run with ``python examples/quickstart.py``.
"""

from __future__ import annotations

from typing import Any

import anyio

from mtbus import Event, EventEmitter, EventPriority

emitter = EventEmitter()


@emitter.on("user.login", priority=EventPriority.HIGH)
async def check_banned(event: Event[dict[str, Any]]) -> None:
    if event.data["name"] in {"mallory"}:
        print(f"  {event.data['name']} is banned: stopping the other handlers")
        event.propagate = False


@emitter.on("user.login")
async def greet(event: Event[dict[str, Any]]) -> None:
    print(f"  welcome back, {event.data['name']}")


@emitter.on("user.*", priority=EventPriority.MONITOR)
def audit(event: Event[Any]) -> None:
    # Monitors run last, and even when a handler stopped propagation.
    print(f"  audit: {event.name} propagate={event.propagate}")


async def main() -> None:
    for name in ["alice", "mallory"]:
        print(f"emit user.login for {name}:")
        event = await emitter.emit("user.login", {"name": name})
        print(f"  -> handled, propagate={event.propagate}")
    print("emit user.logout:")
    await emitter.emit("user.logout", {"name": "alice"})


if __name__ == "__main__":
    anyio.run(main)
