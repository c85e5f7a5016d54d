"""How big a run is: the full suite, or ``--quick`` (seconds, for CI: checks, not timings)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """Sizes of one run.

    :param rounds: timed rounds per scenario (after one warm-up round)
    :param emit_ops: emits per timed run in ``emit-*`` and ``routing-*``
    :param fanout_messages: messages per timed run in ``fanout``
    :param routing_sizes: the numbers S of non-matching patterns in ``routing-*``
    :param memory_items: handlers, subscriptions or messages per memory measurement
    """

    rounds: int
    emit_ops: int
    fanout_messages: int
    routing_sizes: tuple[int, ...]
    memory_items: int


FULL = Profile(
    rounds=7,
    emit_ops=20_000,
    fanout_messages=100_000,
    routing_sizes=(10, 1_000, 10_000),
    memory_items=2_000,
)
QUICK = Profile(
    rounds=2, emit_ops=200, fanout_messages=1_000, routing_sizes=(10, 100), memory_items=100
)
