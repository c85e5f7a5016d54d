"""The timed loops the emitter scenarios share: one event name, one payload, N emits.

Every library's emit is called the same way, from the same two loops, so none pays for a
loop the others do not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._harness import Workload

NAME = "bench.tick"
PAYLOAD = {"order": 42}


def awaiting(emit: Callable[[str, Any], Awaitable[object]]) -> Workload:
    """``await emit(NAME, PAYLOAD)``, ``ops`` times."""

    async def workload(ops: int) -> None:
        for _ in range(ops):
            await emit(NAME, PAYLOAD)

    return workload


def calling(emit: Callable[[str, Any], object]) -> Workload:
    """``emit(NAME, PAYLOAD)``, ``ops`` times (an emit that runs plain handlers inline)."""

    async def workload(ops: int) -> None:
        for _ in range(ops):
            emit(NAME, PAYLOAD)

    return workload
