"""The benchmark harness's own promises: fair round order, honest ratios, checked deliveries.

Only mtbus and the hand-written baselines are used, so this runs without the ``bench`` extra.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from benchmarks import _cli, _docs
from benchmarks._backends import ASYNCIO_ONLY, run_on
from benchmarks._cli import main, parser, run_redis
from benchmarks._emit import baseline_async, mtbus_emit
from benchmarks._fanout import baseline_stream, mtbus_channel
from benchmarks._harness import Contender, measure, rotation, time_trial
from benchmarks._profile import QUICK
from benchmarks._redis import find_server, installed
from benchmarks._redis_engine import find_benchmark
from benchmarks._redis_flow import Arrivals, Budget, Quota, Sequencer, payload
from benchmarks._redis_local import drive
from benchmarks._redis_results import (
    CONCURRENT_100,
    ENGINE,
    MTBUS,
    P1,
    P50,
    SEQUENTIAL,
    RedisResults,
    Throughput,
    redis_verdicts,
)
from benchmarks._results import Measurement, Results
from benchmarks._routing import mtbus_channel as mtbus_routed_channel
from benchmarks._routing import mtbus_emitter as mtbus_routed_emitter
from benchmarks._scenarios import SCENARIOS, timed_contenders
from benchmarks._tally import CorrectnessError, Tally
from benchmarks._targets import verdicts

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

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


# -- --scenario redis ------------------------------------------------------------------------


def test_arrivals_insist_on_every_message_once_and_in_order() -> None:
    arrivals = Arrivals("library")
    for number in range(3):
        arrivals.add("orders.eu", payload(number, "P-0"))
    arrivals.add("orders.us", payload(0, "P-0"))  # each (topic, publisher) counts on its own
    arrivals.add("orders.eu", payload(0, "P-1"))
    arrivals.verify(5)
    with pytest.raises(CorrectnessError, match=r"library: 6 messages published, 5 received"):
        arrivals.verify(6)
    with pytest.raises(
        CorrectnessError, match=r"expected message 3, got 4 \(lost or out of order\)"
    ):
        arrivals.add("orders.eu", payload(4, "P-0"))
    duplicated = Arrivals("library")
    duplicated.add("orders.eu", payload(0, "P-0"))
    with pytest.raises(CorrectnessError, match=r"expected message 1, got 0 \(duplicated"):
        duplicated.add("orders.eu", payload(0, "P-0"))
    with pytest.raises(CorrectnessError, match="expected message 1, got 0"):
        duplicated.verify(1)  # a failed check stays failed


def test_quota_stops_at_the_count_or_the_deadline() -> None:
    quota = Quota(Budget(seconds=60, most=250))
    assert [quota.claim(100) for _ in range(4)] == [100, 100, 50, 0]
    assert quota.sent == 250
    assert Quota(Budget(seconds=0, most=250)).claim() == 0


def test_a_measurement_that_loses_a_message_fails_loudly(anyio_backend: str) -> None:
    async def lossy() -> None:
        send, receive = anyio.create_memory_object_stream[dict[str, Any]](1_000)
        arrivals = Arrivals("lossy")

        async def consume() -> None:
            async for data in receive:
                if data["id"] != 7:  # drops one message
                    arrivals.add("orders.eu", data)

        async def publish(quota: Quota) -> None:
            sequencer = Sequencer(0)
            while quota.claim():
                await send.send(sequencer.next("orders.eu"))

        with send, receive:
            await drive(arrivals, consume, [publish], Budget(seconds=10, most=20))

    with pytest.raises(
        CorrectnessError, match=r"lossy: .*expected message 7, got 8 \(lost or out of order\)"
    ):
        run_on(anyio_backend, lossy)


def test_redis_targets_are_minimum_shares_of_their_reference() -> None:
    def rate(case: str, library: str, per_second: float, reference: str | None) -> Throughput:
        return Throughput("asyncio", case, library, int(per_second), 1.0, reference, "")

    results = RedisResults(
        [
            rate(P1, ENGINE, 50_000, None),
            rate(P50, ENGINE, 300_000, None),
            rate(SEQUENTIAL, MTBUS, 10_000, P1),
            rate(CONCURRENT_100, MTBUS, 15_000, P50),
        ],
        [],
        "Redis",
    )
    found = {verdict.target.case: verdict for verdict in redis_verdicts(results)}
    assert set(found) == {SEQUENTIAL, CONCURRENT_100}  # only what ran, with its reference
    assert (found[SEQUENTIAL].ratio, found[SEQUENTIAL].met) == (0.2, True)
    assert found[CONCURRENT_100].ratio == pytest.approx(0.05)
    assert not found[CONCURRENT_100].met


def test_docs_rewrites_only_between_its_own_markers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("intro\n<!-- a -->\nold\n<!-- /a -->\nmiddle\n<!-- b -->\nold\n<!-- /b -->\n")
    _docs.rewrite(page, "new", start="<!-- b -->", end="<!-- /b -->")
    assert page.read_text() == (
        "intro\n<!-- a -->\nold\n<!-- /a -->\nmiddle\n<!-- b -->\n\nnew\n\n<!-- /b -->\n"
    )


@pytest.mark.skipif(find_server() is None, reason="no redis-server here")
def test_quick_redis_run_measures_every_case_and_checks_every_message(
    anyio_backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--scenario", "redis", "--quick", "--backend", anyio_backend]) == 0
    output = capsys.readouterr().out
    rows = [line.split("  ") for line in output.splitlines() if line.startswith(anyio_backend)]
    cells = [[cell.strip() for cell in row if cell.strip()] for row in rows]
    measured = {(row[1], row[2]): row for row in cells if len(row) >= 5}
    mtbus_cases = [
        "sequential publish",
        "10 concurrent publishers",
        "100 concurrent publishers",
        "publish_batch(100)",
        "publisher process -> subscriber process",
        "subscriber process draining a backlog",
    ]
    for case in mtbus_cases:
        row = measured[case, "mtbus"]
        assert int(row[3].replace(",", "")) > 0
        assert row[-1] == "every message"
    if find_benchmark() is not None:
        assert (P1, ENGINE) in measured
        assert (P50, ENGINE) in measured
        assert measured[SEQUENTIAL, MTBUS][5].endswith("of -P 1")
        assert measured[CONCURRENT_100, MTBUS][5].endswith("of -P 50")
        assert "sequential publish vs redis-benchmark -P 1" in output
    peers = {
        library for _, library in measured if library.startswith(("broadcaster", "faststream"))
    }
    if anyio_backend not in ASYNCIO_ONLY:
        assert not peers  # asyncio only
    elif installed("broadcaster") and installed("faststream"):
        assert peers == {"broadcaster (Redis pub/sub)", "faststream (Redis streams)"}
    assert "ns/op" not in output  # only the Redis scenario ran


def test_a_default_run_leaves_redis_out_without_a_server_and_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_cli, "find_server", lambda: None)
    assert run_redis(parser().parse_args(["--quick"])) is None
    assert "redis: no redis-server found" in capsys.readouterr().err
    assert run_redis(parser().parse_args(["--scenario", "fanout"])) is None
