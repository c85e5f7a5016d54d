"""Timing: contenders run in rotating rounds, each trial in a fresh event loop, GC held still.

One *trial* runs one contender once: a new event loop of the backend, the contender's setup
(untimed), a warm-up of a tenth of the operations (untimed, checked), then the timed
operations and their check. Every trial is timed the same way, by :class:`Stopwatch`.

A scenario's contenders run in rounds, each round starting one contender later than the
previous one (A B C, B C A, C A B, ...), after one discarded warm-up round. Every contender
therefore runs in every position equally often, and slow drifts of the machine (CPU
frequency, a noisy neighbour) hit all of them alike.
"""

from __future__ import annotations

import gc
import importlib.util
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from ._backends import ANY_BACKEND, run_on
from ._results import Measurement
from ._tally import CorrectnessError, Tally

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from contextlib import AbstractAsyncContextManager
    from types import TracebackType

    #: Performs the given number of operations.
    Workload = Callable[[int], Awaitable[None]]
    #: Builds what a contender needs (emitter, subscribers, tasks) around a :class:`Tally`.
    Setup = Callable[[Tally], AbstractAsyncContextManager[Workload]]

T = TypeVar("T")


@dataclass(frozen=True)
class Contender:
    """One library (or baseline) doing one case of a scenario.

    :param scenario: e.g. ``"emit-async"``
    :param case: the variant within the scenario, e.g. ``"10 handlers"``
    :param library: ``"mtbus"``, a peer's name, or a baseline's description
    :param setup: builds the workload; it registers its handlers through the tally
    :param ops: operations per timed run (ns/op divides by this)
    :param backends: where it can run
    :param requires: a module it imports (a peer); without it the contender is skipped
    :param baseline: whether the case's ratios are taken against it (the first baseline
        available on the backend is used)
    """

    scenario: str
    case: str
    library: str
    setup: Setup
    ops: int
    backends: frozenset[str] = ANY_BACKEND
    requires: str | None = None
    baseline: bool = False

    def runs_on(self, backend: str) -> bool:
        """Whether this contender can run on *backend* here (its peer is installed)."""
        return backend in self.backends and (
            self.requires is None or importlib.util.find_spec(self.requires) is not None
        )


class Stopwatch:
    """Times a block with ``perf_counter_ns``, after a full collection and with GC disabled.

    Every timed block of every contender goes through here, so garbage collection can
    neither land inside one library's timing nor be skipped for another's.
    """

    elapsed_ns = 0

    def __enter__(self) -> Stopwatch:
        gc.collect()
        gc.disable()
        self._start = time.perf_counter_ns()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.elapsed_ns = time.perf_counter_ns() - self._start
        gc.enable()


def rotation(items: Sequence[T], round_number: int) -> list[T]:
    """The order of one round: *items* rotated left by *round_number* places."""
    shift = round_number % len(items) if items else 0
    return [*items[shift:], *items[:shift]]


def time_trial(contender: Contender, backend: str) -> float:
    """Run one trial of *contender* on *backend* and return its nanoseconds per operation.

    :raises CorrectnessError: if the warm-up or the timed run delivered wrongly
    """
    ops = contender.ops
    warmup = max(1, ops // 10)

    async def trial() -> int:
        tally = Tally()
        async with contender.setup(tally) as workload:
            await workload(warmup)
            tally.verify(warmup)
            tally.reset()
            with Stopwatch() as stopwatch:
                await workload(ops)
            tally.verify(ops)
        return stopwatch.elapsed_ns

    try:
        return run_on(backend, trial) / ops
    except CorrectnessError as error:
        raise CorrectnessError(
            f"{contender.library} in {contender.scenario} ({contender.case}) on {backend}: {error}"
        ) from error


def measure(contenders: Sequence[Contender], backend: str, rounds: int) -> list[Measurement]:
    """Time *contenders* on *backend* in *rounds* rotating rounds after one warm-up round.

    :return: one measurement per contender that runs there, in the given order
    """
    runnable = [contender for contender in contenders if contender.runs_on(backend)]
    for contender in runnable:
        time_trial(contender, backend)
    samples = [[0.0] * rounds for _ in runnable]
    for round_number in range(rounds):
        for index in rotation(range(len(runnable)), round_number):
            samples[index][round_number] = time_trial(runnable[index], backend)
    baselines: dict[str, Contender] = {}
    for contender in runnable:
        if contender.baseline:
            baselines.setdefault(contender.case, contender)
    return [
        Measurement(
            backend=backend,
            scenario=contender.scenario,
            case=contender.case,
            library=contender.library,
            ops=contender.ops,
            baseline=baselines.get(contender.case) is contender,
            ns_per_op=times,
        )
        for contender, times in zip(runnable, samples, strict=True)
    ]
