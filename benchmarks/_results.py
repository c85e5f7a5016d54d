"""What a benchmark run measured, and the statistics the report draws from it.

Absolute nanoseconds on a shared machine are noise; what holds is how two contenders
compare *in the same round*. So every comparison here is the median of per-round ratios,
never a ratio of medians.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Measurement:
    """One contender's timings on one backend: nanoseconds per operation, one per round."""

    backend: str
    scenario: str
    case: str
    library: str
    ops: int
    baseline: bool
    ns_per_op: list[float]

    @property
    def median_ns(self) -> float:
        """The median over rounds of nanoseconds per operation."""
        return statistics.median(self.ns_per_op)

    def ratio_to(self, other: Measurement) -> float:
        """The median over rounds of this contender's time divided by *other*'s."""
        return statistics.median(
            mine / theirs for mine, theirs in zip(self.ns_per_op, other.ns_per_op, strict=True)
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)


@dataclass(frozen=True)
class MemoryResult:
    """Bytes one item (a handler, a subscription, a queued message) costs in one library."""

    item: str
    library: str
    bytes_per_item: float
    items: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)


@dataclass(frozen=True)
class Results:
    """Everything one run measured, with lookups the report and the targets share."""

    measurements: list[Measurement]
    memory: list[MemoryResult]

    def find(self, backend: str, scenario: str, case: str, library: str) -> Measurement | None:
        """The measurement of *library* in that case, if it ran."""
        return next(
            (
                measurement
                for measurement in self.measurements
                if (
                    measurement.backend,
                    measurement.scenario,
                    measurement.case,
                    measurement.library,
                )
                == (backend, scenario, case, library)
            ),
            None,
        )

    def baseline_of(self, measurement: Measurement) -> Measurement | None:
        """The baseline the ratios of *measurement*'s case are taken against."""
        return next(
            (
                other
                for other in self.measurements
                if other.baseline
                and (other.backend, other.scenario, other.case)
                == (measurement.backend, measurement.scenario, measurement.case)
            ),
            None,
        )

    def backends(self) -> list[str]:
        """The backends measured, in the order they ran."""
        return list(dict.fromkeys(measurement.backend for measurement in self.measurements))
