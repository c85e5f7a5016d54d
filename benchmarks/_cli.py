"""``python -m benchmarks``: parse the options, run the scenarios, report, check targets."""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import sys
import time
from pathlib import Path

from . import _chart, _docs, _machine, _report
from ._backends import BACKENDS, available_backends
from ._harness import measure
from ._memory import measure_memory
from ._profile import FULL, QUICK
from ._results import Results
from ._scenarios import SCENARIOS, timed_contenders
from ._tally import CorrectnessError
from ._targets import verdicts

DOCS = Path(__file__).parent.parent / "docs"


def positive(text: str) -> int:
    """An ``int`` of at least 1, for ``--rounds``."""
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a number of rounds of at least 1, got {text!r}")
    return number


def parser() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time mtbus against baselines and peer libraries, in interleaved rounds.",
    )
    options.add_argument(
        "--quick", action="store_true", help="a few seconds, for CI: checks deliveries, not timings"
    )
    options.add_argument(
        "--check", action="store_true", help="exit with status 1 if a performance target is missed"
    )
    options.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    options.add_argument("--chart", type=Path, metavar="PATH", help="write the chart as PNG")
    options.add_argument(
        "--docs",
        action="store_true",
        help="rewrite the results of docs/performance.md, with its chart and JSON",
    )
    options.add_argument(
        "--backend",
        action="append",
        choices=BACKENDS,
        help="run on this backend (repeatable; default: every one installed)",
    )
    options.add_argument(
        "--scenario",
        action="append",
        choices=list(SCENARIOS),
        help="run this scenario (repeatable; default: all)",
    )
    options.add_argument(
        "--rounds", type=positive, metavar="N", help="timed rounds per scenario (at least 1)"
    )
    return options


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def run(args: argparse.Namespace) -> Results:
    """Measure what *args* ask for, printing progress to stderr.

    :raises CorrectnessError: if a library delivered wrongly
    """
    profile = QUICK if args.quick else FULL
    rounds = args.rounds or profile.rounds
    scenarios = args.scenario or list(SCENARIOS)
    backends = args.backend or list(available_backends())
    missing = [backend for backend in backends if backend not in available_backends()]
    if missing:
        raise SystemExit(f"not installed: {', '.join(missing)}; pip install -e '.[bench]'")
    contenders = timed_contenders(profile)
    absent = sorted({c.requires for c in contenders if c.requires and not installed(c.requires)})
    if absent:
        print(f"peers not installed, left out: {', '.join(absent)}", file=sys.stderr)
    measurements = []
    for backend in backends:
        for scenario in scenarios:
            chosen = [contender for contender in contenders if contender.scenario == scenario]
            if chosen:
                print(
                    f"{backend}: {scenario} ({rounds} rounds)", end="", file=sys.stderr, flush=True
                )
                started = time.monotonic()
                measurements += measure(chosen, backend, rounds)
                print(f", {time.monotonic() - started:.1f} s", file=sys.stderr)
    memory = []
    if "memory" in scenarios:
        print("asyncio: memory", file=sys.stderr, flush=True)
        memory = measure_memory(profile.memory_items, installed)
    return Results(measurements, memory)


def main(argv: list[str] | None = None) -> int:
    """Run the suite; return 0, 1 (``--check`` and a target missed) or 2 (wrong deliveries)."""
    arguments = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(arguments)
    try:
        results = run(args)
    except CorrectnessError as error:
        print(f"correctness check failed: {error}", file=sys.stderr)
        return 2
    found = verdicts(results)
    print(_report.timings(results).text())
    print()
    print(_report.memory(results).text())
    print()
    print(_report.targets(found).text())
    print()
    print(_report.faster_peers_text(results))

    command = shlex.join(["python", "-m", "benchmarks", *arguments])
    machine, versions = _machine.machine(), _machine.versions()
    json_path, chart_path = args.json, args.chart
    if args.docs:
        json_path = json_path or DOCS / "performance.json"
        chart_path = chart_path or DOCS / "performance.png"
        section = _docs.results_section(results, found, command, machine, versions)
        _docs.rewrite(DOCS / "performance.md", section)
    if json_path is not None:
        document = _report.document(results, found, command, machine, versions)
        json_path.write_text(json.dumps(document, indent=2) + "\n")
    if chart_path is not None:
        _chart.draw(results, chart_path)
    if args.check and not all(verdict.met for verdict in found):
        print("performance targets missed (see above)", file=sys.stderr)
        return 1
    return 0
