"""A helper for tests: record what an emitter's handlers see."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mtbus import EventEmitter


def record(emitter: EventEmitter, pattern: str = "#") -> list[tuple[str, Any]]:
    """Register a handler for *pattern*; return the list of (name, data) it appends to."""
    seen: list[tuple[str, Any]] = []
    emitter.on(pattern, lambda event: seen.append((event.name, event.data)))
    return seen
