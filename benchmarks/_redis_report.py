"""The tables of ``--scenario redis``, for the terminal, for docs/performance.md and as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _machine
from ._redis_results import ENGINE
from ._report import Table

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._redis_results import RedisResults, RedisVerdict

#: The markers of the section ``--scenario redis --docs`` rewrites in docs/performance.md.
START = "<!-- redis-results:start (written by python -m benchmarks --scenario redis --docs) -->"
END = "<!-- redis-results:end -->"
#: The distributions a Redis run involves, mtbus first.
DISTRIBUTIONS = (
    "mtbus",
    "anyio",
    "trio",
    "hiredis",
    "broadcaster",
    "redis",
    "faststream",
)


def short(reference: str) -> str:
    """``-P 1`` or ``-P 50`` for a reference case like ``XADD, 1 client, -P 50``."""
    return reference.rpartition(", ")[2]


def table(results: RedisResults) -> Table:
    """One row per case per library per backend: messages, rate, ratio, what was checked."""
    rows = []
    for found in results.throughputs:
        ratio = results.ratio(found)
        if found.reference is None:
            versus = "reference"
        else:
            versus = "" if ratio is None else f"{ratio:.3f} of {short(found.reference)}"
        rows.append(
            (
                found.backend,
                found.case,
                found.library,
                f"{found.messages:,}",
                f"{found.per_second:,.0f}",
                versus,
                found.checked,
            )
        )
    headers = ("backend", "case", "library", "messages", "msgs/s", "vs redis-benchmark", "checked")
    return Table(headers, rows)


def references(results: RedisResults) -> Table:
    """One row per reference per backend: the rate of each of its runs, and their median."""
    rows = [
        (
            found.backend,
            found.case,
            ", ".join(f"{rate:,.0f}" for rate in found.runs),
            f"{found.per_second:,.0f}",
        )
        for found in results.throughputs
        if found.library == ENGINE
    ]
    return Table(("backend", "redis-benchmark", "msgs/s of each run", "median"), rows)


def targets(found: Sequence[RedisVerdict]) -> Table:
    """One row per Redis target per backend, with whether it is met."""
    rows = [
        (
            verdict.target.description,
            verdict.backend,
            f"{verdict.ratio:.3f}",
            f">= {verdict.target.minimum:.2f}",
            "met" if verdict.met else "MISSED",
        )
        for verdict in found
    ]
    return Table(("target", "backend", "measured", "minimum", "result"), rows)


def notes_text(results: RedisResults) -> str:
    """A line per thing left out, or a sentence saying nothing was."""
    if not results.notes:
        return "Every case ran."
    return "\n".join(f"- {note}" for note in results.notes)


def text(results: RedisResults, found: Sequence[RedisVerdict]) -> str:
    """Everything about a run, for the terminal: rates, references, targets, what was left out."""
    return "\n\n".join(
        (
            table(results).text(),
            references(results).text(),
            targets(found).text(),
            notes_text(results),
        )
    )


def versions() -> dict[str, str]:
    """The installed version of every distribution in :data:`DISTRIBUTIONS`."""
    return _machine.versions(DISTRIBUTIONS)


def section(results: RedisResults, found: Sequence[RedisVerdict], command: str) -> str:
    """The Markdown of a run's Redis results: command, machine, versions, tables, notes."""
    about = Table(("", ""), [*_machine.machine().items(), ("server", results.server)])
    libraries = Table(("library", "version"), list(versions().items()))
    return "\n\n".join(
        (
            "Command:",
            f"```bash\n{command}\n```",
            "#### Machine",
            about.markdown(),
            "#### Versions",
            libraries.markdown(),
            "#### Throughput",
            table(results).markdown(),
            "#### Reference runs",
            references(results).markdown(),
            "#### Targets",
            targets(found).markdown(),
            "#### Left out",
            notes_text(results),
        )
    )


def document(results: RedisResults, found: Sequence[RedisVerdict]) -> dict[str, Any]:
    """The Redis run as JSON-ready data."""
    return {
        "server": results.server,
        "versions": versions(),
        "throughputs": [throughput.to_json() for throughput in results.throughputs],
        "notes": results.notes,
        "targets": [
            {
                "target": verdict.target.description,
                "backend": verdict.backend,
                "ratio": verdict.ratio,
                "minimum": verdict.target.minimum,
                "met": verdict.met,
            }
            for verdict in found
        ],
    }
