"""The benchmark harness's own promises: fair round order, honest ratios, checked deliveries.

Only mtbus and the hand-written baselines are used, so this runs without the ``bench`` extra.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING

import pytest

from benchmarks._emit import baseline_async, mtbus_emit
from benchmarks._fanout import baseline_stream, mtbus_channel
from benchmarks._harness import Contender, measure, rotation, time_trial
from benchmarks._profile import QUICK
from benchmarks._results import Measurement, Results
from benchmarks._routing import mtbus_channel as mtbus_routed_channel
from benchmarks._routing import mtbus_emitter as mtbus_routed_emitter
from benchmarks._scenarios import SCENARIOS, timed_contenders
from benchmarks._tally import CorrectnessError, Tally
from benchmarks._targets import verdicts

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from benchmarks._harness import Setup, Workload


def timing(
    scenario: str,
    case: str,
    library: str,
    times: list[float],
    *,
    backend: str = "asyncio",
    baseline: bool = False,
) -> Measurement:
    """A measurement made up for the test: *times* are its ns/op per round."""
    return Measurement(backend, scenario, case, library, 1, baseline, times)


def test_rotation_puts_every_contender_in_every_position_once() -> None:
    items = ["a", "b", "c"]
    rounds = [rotation(items, number) for number in range(3)]
    assert rounds == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]]
    assert rotation(items, 3) == items


def test_ratios_are_medians_of_per_round_ratios_not_ratios_of_medians() -> None:
    baseline = timing("emit-async", "1 handler", "baseline", [100.0, 1000.0, 110.0])
    # Round 2 ran on a slow machine for both: per round, mtbus is twice the baseline.
    mtbus = timing("emit-async", "1 handler", "mtbus", [200.0, 2000.0, 220.0])
    assert mtbus.ratio_to(baseline) == pytest.approx(2.0)
    # One bad round for one contender moves its ratio of medians, not its median ratio.
    hiccup = timing("emit-async", "1 handler", "mtbus", [300.0, 1000.0, 110.0])
    assert hiccup.ratio_to(baseline) == pytest.approx(1.0)
    assert hiccup.median_ns / baseline.median_ns == pytest.approx(300 / 110)


def test_tally_accepts_exact_counts_only() -> None:
    tally = Tally()
    handler, stray, record = tally.sync_handler(), tally.stray_handler(), tally.consumer()
    for _ in range(3):
        handler(None)
    record(2)
    tally.verify(3)
    with pytest.raises(CorrectnessError, match=r"expected 4 calls per handler, got \[3\]"):
        tally.verify(4)
    tally.reset()
    handler(None)
    record(0)
    stray(None)
    with pytest.raises(CorrectnessError, match="1 deliveries reached handlers that must not run"):
        tally.verify(1)


def test_tally_catches_a_consumer_that_missed_the_last_message() -> None:
    tally = Tally()
    tally.consumer()(8)
    with pytest.raises(CorrectnessError, match="expected every consumer to end on 9, got"):
        tally.verify(10)


def test_targets_are_checked_per_backend_and_fan_out_only_against_asyncio_queue() -> None:
    results = Results(
        [
            timing("emit-async", "1 handler", "baseline", [100.0, 100.0], baseline=True),
            timing("emit-async", "1 handler", "mtbus", [200.0, 300.0]),
            timing(
                "fanout", "1 subscriber", "baseline: asyncio.Queue", [10.0, 10.0], baseline=True
            ),
            timing("fanout", "1 subscriber", "mtbus", [9.0, 9.0]),
            timing(
                "fanout",
                "1 subscriber",
                "baseline: anyio memory stream",
                [5.0, 5.0],
                backend="trio",
                baseline=True,
            ),
            timing("fanout", "1 subscriber", "mtbus", [9.0, 9.0], backend="trio"),
        ],
        [],
    )
    found = {
        (verdict.target.description, verdict.backend): verdict for verdict in verdicts(results)
    }
    emit = found["emit to 1 async handler vs await handler(event)", "asyncio"]
    assert (emit.ratio, emit.met) == (2.5, True)
    fan_out = found["fan-out to 1 subscriber vs asyncio.Queue (time)", "asyncio"]
    assert fan_out.ratio == pytest.approx(0.9)
    assert fan_out.met
    assert ("fan-out to 1 subscriber vs asyncio.Queue (time)", "trio") not in found


def test_every_timed_scenario_has_a_baseline_in_every_case() -> None:
    contenders = timed_contenders(QUICK)
    cases = {(contender.scenario, contender.case) for contender in contenders}
    with_baseline = {(c.scenario, c.case) for c in contenders if c.baseline}
    assert cases == with_baseline
    assert {scenario for scenario, _ in cases} == set(SCENARIOS) - {"memory"}


@pytest.mark.parametrize(
    "setup",
    [
        partial(mtbus_emit, handlers=10, sync=False),
        partial(mtbus_emit, handlers=1, sync=True),
        partial(mtbus_routed_emitter, size=50),
        partial(mtbus_routed_channel, size=50),
        partial(mtbus_channel, subscribers=3),
        partial(baseline_stream, subscribers=3),
    ],
    ids=["emit-async", "emit-sync", "routing-emitter", "routing-channel", "fanout", "stream"],
)
def test_a_trial_of_mtbus_delivers_exactly_on_each_backend(
    setup: Setup, anyio_backend: str
) -> None:
    contender = Contender("scenario", "case", "mtbus", setup, ops=50)
    assert time_trial(contender, anyio_backend) > 0


def test_a_wrong_delivery_aborts_the_run_naming_the_library(anyio_backend: str) -> None:
    @asynccontextmanager
    async def skips_one(tally: Tally) -> AsyncIterator[Workload]:
        handler = tally.sync_handler()

        async def workload(ops: int) -> None:
            for _ in range(ops - 1):
                handler(None)

        yield workload

    contender = Contender("emit-sync", "1 handler", "broken", skips_one, ops=20)
    with pytest.raises(
        CorrectnessError,
        match=rf"broken in emit-sync \(1 handler\) on {anyio_backend}: expected 2 calls",
    ):
        time_trial(contender, anyio_backend)


def test_measure_runs_every_round_and_marks_the_first_available_baseline(
    anyio_backend: str,
) -> None:
    contenders = [
        Contender(
            "emit-async",
            "1 handler",
            "asyncio-only baseline",
            partial(baseline_async, handlers=1),
            ops=20,
            backends=frozenset({"asyncio"}),
            baseline=True,
        ),
        Contender(
            "emit-async",
            "1 handler",
            "baseline",
            partial(baseline_async, handlers=1),
            20,
            baseline=True,
        ),
        Contender(
            "emit-async", "1 handler", "mtbus", partial(mtbus_emit, handlers=1, sync=False), 20
        ),
        Contender(
            "emit-async",
            "1 handler",
            "absent peer",
            partial(mtbus_emit, handlers=1, sync=False),
            20,
            requires="no_such_module_here",
        ),
    ]
    measured = measure(contenders, anyio_backend, rounds=3)
    assert [m.library for m in measured if m.baseline] == [
        "asyncio-only baseline" if anyio_backend == "asyncio" else "baseline"
    ]
    assert "absent peer" not in [m.library for m in measured]
    assert all(len(m.ns_per_op) == 3 and min(m.ns_per_op) > 0 for m in measured)
