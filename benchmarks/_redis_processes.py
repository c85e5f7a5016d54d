"""The cross-process Redis measurements, from the parent's side: start, wait, read reports.

:func:`live` starts a subscriber process, waits until it is subscribed, then starts a
publisher process; the rate is the messages published over the time from the publisher's
first publish to the subscriber's last receive (wall-clock times, comparable across
processes). :func:`backlog` then starts a subscriber process with ``since="0"`` on the
same stream, which still holds every message the publisher sent (its channel keeps more
than that), and times it from its ``subscribe`` call to its last receive. Starting Python
and connecting are not timed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from anyio.streams.buffered import BufferedByteReceiveStream

from ._redis_local import Run
from ._tally import CorrectnessError

if TYPE_CHECKING:
    from anyio.abc import Process

    from ._redis_flow import Budget

ROOT = Path(__file__).parent.parent
#: Seconds allowed on top of the publishing budget before the children are stopped.
SLACK_SECONDS = 120.0


async def open_child(*arguments: str) -> Process:
    """``python -m benchmarks._redis_child ARGUMENTS``, its stdout piped, stderr shared."""
    path = os.environ.get("PYTHONPATH")
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), path]))}
    return await anyio.open_process(
        [sys.executable, "-m", "benchmarks._redis_child", *arguments],
        stdin=subprocess.DEVNULL,
        stderr=None,
        cwd=ROOT,
        env=environment,
    )


async def report(process: Process, lines: BufferedByteReceiveStream, who: str) -> dict[str, Any]:
    """The next JSON line of *process*.

    :raises CorrectnessError: if it reports a failed check
    :raises RuntimeError: if it exits without a report
    """
    try:
        line = await lines.receive_until(b"\n", 1 << 20)
    except (anyio.IncompleteRead, anyio.EndOfStream):
        status = await process.wait()
        raise RuntimeError(f"the {who} exited with status {status} without a report") from None
    found: dict[str, Any] = json.loads(line)
    if "error" in found:
        raise CorrectnessError(found["error"])
    return found


def common(url: str, channel: str, backend: str, maxlen: int) -> list[str]:
    return ["--url", url, "--channel", channel, "--backend", backend, "--maxlen", str(maxlen)]


async def live(url: str, channel: str, backend: str, budget: Budget, tasks: int) -> Run:
    """A publisher process to a subscriber process, through a channel kept whole."""
    options = common(url, channel, backend, maxlen=2 * budget.most + 1_000)
    with anyio.fail_after(budget.seconds + SLACK_SECONDS):
        async with await open_child("subscribe", *options) as subscriber:
            assert subscriber.stdout is not None
            received = BufferedByteReceiveStream(subscriber.stdout)
            await report(subscriber, received, "subscriber process")  # subscribed
            limits = ["--messages", str(budget.most), "--seconds", str(budget.seconds)]
            publishing = [*options, *limits, "--tasks", str(tasks)]
            async with await open_child("publish", *publishing) as publisher:
                assert publisher.stdout is not None
                sent = BufferedByteReceiveStream(publisher.stdout)
                published = await report(publisher, sent, "publisher process")
            arrived = await report(subscriber, received, "subscriber process")
    if arrived["received"] != published["published"]:
        raise CorrectnessError(
            f"mtbus across processes: {published['published']} published, "
            f"{arrived['received']} received"
        )
    return Run(published["published"], arrived["last"] - published["started"])


async def backlog(url: str, channel: str, backend: str, budget: Budget) -> Run:
    """A subscriber process reading the whole stream :func:`live` left, from ``since="0"``."""
    options = common(url, channel, backend, maxlen=2 * budget.most + 1_000)
    with anyio.fail_after(budget.seconds + SLACK_SECONDS):
        async with await open_child("subscribe", *options, "--since", "0") as subscriber:
            assert subscriber.stdout is not None
            received = BufferedByteReceiveStream(subscriber.stdout)
            arrived = await report(subscriber, received, "backlog subscriber process")
    return Run(arrived["received"], arrived["last"] - arrived["started"])
