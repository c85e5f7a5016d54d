"""The performance targets (of issues 6 and 11), as ratios measured in one run, and ``--check``.

Each target is a ratio that must not exceed its limit on any backend where it was measured:
mtbus against the baseline of its case, mtbus at the largest S against mtbus at the
smallest S, or mtbus against the ``asyncio.Queue`` fan-out baseline (asyncio and uvloop only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._results import Results

    #: The ratio a target limits, on one backend; None if it was not measured there.
    RatioOf = Callable[[Results, str], float | None]


def mtbus_over(scenario: str, case: str, reference: str | None = None) -> RatioOf:
    """mtbus's time in that case over *reference*'s (default: the case's baseline)."""

    def ratio(results: Results, backend: str) -> float | None:
        mtbus = results.find(backend, scenario, case, "mtbus")
        if mtbus is None:
            return None
        other = (
            results.baseline_of(mtbus)
            if reference is None
            else results.find(backend, scenario, case, reference)
        )
        return None if other is None else mtbus.ratio_to(other)

    return ratio


def mtbus_growth(scenario: str) -> RatioOf:
    """mtbus's time at the largest S over its time at the smallest S."""

    def ratio(results: Results, backend: str) -> float | None:
        runs = [
            measurement
            for measurement in results.measurements
            if (measurement.backend, measurement.scenario, measurement.library)
            == (backend, scenario, "mtbus")
        ]
        return runs[-1].ratio_to(runs[0]) if len(runs) > 1 else None

    return ratio


@dataclass(frozen=True)
class Target:
    """A ratio and the most it may be."""

    description: str
    limit: float
    ratio: RatioOf


@dataclass(frozen=True)
class Verdict:
    """A target's ratio as measured on one backend."""

    target: Target
    backend: str
    ratio: float

    @property
    def met(self) -> bool:
        """Whether the ratio is within the limit."""
        return self.ratio <= self.target.limit


TARGETS = (
    Target(
        "emit to 1 async handler vs await handler(event)",
        2.5,
        mtbus_over("emit-async", "1 handler"),
    ),
    Target(
        "emit to 10 async handlers vs await handler(event)",
        1.5,
        mtbus_over("emit-async", "10 handlers"),
    ),
    Target("emit to 1 sync handler vs handler(event)", 3.0, mtbus_over("emit-sync", "1 handler")),
    Target(
        "typed emit vs emit by name, 1 sync handler", 1.1, mtbus_over("emit-typed", "1 handler")
    ),
    Target("emitter routing, largest S vs smallest S", 1.3, mtbus_growth("routing-emitter")),
    Target("channel routing, largest S vs smallest S", 1.3, mtbus_growth("routing-channel")),
    Target(
        "fan-out to 1 subscriber vs asyncio.Queue (time)",
        1.0,
        mtbus_over("fanout", "1 subscriber", "baseline: asyncio.Queue"),
    ),
    Target(
        "fan-out to 10 subscribers vs asyncio.Queue (time)",
        1.0,
        mtbus_over("fanout", "10 subscribers", "baseline: asyncio.Queue"),
    ),
)


def verdicts(results: Results) -> list[Verdict]:
    """Every target on every backend where its ratio was measured."""
    found = []
    for target in TARGETS:
        for backend in results.backends():
            ratio = target.ratio(results, backend)
            if ratio is not None:
                found.append(Verdict(target, backend, ratio))
    return found
