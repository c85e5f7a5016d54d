"""Redis Streams plumbing shared by a channel's readers: entry IDs, replies, retries, filters."""

from __future__ import annotations

import logging
import random
import re
from typing import TYPE_CHECKING, Any, Final, cast

import anyio

from .._topics import TopicMatcher

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._subscriber import Subscriber

_logger = logging.getLogger("mtbus")

MESSAGE_ID = re.compile(r"\d+(-\d+)?")
START: Final = "0-0"  # before the first entry of any stream
BLOCK_MS: Final = 1000  # how long a blocking read waits before readers look around
RETRY_FIRST: Final = 0.05  # seconds before the first reconnection attempt
RETRY_MAX: Final = 5.0  # the longest wait between attempts
BATCH: Final = 1000  # entries per read: a backlog drains in few round trips
TOPICS_REMEMBERED: Final = 4096  # topics a reader's filter keeps its answer for

#: One stream entry as Redis sends it: its ID and its flat ``[field, value, ...]`` list
#: (``None`` for an entry that was claimed but trimmed meanwhile).
Entry = tuple[bytes, "list[bytes] | None"]


def sort_key(entry_id: str) -> tuple[int, int]:
    """Sort key of a stream entry ID (``"1700000000000-3"`` -> ``(1700000000000, 3)``)."""
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


def id_of(entry: Entry) -> str:
    """A stream entry's ID as text."""
    return entry[0].decode()


def entries_of(reply: Any) -> list[Entry]:
    """The entries of an ``XREAD``/``XREADGROUP`` reply on one stream (none on a timeout)."""
    return reply[0][1] if reply else []


def check_since(since: str) -> str:
    """A ``since=`` argument as a concrete entry ID, ``"$"`` kept as is."""
    if since == "$":
        return since
    if not MESSAGE_ID.fullmatch(since):
        raise ValueError(
            f"invalid since {since!r}: expected a message ID like '1700000000000-0', "
            f"'0' (the oldest kept) or '$' (only new messages)"
        )
    return since if "-" in since else f"{since}-0"


class Retry:
    """Jittered exponential back-off for a reader whose connection dropped."""

    #: The errors that mean "the connection dropped": worth a retry.
    errors = (OSError,)

    def __init__(self, reader: str) -> None:
        self._reader = reader
        self._delay = 0.0

    def reset(self) -> None:
        self._delay = 0.0

    async def wait(self, error: Exception) -> None:
        self._delay = min(RETRY_MAX, self._delay * 2 or RETRY_FIRST)
        delay = self._delay * random.uniform(0.5, 1.0)
        _logger.warning(
            "%s lost its connection (%s); retrying in %.2f s", self._reader, error, delay
        )
        await anyio.sleep(delay)


def topic_filter(subscriber: Subscriber[Any]) -> Callable[[str | None], bool]:
    """Whether a topic is one *subscriber* asked for (broadcasts always are)."""
    if subscriber.topics is None:
        return lambda topic: True
    matcher: TopicMatcher[bool] = TopicMatcher()
    for pattern in subscriber.topics:
        matcher.add(pattern, True)
    known: dict[str | None, bool] = {None: True}  # topics seen, answered once each

    def wants(topic: str | None) -> bool:
        try:
            return known[topic]
        except KeyError:
            if len(known) >= TOPICS_REMEMBERED:
                known.clear()
                known[None] = True
            answer = known[topic] = bool(matcher.match(cast("str", topic)))
            return answer

    return wants
