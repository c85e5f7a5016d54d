"""What ``--scenario redis`` measured: messages per second, each against ``redis-benchmark``.

Absolute rates depend on the machine, and on a 2-core one the server, the benchmark and its
child processes share two CPUs; what carries over is how a client compares with the server's
own load generator measured on the same server in the same run. So every throughput is
reported as a ratio to a ``redis-benchmark`` run of the same command (``XADD``):
sequential scenarios to ``-P 1`` (no pipelining), the others to ``-P 50``. Its targets are
minimum ratios, checked on every backend where they were measured.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: The library of the reference rows.
ENGINE = "redis-benchmark"
MTBUS = "mtbus"
RAW = "mtbus's raw Redis client"
BROADCASTER = "broadcaster (Redis pub/sub)"
FASTSTREAM = "faststream (Redis streams)"

#: The reference cases: ``redis-benchmark`` with one client (one connection, like an mtbus
#: channel's publishers), unpipelined and by 50.
P1 = "XADD, 1 client, -P 1"
P50 = "XADD, 1 client, -P 50"

SEQUENTIAL_XADD = "sequential XADD"
PIPELINED_XADD = "XADD pipelined by 100"
SEQUENTIAL = "sequential publish"
CONCURRENT_10 = "10 concurrent publishers"
CONCURRENT_100 = "100 concurrent publishers"
BATCH = "publish_batch(100)"
PROCESSES = "publisher process -> subscriber process"
BACKLOG = "subscriber process draining a backlog"


@dataclass(frozen=True)
class Throughput:
    """One measurement: *messages* in *seconds*, on one event loop.

    :param reference: the ``redis-benchmark`` case its ratio divides by (``None`` for a
        reference itself)
    :param checked: what was checked: ``"every message"`` (count and order of arrivals),
        ``"replies"`` (every reply is an entry ID) or ``""`` (nothing: redis-benchmark)
    :param runs: the rate of every run, when the case ran more than once (the references:
        then *seconds* is the median run's)
    """

    backend: str
    case: str
    library: str
    messages: int
    seconds: float
    reference: str | None
    checked: str
    runs: tuple[float, ...] = ()

    @property
    def per_second(self) -> float:
        """Messages per second."""
        return self.messages / self.seconds

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field, with the rate."""
        return {**asdict(self), "per_second": self.per_second}


@dataclass(frozen=True)
class RedisResults:
    """Everything one ``--scenario redis`` run measured, and what it left out and why."""

    throughputs: list[Throughput]
    notes: list[str]
    server: str

    def find(self, backend: str, case: str, library: str) -> Throughput | None:
        """The measurement of *library* in *case* on *backend*, if it ran."""
        return next(
            (
                found
                for found in self.throughputs
                if (found.backend, found.case, found.library) == (backend, case, library)
            ),
            None,
        )

    def ratio(self, throughput: Throughput) -> float | None:
        """Its rate over its reference's, on the same backend; None without a reference."""
        if throughput.reference is None:
            return None
        reference = self.find(throughput.backend, throughput.reference, ENGINE)
        return None if reference is None else throughput.per_second / reference.per_second

    def backends(self) -> list[str]:
        """The backends measured, in the order they ran."""
        return list(dict.fromkeys(found.backend for found in self.throughputs))


@dataclass(frozen=True)
class RedisTarget:
    """The least mtbus's rate in *case* may be, as a share of its reference's."""

    description: str
    case: str
    minimum: float


@dataclass(frozen=True)
class RedisVerdict:
    """A Redis target's ratio as measured on one backend."""

    target: RedisTarget
    backend: str
    ratio: float

    @property
    def met(self) -> bool:
        """Whether the ratio reaches the minimum."""
        return self.ratio >= self.target.minimum


REDIS_TARGETS = (
    RedisTarget("sequential publish vs redis-benchmark -P 1", SEQUENTIAL, 0.15),
    RedisTarget("100 concurrent publishers vs redis-benchmark -P 50", CONCURRENT_100, 0.06),
    RedisTarget("publish_batch(100) vs redis-benchmark -P 50", BATCH, 0.06),
    RedisTarget("publisher process -> subscriber process vs -P 50", PROCESSES, 0.08),
    RedisTarget("subscriber process draining a backlog vs -P 50", BACKLOG, 0.15),
)


def redis_verdicts(results: RedisResults) -> list[RedisVerdict]:
    """Every Redis target on every backend where mtbus and its reference were measured."""
    found = []
    for target in REDIS_TARGETS:
        for backend in results.backends():
            measured = results.find(backend, target.case, MTBUS)
            ratio = None if measured is None else results.ratio(measured)
            if ratio is not None:
                found.append(RedisVerdict(target, backend, ratio))
    return found
