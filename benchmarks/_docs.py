"""``--docs``: regenerate the results section of docs/performance.md, chart and JSON beside it.

Only the text between the two marker comments is replaced; the prose around it (method,
reasons, profiling notes) is written by hand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _report
from ._report import Table

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from ._results import Results
    from ._targets import Verdict

START = "<!-- results:start (written by python -m benchmarks --docs) -->"
END = "<!-- results:end -->"


def results_section(
    results: Results,
    found: Sequence[Verdict],
    command: str,
    machine: dict[str, str],
    versions: dict[str, str],
) -> str:
    """The Markdown of a run's results: command, machine, versions, tables, faster peers."""
    about = Table(("", ""), list(machine.items()))
    libraries = Table(("library", "version"), list(versions.items()))
    return "\n\n".join(
        (
            "Command:",
            f"```bash\n{command}\n```",
            "### Machine",
            about.markdown(),
            "### Versions",
            libraries.markdown(),
            "### Timings",
            _report.timings(results).markdown(),
            "### Memory",
            _report.memory(results).markdown(),
            "### Targets",
            _report.targets(found).markdown(),
            "### Peers faster than mtbus in this run",
            _report.faster_peers_text(results),
        )
    )


def rewrite(page: Path, section: str, *, start: str = START, end: str = END) -> None:
    """Replace what lies between the markers *start* and *end* of *page* with *section*.

    :raises SystemExit: if *page* lacks either marker
    """
    text = page.read_text()
    before, found_start, rest = text.partition(start)
    _, found_end, after = rest.partition(end)
    if not found_start or not found_end:
        raise SystemExit(f"{page} needs the markers {start!r} and {end!r}")
    page.write_text(f"{before}{start}\n\n{section}\n\n{end}{after}")
