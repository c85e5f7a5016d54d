"""The pump: one reader per channel and process, reading its stream in order for the local
subscribers.

It reads with blocking ``XREAD`` calls from the last entry it delivered and fans each entry
out to the local subscribers, so every process sees one total order, and a dropped
connection costs a retry, not messages. Every read checks that the entry read last is still
there, so whatever removed unread entries (trimming, deletion, a restart from an older
snapshot) is reported as a gap, never silent. Subscribers with ``since=`` catch up from the
stream before they join it; a publisher of this process that must wait learns from it how
the local delivery of its message went.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, TypeAlias

import anyio

from .._core._exceptions import (
    ChannelClosedError,
    ChannelError,
    ChannelFullError,
    ChannelGapError,
    MessageDecodeError,
)
from ._resp import ReplyError, ReplyTooLarge, pack
from ._streams import (
    BATCH,
    BLOCK_MS,
    MEASURE_NEXT,
    START,
    STREAM_FACTS,
    Cursor,
    Entry,
    Retry,
    deleted_beyond,
    entries_of,
    id_of,
    named,
    sort_key,
    too_large,
    topic_filter,
)

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from ._base import ChannelPort, SubscriberPort
    from ._connections import RedisClient
    from ._streams import Decode, Report

#: How many delivery outcomes the pump keeps for publishers that have not heard back
#: from ``XADD`` yet (their entry was delivered before its reply reached them).
OUTCOMES_KEPT: Final = 4 * BATCH

#: What the pump tells a local publisher: how many local subscribers got its message, or the
#: ChannelFullError that memory's publish would have raised (an "error" subscriber was full).
Outcome: TypeAlias = "int | ChannelFullError"


class Waiter:
    """A publisher waiting for the pump to deliver its own message locally."""

    __slots__ = ("done", "entry_id", "outcome")

    def __init__(self, entry_id: str) -> None:
        self.entry_id = entry_id
        self.done = anyio.Event()
        self.outcome: Outcome = 0


class StreamPump:
    """The reading side of one channel's link: its pump, the catch-ups of subscribers that
    join the pump, and what the pump tells this process's publishers.

    :class:`~mtbus.backends._redis_link.RedisLink` builds on it, adding publishing, the
    lifecycle (which sets the shared connection and the task group) and attaching
    subscribers.

    :param port: the channel
    :param key: its stream
    :param decode: the backend's entry decoder
    :param report: the backend's report of a gap or an undecodable entry
    """

    def __init__(self, port: ChannelPort, *, key: str, decode: Decode, report: Report) -> None:
        self._port = port
        self._key = key
        self._decode = decode
        self._report = report
        self._commands: RedisClient | None = None  # publishing, checks and catch-ups
        self._tasks: TaskGroup | None = None
        # The pump's place in the stream: the last entry whose local delivery has started.
        self._cursor = Cursor(START, None, BATCH)
        self._delivered = START  # the last entry whose local delivery has finished
        # The sort key of the newest entry this process's publishers heard back about, and
        # of the entry the pump started after (catch-ups report what lies before it).
        self._written = self._started = sort_key(START)
        # Publishers that sent XADD and have not heard back, those waiting for the pump to
        # deliver their entry, and what the pump delivered before its publisher heard back.
        self._publishing = 0
        self._waiters: dict[str, Waiter] = {}
        self._outcomes: dict[str, Outcome] = {}
        # Subscribers that join the pump once it has passed the newest entry this process
        # wrote before they subscribed (so they do not receive what was published before).
        self._joining: list[tuple[tuple[int, int], SubscriberPort]] = []

    def _running(self, action: str) -> TaskGroup:
        if self._tasks is None:
            raise ChannelError(
                f"cannot {action} channel {self._port.name!r}: a channel over Redis must be "
                f"opened first, with `async with channel:`"
            )
        return self._tasks

    def _connected(self, action: str) -> RedisClient:
        self._running(action)
        assert self._commands is not None  # set together with the task group
        return self._commands

    # -- the pump: the stream, in order, to every local subscriber --------------------------

    async def _pump(self, reader: RedisClient) -> None:
        deliver = self._port.deliver
        decode = self._decode
        channel = self._port.name
        cursor = self._cursor
        retry = Retry(f"reader of channel {channel!r}")
        reconnected = False  # then the stream may have changed in any way: examine it
        while True:
            try:
                if reconnected:
                    entries = await self._read_examined(reader, cursor)
                else:
                    entries = await self._read(reader, cursor, block=True)
            except retry.errors as error:
                await self._recover(error, retry, cursor)
                reconnected = not isinstance(error, ReplyTooLarge)  # that one it dropped
                continue
            retry.reset()
            reconnected = False
            if not entries and self._joining:
                self._join(None)  # nothing newer is left: what they waited for is gone
            for raw_id, fields in entries:
                entry_id = cursor.id = raw_id.decode()
                message = decode(channel, entry_id, fields or [])
                outcome: Outcome
                if isinstance(message, MessageDecodeError):
                    self._report(self._port, message)
                    outcome = 0
                else:
                    try:
                        outcome = await deliver(
                            message.topic, message.data, message.metadata, entry_id
                        )
                    except ChannelFullError as error:  # the others have it; the drop is counted
                        outcome = error
                    except ChannelClosedError:  # closed while this waited for room: done
                        return
                self._delivered = entry_id
                if self._publishing:
                    self._settle(entry_id, outcome)
                if self._joining:
                    self._join(entry_id)
            if self._waiters:
                self._settle_passed()

    async def _recover(self, error: Exception, retry: Retry, cursor: Cursor) -> None:
        """After a read failed: ask for fewer entries, skip one too large, or wait and retry."""
        if isinstance(error, ReplyTooLarge):
            if cursor.ask_for_fewer():
                return
            try:
                await self._skip_too_large(cursor)
                return
            except retry.errors as failure:
                error = failure
        await retry.wait(error)

    async def _read(self, client: RedisClient, cursor: Cursor, *, block: bool) -> list[Entry]:
        """The next entries after the cursor; a gap (entries after it gone) is reported.

        Redis silently resumes at the oldest entry it still has, so the same round trip
        asks, right after the read, whether the cursor entry is still there: trimming
        removes the oldest entries first, so if it survived, nothing after it was trimmed.
        Only when it is gone does the reader look closer (:meth:`_read_examined`). A
        blocking read waits up to a second for new entries.
        """
        key, after = self._key, cursor.id
        waiting = ("BLOCK", BLOCK_MS) if block else ()
        read = pack("XREAD", "COUNT", cursor.count, *waiting, "STREAMS", key, after)
        if cursor.bulky:  # it was there a moment ago, when Redis measured it
            [found], kept = await client.request(read, 1), True
        else:
            found, kept = await client.request(read + pack("XRANGE", key, after, after), 2)
        if isinstance(found, ReplyError):
            raise found
        if not kept:
            return await self._read_examined(client, cursor)
        entries = entries_of(found)
        cursor.advance(len(entries))
        return entries

    async def _read_examined(self, client: RedisClient, cursor: Cursor) -> list[Entry]:
        """The next entries after the cursor, reporting what was lost, if anything.

        For when the cursor entry was found gone, or the server may have restarted. The
        stream's state and the read come from one transaction, so they agree.
        """
        key, after = self._key, cursor.id
        written = self._written  # entries stored before the transaction, at the latest
        check = ("EXISTS", key) if cursor.bulky else ("XRANGE", key, after, after)
        *_, replies = await client.pipeline(
            [
                ("MULTI",),
                ("EVAL", STREAM_FACTS, 1, key),
                check,
                ("XREAD", "COUNT", cursor.count, "STREAMS", key, after),
                ("EXEC",),
            ]
        )
        if isinstance(replies, ReplyError):
            raise replies
        stream, kept, found = replies
        for reply in (stream, found):
            if isinstance(reply, ReplyError):
                raise reply
        entries = entries_of(found)
        resumed = id_of(entries[0]) if entries else None
        info = None if stream is None else named(stream)
        gap = _examine(cursor, info, bool(kept), written)
        if gap is not None and info is not None and self._written == written:
            # What this process wrote is gone, and said: the next check starts from here.
            self._written = min(written, sort_key(info[b"last-generated-id"].decode()))
        cursor.advance(len(entries))
        if gap is not None and cursor.reported != after:
            cursor.reported = after  # report it once, however often it is read from
            lost, reason = gap
            error = ChannelGapError(self._port.name, after, resumed, lost=lost, reason=reason)
            self._report(self._port, error)
        return entries

    def _report_skipped(self, cursor: Cursor, error: MessageDecodeError) -> None:
        """Report an entry a reader skipped, unless the pump reads (and reports) it too."""
        if cursor is self._cursor or sort_key(error.id) <= self._started:
            self._report(self._port, error)

    async def _skip_too_large(self, cursor: Cursor) -> None:
        """Pass over the entry after the cursor, too large to read: it is reported, unread.

        Redis measures it (a read-only script), so its bytes never travel.
        """
        commands = self._connected("read")
        reply = await commands.execute("EVAL", MEASURE_NEXT, 1, self._key, f"({cursor.id}")
        limit = commands.reply_limit
        if reply is None or reply[1] <= limit:  # gone meanwhile, or not what was too large
            return
        entry_id, size = reply[0].decode(), reply[1]
        cursor.id = entry_id
        cursor.advance(1)
        cursor.bulky = True
        self._report_skipped(cursor, too_large(self._port.name, entry_id, size, limit))

    def _join(self, entry_id: str | None) -> None:
        """Admit the joining subscribers the pump has now passed (all, if *entry_id* is None)."""
        passed = None if entry_id is None else sort_key(entry_id)
        joining = []
        for start, subscriber in self._joining:
            if passed is None or start <= passed:
                self._port.admit(subscriber)
            else:
                joining.append((start, subscriber))
        self._joining = joining

    # -- catching up: subscribers with since= join the pump once they reach it ----------

    async def _catch_up(self, subscriber: SubscriberPort, since: str) -> None:
        """Deliver the kept entries after *since* to *subscriber*, then hand it to the pump.

        The pump delivers everything after its position, so the subscriber joins it at a
        moment when it has had every entry up to that position (the pump may have moved on
        while the catch-up read: then it reads again). The check and the join happen with
        no await in between.
        """
        client = self._connected("subscribe to")
        wants = topic_filter(subscriber)
        retry = Retry(f"catch-up reader of channel {self._port.name!r}")
        cursor = Cursor(since, None, BATCH)
        while not subscriber.closed:
            try:
                entries = await self._read(client, cursor, block=False)
            except retry.errors as error:
                await self._recover(error, retry, cursor)
                continue
            retry.reset()
            position = sort_key(self._cursor.id)
            if entries and sort_key(id_of(entries[-1])) <= position:
                due = entries  # all of them (the common case while catching up)
            else:
                due = [entry for entry in entries if sort_key(id_of(entry)) <= position]
            if not due and position <= sort_key(cursor.id):  # nothing between it and the pump
                self._port.admit(subscriber)
                return
            for raw_id, fields in due:
                entry_id = cursor.id = raw_id.decode()
                message = self._decode(self._port.name, entry_id, fields or [])
                if isinstance(message, MessageDecodeError):
                    self._report_skipped(cursor, message)
                elif wants(message.topic):
                    await self._port.deliver_to(subscriber, message)

    # -- what this process's publishers hear from the pump ------------------------------

    def _outcome(self, entry_id: str, topic: str | None) -> Outcome | Waiter:
        """What publishing *entry_id* did here: how many local subscribers queue it.

        Waits for the pump (a :class:`Waiter` to await) only when the answer depends on
        it: a matching subscriber has a bounded queue (it may be full: then, as in memory,
        the publisher waits, or fails under the ``error`` policy), or subscribers are joining
        the pump. Unbounded queues take every message, so their number is the answer.
        """
        key = sort_key(entry_id)
        if key > self._written:
            self._written = key
        if key <= sort_key(self._delivered):  # the pump was quicker
            return self._outcomes.pop(entry_id, 0)
        if self._tasks is None:
            return 0
        if not self._joining:
            reached, bounded = self._port.audience(topic)
            if not bounded:
                return reached
        waiter = self._waiters[entry_id] = Waiter(entry_id)
        return waiter

    async def _delivery(self, waiter: Waiter) -> Outcome:
        """What the pump did with a publisher's entry, once it has."""
        try:
            await waiter.done.wait()
        finally:
            self._waiters.pop(waiter.entry_id, None)
        return waiter.outcome

    def _done_publishing(self, count: int) -> None:
        self._publishing -= count
        if not self._publishing:
            self._outcomes.clear()

    def _settle(self, entry_id: str, outcome: Outcome) -> None:
        """Tell the publisher of *entry_id* (if it is this process) how its delivery went."""
        waiter = self._waiters.pop(entry_id, None)
        if waiter is not None:
            waiter.outcome = outcome
            waiter.done.set()
            return
        outcomes = self._outcomes  # its publisher may not have heard back from XADD yet
        outcomes[entry_id] = outcome
        if len(outcomes) > OUTCOMES_KEPT:
            del outcomes[next(iter(outcomes))]

    def _settle_passed(self) -> None:
        """Release publishers whose entries the pump went past without delivering."""
        delivered = sort_key(self._delivered)
        for entry_id in [i for i in self._waiters if sort_key(i) <= delivered]:
            self._settle(entry_id, 0)

    def _settle_all(self) -> None:
        for waiter in self._waiters.values():
            waiter.done.set()
        self._waiters.clear()


_OLDER: Final = (
    "the stream is older than what was read: the server restarted from an older snapshot, "
    "or the stream was deleted and written again"
)

_OLDER_THAN_WRITTEN: Final = (
    "messages this process stored are gone: the server restarted from an older snapshot"
)


def _examine(
    cursor: Cursor, stream: dict[bytes, Any] | None, kept: bool, written: tuple[int, int]
) -> tuple[int | None, str] | None:
    """Whether entries after the cursor were lost: how many (if Redis can tell), and how.

    *stream* is what ``XINFO STREAM`` says (``None``: the stream does not exist), *kept*
    whether the cursor entry is still there, and *written* the sort key of the newest entry
    this process stored. Moves the cursor where the stream has gone back, and sets how many
    entries the stream had received up to it, where Redis tells (from version 7).
    """
    after = cursor.id
    if kept:  # nothing after it was trimmed; only this process's own entries may be gone
        if stream is not None and sort_key(stream[b"last-generated-id"].decode()) < written:
            return None, _OLDER_THAN_WRITTEN
        return None
    if stream is None:
        cursor.id, cursor.added = START, 0
        return None if after == START else (None, "the stream was deleted")
    added: int | None = stream.get(b"entries-added")
    last = stream[b"last-generated-id"].decode()
    if sort_key(last) < sort_key(after):
        cursor.id, cursor.added = last, added
        return None, _OLDER
    if added is not None and cursor.added is not None and added < cursor.added:
        cursor.added = None  # where it is in the stream's count is lost with the count
        return None, _OLDER
    if sort_key(last) < written:
        return None, _OLDER_THAN_WRITTEN
    first = stream[b"first-entry"]
    if first is None or sort_key(first.decode()) > sort_key(after):  # trimmed past the cursor
        lost = deleted_beyond(stream, cursor.added)
        if added is not None:
            cursor.added = added - stream[b"length"]  # up to the first entry still there
        if lost is not None and lost < 0:  # fewer deletions than entries it has read
            return None, "the stream was deleted and written again"
        if lost == 0 or (lost is None and after == START):
            return None
        return lost, "trimmed (by a MAXLEN or XTRIM) before this process read them"
    # Older entries are kept, but the cursor entry is gone.
    deleted = stream.get(b"max-deleted-entry-id")
    if deleted is None:  # Redis 6 cannot tell one from the other
        return None, (
            "the message read last is gone while older ones are kept: deleted (XDEL), or "
            "the server restarted from an older snapshot"
        )
    if sort_key(deleted.decode()) > sort_key(after):
        return None, "deleted (XDEL) before this process read them"
    if sort_key(deleted.decode()) == sort_key(after):
        return None  # only the message read last was deleted
    return None, _OLDER
