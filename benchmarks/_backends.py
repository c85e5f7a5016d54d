"""The event loops a benchmark runs on: asyncio, trio, and asyncio on uvloop when it imports."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

T = TypeVar("T")

BACKENDS = ("asyncio", "trio", "uvloop")
ANY_BACKEND = frozenset(BACKENDS)
#: Where asyncio-only libraries can run: uvloop is an asyncio event loop.
ASYNCIO_ONLY = frozenset({"asyncio", "uvloop"})


def available_backends() -> tuple[str, ...]:
    """The backends whose libraries import here, in :data:`BACKENDS` order."""
    modules = {"asyncio": "asyncio", "trio": "trio", "uvloop": "uvloop"}
    return tuple(name for name in BACKENDS if importlib.util.find_spec(modules[name]) is not None)


def run_on(backend: str, func: Callable[[], Awaitable[T]]) -> T:
    """Run *func* to completion in a new event loop of *backend*.

    :raises ValueError: if *backend* is not one of :data:`BACKENDS`
    """
    options: dict[str, Any] = {}
    if backend == "uvloop":
        backend, options = "asyncio", {"use_uvloop": True}
    elif backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: expected one of {BACKENDS}")
    return anyio.run(func, backend=backend, backend_options=options)
