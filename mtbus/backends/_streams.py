"""Redis Streams plumbing shared by a channel's readers and writers: entry IDs, replies,
retries, filters."""

from __future__ import annotations

import logging
import random
import re
from typing import TYPE_CHECKING, Any, Final, cast

import anyio

from .._core._exceptions import ChannelError, MessageDecodeError
from .._core._topics import TopicMatcher
from ._resp import ReplyError

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._core._message import Message
    from ._base import ChannelPort, SubscriberPort

    #: How a reader decodes a stream entry: ``(channel, entry_id, fields)``.
    Decode = Callable[[str, str, list[bytes]], Message[Any] | MessageDecodeError]
    #: How a reader reports a gap or an undecodable entry: the backend's report.
    Report = Callable[[ChannelPort, ChannelError], None]

_logger = logging.getLogger("mtbus")

MESSAGE_ID = re.compile(r"\d+(-\d+)?")
START: Final = "0-0"  # before the first entry of any stream
BLOCK_MS: Final = 1000  # how long a blocking read waits before readers look around
RETRY_FIRST: Final = 0.05  # seconds before the first reconnection attempt
RETRY_MAX: Final = 5.0  # the longest wait between attempts
BATCH: Final = 1000  # entries per read: a backlog drains in few round trips
TOPICS_REMEMBERED: Final = 4096  # topics a reader's filter keeps its answer for
ID_PART_MAX: Final = 2**64 - 1  # the largest milliseconds or sequence of an entry ID

#: One stream entry as Redis sends it: its ID and its flat ``[field, value, ...]`` list
#: (``None`` for an entry that was claimed but trimmed meanwhile).
Entry = tuple[bytes, "list[bytes] | None"]


#: Measures the first entry from ``ARGV[1]`` on (an ID, or ``(ID`` for the one after it) in
#: stream ``KEYS[1]`` without sending it: its ID and its size in bytes, or nil if there is
#: none. What a reader skips when an entry is too large for a reply.
MEASURE_NEXT: Final = """
local entry = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', 1)[1]
if not entry then return false end
local size = 0
for _, value in ipairs(entry[2]) do size = size + #value end
return {entry[1], size}
"""


def too_large(channel: str, entry_id: str, size: int, limit: int) -> MessageDecodeError:
    """The report of an entry of *size* bytes that a reader skipped unread: a reply of it
    would pass *limit* (what :data:`MEASURE_NEXT` measured instead of reading it)."""
    reason = f"{size} bytes, more than a reply may have ({limit}): skipped unread"
    return MessageDecodeError(channel, entry_id, reason)


#: What ``XINFO STREAM`` says about stream ``KEYS[1]``, its first and last entries by ID
#: alone (their contents may be too large to send), or nil if there is no such stream (any
#: other error, a key of another type say, is Redis's error reply).
STREAM_FACTS: Final = """
local info = redis.pcall('XINFO', 'STREAM', KEYS[1])
if info.err then
  if string.find(info.err, 'no such key', 1, true) then return false end
  return redis.error_reply(info.err)
end
for i = 1, #info, 2 do
  if (info[i] == 'first-entry' or info[i] == 'last-entry') and info[i + 1] then
    info[i + 1] = info[i + 1][1]
  end
end
return info
"""


def named(flat: list[Any]) -> dict[bytes, Any]:
    """A flat ``[name, value, ...]`` reply (:data:`STREAM_FACTS`, ``XINFO``) as a dict."""
    pairs = iter(flat)
    return dict(zip(pairs, pairs, strict=False))


def deleted_beyond(stream: dict[bytes, Any], read: int | None) -> int | None:
    """How many entries *stream* lost (trimmed or deleted) beyond the first *read* it
    received, or ``None`` where that cannot be known.

    Redis 7 counts the entries a stream ever received (``entries-added``); *read* counts
    those a reader (or group) has passed, itself, or as Redis 7 tells (``entries-read``).
    When the stream's first entry is after the reader, every deletion was beyond it.
    """
    added = stream.get(b"entries-added")
    if added is None or read is None:
        return None
    length: int = stream[b"length"]
    return int(added) - length - read


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


def added_id(channel: str, reply: Any) -> str:
    """The ID an ``XADD`` reply gives; raises a ChannelError if it is an error."""
    if isinstance(reply, ChannelError):
        raise reply
    if isinstance(reply, ReplyError):
        raise ChannelError(f"cannot publish to channel {channel!r}: Redis refused it: {reply}")
    entry_id: str = reply.decode()
    return entry_id


def check_since(since: str) -> str:
    """A ``since=`` argument (a ``str``: the channel checked) as a concrete entry ID, ``"$"``
    kept as is."""
    if since == "$":
        return since
    if not MESSAGE_ID.fullmatch(since):
        raise ValueError(
            f"invalid since {since!r}: expected a message ID like '1700000000000-0', "
            f"'0' (the oldest kept) or '$' (only new messages)"
        )
    if any(int(part) > ID_PART_MAX for part in since.split("-")):
        raise ValueError(
            f"invalid since {since!r}: both parts of a message ID are at most {ID_PART_MAX}"
        )
    return since if "-" in since else f"{since}-0"


class Cursor:
    """Where one reader of a stream is, and how many entries it asks for at once.

    :ivar id: the last entry it read (or the position it starts after)
    :ivar added: how many entries the stream had received up to :attr:`id` (Redis 7 and
        later count them: ``entries-added``), or ``None`` if unknown; with it, a gap's
        size is exact
    :ivar count: entries per read; fewer after a reply too large to take, growing back
    :ivar reported: the position of the last gap reported, so a gap is reported once
    :ivar bulky: whether the entry at :attr:`id` is too large to fetch (it was skipped
        unread), so a read cannot check it is still there by fetching it
    """

    __slots__ = ("added", "bulky", "count", "id", "most", "reported")

    def __init__(self, id: str, added: int | None, count: int) -> None:
        self.id = id
        self.added = added
        self.count = self.most = count
        self.reported: str | None = None
        self.bulky = False

    def advance(self, read: int) -> None:
        """Count *read* entries read in a row after :attr:`id` (which the reader moves)."""
        if read:
            if self.added is not None:
                self.added += read
            self.bulky = False
        if self.count < self.most:
            self.count = min(self.most, self.count * 2)

    def ask_for_fewer(self) -> bool:
        """Read fewer entries at once, the last reply having been too large; False at one."""
        if self.count == 1:
            return False
        self.most = max(1, self.count // 2)
        self.count = max(1, self.count // 8)
        return True


class Retry:
    """Jittered exponential back-off for a reader whose connection dropped."""

    #: The errors worth a retry: the connection dropped (or a reply was too large), or
    #: Redis refused a command (reported too: an operator may fix it, a failover end it).
    errors = (OSError, ReplyError)

    def __init__(self, reader: str) -> None:
        self._reader = reader
        self._delay = 0.0

    def reset(self) -> None:
        self._delay = 0.0

    async def wait(self, error: Exception) -> None:
        self._delay = min(RETRY_MAX, self._delay * 2 or RETRY_FIRST)
        delay = self._delay * random.uniform(0.5, 1.0)
        _logger.warning(
            "%s failed (%s); retrying in %.2f s", self._reader, error or type(error), delay
        )
        await anyio.sleep(delay)


def topic_filter(subscriber: SubscriberPort) -> Callable[[str | None], bool]:
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
