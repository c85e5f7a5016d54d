"""Counting no-op handlers, so that every timed run also proves it delivered exactly right.

Each expected handler counts its calls; a handler that must never run (one registered under
a pattern that does not match) counts into a stray counter; a draining consumer records the
last payload it took. After a run of ``ops`` operations, :meth:`Tally.verify` insists on
exactly ``ops`` calls per expected handler, the payload ``ops - 1`` as each consumer's last
message (consumers drain exactly ``ops`` messages, so a lost, duplicated or reordered message
shows), and zero strays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    AsyncHandler = Callable[[object], Awaitable[None]]
    SyncHandler = Callable[[object], None]


class CorrectnessError(Exception):
    """A benchmarked library delivered the wrong number of calls or messages."""


class Tally:
    """The counters of one trial's handlers and consumers."""

    def __init__(self) -> None:
        self._counts: list[int] = []
        self._strays = [0]
        self._stray_probes: list[Callable[[], int]] = []
        self._lasts: list[object] = []

    def async_handler(self) -> AsyncHandler:
        """A new ``async def`` handler that counts its calls and must run on every op."""
        counts, slot = self._counts, len(self._counts)
        counts.append(0)

        async def handler(_: object) -> None:
            counts[slot] += 1

        return handler

    def sync_handler(self) -> SyncHandler:
        """A new plain handler that counts its calls and must run on every op."""
        counts, slot = self._counts, len(self._counts)
        counts.append(0)

        def handler(_: object) -> None:
            counts[slot] += 1

        return handler

    def stray_handler(self) -> SyncHandler:
        """A plain handler that must never run: it is registered where nothing should match."""
        strays = self._strays

        def handler(_: object) -> None:
            strays[0] += 1

        return handler

    def watch_strays(self, probe: Callable[[], int]) -> None:
        """Count ``probe()`` as strays at verification, e.g. messages queued where none belong."""
        self._stray_probes.append(probe)

    def consumer(self) -> Callable[[object], None]:
        """A recorder for one draining consumer: call it with the last payload it took."""
        lasts, slot = self._lasts, len(self._lasts)
        lasts.append(None)

        def record(last: object) -> None:
            lasts[slot] = last

        return record

    def calls(self) -> int:
        """How many times the expected handlers ran since the last :meth:`reset`."""
        return sum(self._counts)

    def reset(self) -> None:
        """Start counting a new run from zero."""
        self._counts[:] = [0] * len(self._counts)
        self._lasts[:] = [None] * len(self._lasts)
        self._strays[0] = 0

    def verify(self, ops: int) -> None:
        """Check that a run of *ops* operations delivered exactly what it should have.

        :raises CorrectnessError: naming what was wrong
        """
        wrong_counts = [count for count in self._counts if count != ops]
        if wrong_counts:
            raise CorrectnessError(f"expected {ops} calls per handler, got {self._counts}")
        wrong_lasts = [last for last in self._lasts if last != ops - 1]
        if wrong_lasts:
            raise CorrectnessError(
                f"expected every consumer to end on {ops - 1}, got {self._lasts}"
            )
        strays = self._strays[0] + sum(probe() for probe in self._stray_probes)
        if strays:
            raise CorrectnessError(f"{strays} deliveries reached handlers that must not run")
        if not self._counts and not self._lasts:
            raise CorrectnessError("nothing was counted: the benchmark registered no handler")
