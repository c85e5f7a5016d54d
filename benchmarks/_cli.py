"""``python -m benchmarks``: parse the options, run the scenarios, report, check targets."""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import sys
import time
from pathlib import Path

from . import _chart, _docs, _machine, _redis, _redis_report, _report
from ._backends import BACKENDS, available_backends
from ._harness import measure
from ._memory import measure_memory
from ._profile import FULL, QUICK
from ._redis import REDIS, find_server, measure_redis
from ._redis_results import RedisResults, redis_verdicts
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
        choices=[*SCENARIOS, REDIS],
        help="run this scenario (repeatable; default: all, redis if a redis-server is found)",
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
    if absent and in_process(args):
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


def in_process(args: argparse.Namespace) -> bool:
    """Whether *args* ask for any scenario besides ``redis``."""
    return args.scenario is None or any(scenario != REDIS for scenario in args.scenario)


def run_redis(args: argparse.Namespace) -> RedisResults | None:
    """Measure ``--scenario redis`` if asked for, or by default if a redis-server is here.

    It runs on asyncio and trio unless ``--backend`` says otherwise.

    :raises CorrectnessError: if mtbus or a peer delivered wrongly
    """
    if args.scenario is None and find_server() is None:
        print(
            "redis: no redis-server found (apt-get install redis-server, or set "
            "MTBUS_REDIS_SERVER), left out",
            file=sys.stderr,
        )
        return None
    if args.scenario is not None and REDIS not in args.scenario:
        return None
    installed_here = available_backends()
    backends = args.backend or [name for name in ("asyncio", "trio") if name in installed_here]
    return measure_redis(_redis.QUICK if args.quick else _redis.FULL, backends)


def main(argv: list[str] | None = None) -> int:
    """Run the suite; return 0, 1 (``--check`` and a target missed) or 2 (wrong deliveries)."""
    arguments = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(arguments)
    try:
        results = run(args)
        redis = run_redis(args)
    except CorrectnessError as error:
        print(f"correctness check failed: {error}", file=sys.stderr)
        return 2
    found = verdicts(results)
    if in_process(args):
        print(_report.timings(results).text())
        print()
        print(_report.memory(results).text())
        print()
        print(_report.targets(found).text())
        print()
        print(_report.faster_peers_text(results))
    redis_found = [] if redis is None else redis_verdicts(redis)
    if redis is not None:
        if in_process(args):
            print()
        print(_redis_report.text(redis, redis_found))

    command = shlex.join(["python", "-m", "benchmarks", *arguments])
    machine, versions = _machine.machine(), _machine.versions()
    json_path, chart_path = args.json, args.chart
    if args.docs and in_process(args):
        json_path = json_path or DOCS / "performance.json"
        chart_path = chart_path or DOCS / "performance.png"
        section = _docs.results_section(results, found, command, machine, versions)
        _docs.rewrite(DOCS / "performance.md", section)
    if args.docs and redis is not None:
        redis_section = _redis_report.section(redis, redis_found, command)
        _docs.rewrite(
            DOCS / "performance.md",
            redis_section,
            start=_redis_report.START,
            end=_redis_report.END,
        )
    if json_path is not None:
        document = _report.document(results, found, command, machine, versions)
        if redis is not None:
            document["redis"] = _redis_report.document(redis, redis_found)
        json_path.write_text(json.dumps(document, indent=2) + "\n")
    if chart_path is not None and in_process(args):
        _chart.draw(results, chart_path)
    met = all(verdict.met for verdict in found) and all(verdict.met for verdict in redis_found)
    if args.check and not met:
        print("performance targets missed (see above)", file=sys.stderr)
        return 1
    return 0
