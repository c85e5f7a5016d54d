"""The tables of a run, as aligned text for the terminal and as Markdown for the docs.

Ratios are times (ns/op) over the reference's, each the median of per-round ratios: below
1.00x is faster than the reference. ``vs baseline`` compares with the case's baseline;
``peer / mtbus`` compares a peer with mtbus, so above 1.00x means the peer is slower.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._results import Measurement, Results
    from ._targets import Verdict


@dataclass(frozen=True)
class Table:
    """A header row and the rows under it, all text."""

    headers: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]

    def text(self) -> str:
        """Columns padded to align, for a terminal."""
        widths = [max(map(len, column)) for column in zip(self.headers, *self.rows, strict=True)]
        lines = [self.headers, tuple("-" * width for width in widths), *self.rows]
        return "\n".join(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            for line in lines
        )

    def markdown(self) -> str:
        """A Markdown table."""
        lines = [self.headers, tuple("---" for _ in self.headers), *self.rows]
        return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def ratio_text(ratio: float) -> str:
    return f"{ratio:.2f}x"


def is_peer(measurement: Measurement) -> bool:
    """Whether *measurement* is of a peer library (neither mtbus nor a baseline)."""
    return measurement.library != "mtbus" and not measurement.library.startswith("baseline")


def timings(results: Results) -> Table:
    """One row per contender per backend: median ns/op and ratios."""
    rows = []
    for measurement in results.measurements:
        baseline = results.baseline_of(measurement)
        mtbus = results.find(measurement.backend, measurement.scenario, measurement.case, "mtbus")
        versus_baseline = (
            "baseline"
            if measurement is baseline
            else ""
            if baseline is None
            else ratio_text(measurement.ratio_to(baseline))
        )
        versus_mtbus = (
            ratio_text(measurement.ratio_to(mtbus))
            if mtbus is not None and is_peer(measurement)
            else ""
        )
        rows.append(
            (
                measurement.backend,
                measurement.scenario,
                measurement.case,
                measurement.library,
                f"{measurement.median_ns:,.0f}",
                versus_baseline,
                versus_mtbus,
            )
        )
    headers = ("backend", "scenario", "case", "library", "ns/op", "vs baseline", "peer / mtbus")
    return Table(headers, rows)


def memory(results: Results) -> Table:
    """One row per library per kind of item."""
    rows = [
        (result.item, result.library, f"{result.bytes_per_item:,.0f}") for result in results.memory
    ]
    return Table(("item", "library", "bytes per item"), rows)


def targets(found: Sequence[Verdict]) -> Table:
    """One row per target per backend, with whether it is met."""
    rows = [
        (
            verdict.target.description,
            verdict.backend,
            ratio_text(verdict.ratio),
            f"<= {ratio_text(verdict.target.limit)}",
            "met" if verdict.met else "MISSED",
        )
        for verdict in found
    ]
    return Table(("target", "backend", "measured", "limit", "result"), rows)


def faster_peers(results: Results) -> list[tuple[Measurement, float]]:
    """The peers that beat mtbus in their case, each with its peer / mtbus ratio (< 1)."""
    found = []
    for measurement in results.measurements:
        mtbus = results.find(measurement.backend, measurement.scenario, measurement.case, "mtbus")
        if mtbus is not None and is_peer(measurement):
            ratio = measurement.ratio_to(mtbus)
            if ratio < 1:
                found.append((measurement, ratio))
    return found


def faster_peers_text(results: Results) -> str:
    """A line per peer that beat mtbus, or a sentence saying none did."""
    found = faster_peers(results)
    if not found:
        return "No peer was faster than mtbus in any case it ran."
    return "\n".join(
        f"- {peer.library} beat mtbus in {peer.scenario} ({peer.case}) on {peer.backend}: "
        f"peer / mtbus {ratio_text(ratio)}"
        for peer, ratio in found
    )


def document(
    results: Results,
    found: Sequence[Verdict],
    command: str,
    machine: dict[str, str],
    versions: dict[str, str],
) -> dict[str, Any]:
    """Everything about a run as JSON-ready data: how, where, what was measured, verdicts."""
    return {
        "command": command,
        "machine": machine,
        "versions": versions,
        "measurements": [measurement.to_json() for measurement in results.measurements],
        "memory": [result.to_json() for result in results.memory],
        "targets": [
            {
                "target": verdict.target.description,
                "backend": verdict.backend,
                "ratio": verdict.ratio,
                "limit": verdict.target.limit,
                "met": verdict.met,
            }
            for verdict in found
        ],
    }
