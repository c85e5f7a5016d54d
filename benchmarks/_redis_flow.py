"""What the Redis measurements publish, how long they publish, and the check of what arrived.

Every message is a 4-field dict, ``{"id": n, "sku": "P-3", "qty": 2, "price": 9.5}``: ``sku``
names the publisher task that sent it and ``id`` counts that task's messages on that topic,
so :class:`Arrivals` can insist, message by message, that each (topic, publisher) stream
arrives as 0, 1, 2, ... with nothing skipped, repeated or swapped, and at the end that the
total is exactly what was published. Every stream being a gap-free prefix of what its task
sent, and the totals being equal, nothing was lost anywhere.

A measurement publishes for about :attr:`Budget.seconds`, or :attr:`Budget.most` messages
if that comes first (:class:`Quota`), so a slow library costs time, not the whole run.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import anyio

from ._tally import CorrectnessError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

#: The pattern every subscriber subscribes to, and the topics publishers use.
PATTERN = "orders.*"
TOPIC = "orders.eu"
TOPICS = ("orders.eu", "orders.us")
#: The topic of the message that ends a cross-process run: ``{"end": messages published}``.
END_TOPIC = "orders.end"


def payload(number: int, sku: str) -> dict[str, Any]:
    """The message *number* of publisher *sku*."""
    return {"id": number, "sku": sku, "qty": 2, "price": 9.5}


def sku_of(task: int) -> str:
    """The ``sku`` that names publisher task number *task*."""
    return f"P-{task}"


@dataclass(frozen=True)
class Budget:
    """How long one measurement publishes: *seconds*, or *most* messages if that is sooner."""

    seconds: float
    most: int


class Quota:
    """A :class:`Budget` being spent, shared by the publisher tasks of one measurement.

    The clock starts when it is made; :attr:`sent` counts every message handed out.
    """

    def __init__(self, budget: Budget) -> None:
        self._deadline = time.perf_counter() + budget.seconds
        self._left = budget.most
        self.sent = 0

    def claim(self, wanted: int = 1) -> int:
        """How many of *wanted* messages the caller may publish now; 0 once time is up."""
        if self._left <= 0 or time.perf_counter() >= self._deadline:
            return 0
        granted = min(wanted, self._left)
        self._left -= granted
        self.sent += granted
        return granted


class Sequencer:
    """The next ``id`` of one publisher task per topic, and its messages built from them."""

    def __init__(self, task: int) -> None:
        self.sku = sku_of(task)
        self._next = dict.fromkeys(TOPICS, 0)

    def next(self, topic: str) -> dict[str, Any]:
        """The task's next message on *topic*."""
        number = self._next[topic]
        self._next[topic] = number + 1
        return payload(number, self.sku)


class Arrivals:
    """What one subscriber received, checked as it arrives and counted.

    :param who: names the library and case in error messages
    :param clock: the clock of :attr:`last` (``time.time`` when processes compare times)
    """

    def __init__(self, who: str, clock: Callable[[], float] = time.perf_counter) -> None:
        self.who = who
        self.count = 0
        self.last = 0.0  # the clock when the latest message arrived
        self.failure: CorrectnessError | None = None
        self._clock = clock
        self._next: dict[tuple[str | None, object], int] = {}
        self._target: int | None = None
        self._reached = anyio.Event()

    def add(self, topic: str | None, data: Any) -> None:
        """Check and count one arrival.

        :raises CorrectnessError: if it is not the next message of its (topic, publisher)
            stream: a message before it was lost, or it is a duplicate or out of order
        """
        try:
            key, number = (topic, data["sku"]), data["id"]
        except (TypeError, KeyError):
            self._fail(f"received something that is not a benchmark message: {data!r}")
        expected = self._next.get(key, 0)
        if number != expected:
            problem = "lost or out of order" if number > expected else "duplicated or out of order"
            self._fail(
                f"on topic {topic!r}, publisher {key[1]!r}: expected message {expected}, got "
                f"{number} ({problem}) after {self.count} correct arrivals"
            )
        self._next[key] = expected + 1
        self.count += 1
        self.last = self._clock()
        if self.count == self._target:
            self._reached.set()

    def _fail(self, problem: str) -> NoReturn:
        # Kept as well as raised: some libraries swallow what their handlers raise.
        if self.failure is None:
            self.failure = CorrectnessError(f"{self.who}: {problem}")
        self._reached.set()
        raise self.failure

    async def wait_for(self, total: int, timeout: float) -> None:
        """Wait until exactly *total* messages have arrived.

        :raises CorrectnessError: if a check failed, or fewer arrived within *timeout*
            seconds of the last publish
        """
        self._target = total
        if self.count < total and self.failure is None:
            with anyio.move_on_after(timeout):
                await self._reached.wait()
        self.verify(total)

    def verify(self, total: int) -> None:
        """Check that exactly *total* messages arrived, each in its place.

        :raises CorrectnessError: naming what went wrong
        """
        if self.failure is not None:
            raise self.failure
        if total <= 0:
            raise CorrectnessError(f"{self.who}: nothing was published")
        if self.count != total:
            wrong = f"{total - self.count} lost" if self.count < total else "too many"
            raise CorrectnessError(
                f"{self.who}: {total} messages published, {self.count} received ({wrong})"
            )


@contextmanager
def unwrapped() -> Iterator[None]:
    """Let what a task group raises out as itself, not in an ExceptionGroup.

    The suite reports a :exc:`CorrectnessError` (exit status 2), and a peer that will not
    run is left out by the error it raised; anyio's task groups wrap whatever their tasks
    raise. A CorrectnessError comes out first; a group of anything else comes out as its
    only exception, or as it is if it holds several.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        wrong = group.subgroup(CorrectnessError)
        leaves = list(leaves_of(group if wrong is None else wrong))
        if wrong is None and len(leaves) != 1:
            raise
        raise leaves[0] from None


def leaves_of(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    """The exceptions in *group* and its nested groups, in order."""
    for exception in group.exceptions:
        if isinstance(exception, BaseExceptionGroup):
            yield from leaves_of(exception)
        else:
            yield exception
