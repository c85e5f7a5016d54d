"""Consumer groups over Redis Streams: each message to one member, acknowledged once processed.

A member acknowledges (``XACK``) a message once its consumer has processed it (see
:class:`~mtbus.Subscriber`), so a message whose consumer failed or died stays pending;
after ``claim_idle`` a member claims it (``XAUTOCLAIM``) and it is delivered again: every
message is processed at least once.
"""

from __future__ import annotations

import itertools
import os
import socket
from collections import deque
from typing import TYPE_CHECKING, Any

import anyio

from .._core._exceptions import ChannelGapError, MessageDecodeError
from ._resp import ReplyError, ReplyTooLarge
from ._streams import (
    BATCH,
    BLOCK_MS,
    ID_PART_MAX,
    MEASURE_NEXT,
    START,
    STREAM_FACTS,
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
    from anyio.abc import TaskStatus

    from ._base import ChannelPort, SubscriberPort
    from ._connections import RedisClient
    from ._streams import Decode, Report

_members_named = itertools.count()  # the members given a default consumer name in this process


class GroupMember:
    """One consumer-group member: gives its subscriber a share of the stream, and
    acknowledges what the consumer has processed.

    Its reader has a connection of its own, since it blocks waiting for new entries. It
    reads only as many entries as the subscriber's queue has room for, so the queue never
    overflows (whatever its overflow policy) and a busy member leaves the rest to the
    others. Its acknowledger sends everything processed since its last ``XACK`` in one
    ``XACK`` through the channel's shared connection, which never blocks: acknowledgements
    go out as soon as the consumer asks for its next message, batched by themselves.
    """

    def __init__(
        self,
        subscriber: SubscriberPort,
        group: str,
        consumer: str,
        *,
        port: ChannelPort,
        key: str,
        client: RedisClient,
        commands: RedisClient,
        members: set[GroupMember],
        claim_idle: float,
        decode: Decode,
        report: Report,
    ) -> None:
        """Made by the channel's link (:class:`~mtbus.backends._redis_link.RedisLink`).

        :param port: the channel
        :param key: its stream
        :param client: the member's own connection (it blocks in ``XREAD``)
        :param commands: the channel's shared connection, for ``XACK``
        :param members: the link's running members, which this one joins while it runs
        :param claim_idle: seconds before it claims what other members left pending
        :param decode: the backend's entry decoder
        :param report: the backend's report of a gap or an undecodable entry
        """
        self._subscriber = subscriber
        self._group = group
        self._consumer = consumer
        self._port = port
        self._key = key
        self._client = client
        self._commands = commands
        self._members = members
        self._claim_idle = claim_idle
        self._decode = decode
        self._report = report
        self._wants = topic_filter(subscriber)
        # Entries given to the subscriber, oldest first: still queued, or taken by the
        # consumer and not processed yet (the message in hand).
        self._given: deque[str] = deque()
        self._to_acknowledge: list[str] = []  # processed (or skipped): for the next XACK
        # Given, to be acknowledged or being acknowledged: never given again meanwhile.
        self._held: set[str] = set()
        self._marked = 0  # how many entries were ever put in _to_acknowledge
        self._acknowledged = 0  # how many of those Redis acknowledged (they go in order)
        self._stopped = False  # the acknowledger has ended: nothing more will be sent
        self._wake: anyio.Event | None = None  # what the acknowledger waits on
        self._progress: anyio.Event | None = None  # what acknowledge() waits on
        self._claim_from = START  # where the next XAUTOCLAIM scan starts
        self._most = BATCH  # entries per read: fewer after a reply too large to take

    async def serve(self, start: str, *, task_status: TaskStatus[None]) -> None:
        """Join the group (creating it at *start* if it is new), then read and acknowledge.

        The reader stops when the subscriber is closed; the acknowledger once the consumer
        has nothing in hand either (a consumer may still receive, and process, what was
        queued).
        """
        try:
            await self._create_group(start)
            self._subscriber.attach_acknowledger(self)
            task_status.started()
            self._members.add(self)
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._acknowledge_until_done)
                await self._read_until_unsubscribed(start)
        finally:
            self._members.discard(self)
            with anyio.CancelScope(shield=True):
                await self._client.aclose()

    # -- what the subscriber tells it (mtbus.backends.Acknowledger) --------------------------

    def processed(self) -> None:
        """The consumer is done with the messages it has taken: acknowledge them soon."""
        taken = len(self._given) - self._subscriber.pending
        for _ in range(taken):
            self._acknowledge_later(self._given.popleft())

    def abandoned(self) -> None:
        """The consumer failed on the messages it has taken: they stay pending in Redis,
        where a member claims them after ``claim_idle``."""
        taken = len(self._given) - self._subscriber.pending
        for _ in range(taken):
            self._held.discard(self._given.popleft())
        self._wake_acknowledger()

    async def acknowledge(self) -> None:
        """Acknowledge every message the consumer has taken; return once Redis has."""
        self.processed()
        await self.acknowledge_processed()

    async def acknowledge_processed(self) -> None:
        """Wait until what the consumer processed so far is acknowledged (or never will be:
        the member has stopped)."""
        due = self._marked
        while self._acknowledged < due and not self._stopped:
            progress = self._progress
            if progress is None:
                progress = self._progress = anyio.Event()
            await progress.wait()

    # -- acknowledging -----------------------------------------------------------------------

    def _acknowledge_later(self, entry_id: str) -> None:
        self._to_acknowledge.append(entry_id)
        self._held.add(entry_id)
        self._marked += 1
        self._wake_acknowledger()

    def _wake_acknowledger(self) -> None:
        wake, self._wake = self._wake, None
        if wake is not None:
            wake.set()

    async def _acknowledge_until_done(self) -> None:
        """Send what is to be acknowledged, one ``XACK`` at a time, until the subscriber is
        closed and its consumer has nothing in hand.

        A failed ``XACK`` is sent again (after a back-off): meanwhile its entries stay
        pending, and if the process dies first, they are delivered again.
        """
        subscriber = self._subscriber
        retry = Retry(f"group {self._group!r} acknowledger of channel {self._port.name!r}")
        try:
            while True:
                if self._to_acknowledge:
                    done, self._to_acknowledge = self._to_acknowledge, []
                    try:
                        await self._commands.execute("XACK", self._key, self._group, *done)
                    except retry.errors as error:
                        self._to_acknowledge[:0] = done
                        await retry.wait(error)
                        continue
                    retry.reset()
                    self._held.difference_update(done)
                    self._acknowledged += len(done)
                    self._wake_waiters()
                elif subscriber.closed and len(self._given) <= subscriber.pending:
                    return
                else:
                    wake = self._wake = anyio.Event()
                    await wake.wait()
        finally:
            self._stopped = True
            self._wake_waiters()

    def _wake_waiters(self) -> None:
        progress, self._progress = self._progress, None
        if progress is not None:
            progress.set()

    # -- reading -----------------------------------------------------------------------------

    async def _read_until_unsubscribed(self, start: str) -> None:
        """Give the subscriber what fits in its queue until it is closed.

        First this member's own pending entries (left by an earlier run under the same
        consumer name, or read before a reconnection), then new ones, and every
        ``claim_idle`` the entries other members left unacknowledged that long.

        A reply too large to take (see ``ReplyTooLarge``) leaves the entries it carried
        pending for this member: it reads its pending entries again, fewer at a time,
        down to one; an entry too large on its own is reported and acknowledged unread
        (:meth:`_skip_too_large`), as the channel's reader skips one.
        """
        subscriber = self._subscriber
        retry = Retry(f"group {self._group!r} reader of channel {self._port.name!r}")
        claim_every = self._claim_idle
        next_claim = anyio.current_time() + claim_every
        pending_after: str | None = START  # reading its own pending entries after this ID
        newest: str | None = None  # the group's last entry, when a read found nothing new
        try:
            while await subscriber.wait_for_room():
                count = min(subscriber.room, self._most)
                try:
                    if pending_after is not None:
                        await self._create_group(start)  # gone, maybe, if a read failed
                        entries = await self._read_pending(pending_after, count)
                        pending_after = id_of(entries[-1]) if len(entries) >= count else None
                    elif anyio.current_time() >= next_claim:
                        entries = await self._claim(count)
                        next_claim = anyio.current_time() + claim_every
                    elif newest is not None:
                        await self._wait_for_new(newest)
                        newest = None
                        continue
                    else:
                        entries, newest = await self._read_new(count)
                except ReplyTooLarge:
                    if count == 1 and pending_after is not None:
                        pending_after = await self._skip_too_large(pending_after)
                    else:
                        self._most = max(1, count // 8)
                        pending_after, newest = START, None
                    continue
                except retry.errors as error:
                    await retry.wait(error)
                    pending_after, newest = START, None
                    continue
                retry.reset()
                self._most = min(BATCH, self._most * 2)
                await self._give(entries)
        finally:
            self._wake_acknowledger()  # so that it sees the subscriber closed

    async def _create_group(self, start: str) -> None:
        try:
            await self._client.execute(
                "XGROUP", "CREATE", self._key, self._group, start, "MKSTREAM"
            )
        except ReplyError as error:
            if not str(error).startswith("BUSYGROUP"):  # another member made it: fine
                raise

    def _read_command(self, count: int, after: str) -> tuple[str | int, ...]:
        """``XREADGROUP`` of *count* entries after *after* (``">"``: never read by the group)."""
        group, consumer, key = self._group, self._consumer, self._key
        return ("XREADGROUP", "GROUP", group, consumer, "COUNT", count, "STREAMS", key, after)

    async def _read_pending(self, after: str, count: int) -> list[Entry]:
        """This member's own pending entries after *after* (without fields if gone since)."""
        return entries_of(await self._client.execute(*self._read_command(count, after)))

    async def _skip_too_large(self, after: str) -> str:
        """Report and acknowledge this member's next pending entry after *after*, too large
        for a reply: Redis measures it (a read-only script), so its bytes never travel.

        :return: where to read this member's pending entries on from
        """
        key, group = self._key, self._group
        pending = await self._client.execute(
            "XPENDING", key, group, f"({after}", "+", 1, self._consumer
        )
        if not pending:
            return after  # acknowledged or claimed meanwhile: nothing to skip
        entry_id: str = pending[0][0].decode()
        measured = await self._client.execute("EVAL", MEASURE_NEXT, 1, key, entry_id)
        if measured is None or measured[0].decode() != entry_id:
            return after  # trimmed meanwhile: read as gone, it is small now
        limit = self._client.reply_limit
        self._report(self._port, too_large(self._port.name, entry_id, measured[1], limit))
        self._acknowledge_later(entry_id)
        return entry_id

    async def _read_new(self, count: int) -> tuple[list[Entry], str | None]:
        """Entries no member of the group has read yet, reporting those trimmed unread.

        The group's position and the stream's state come from the same transaction as the
        read, so they agree with it, and only the member whose read passes a gap reports it.

        :return: the entries, and if there are none, the group's last entry, to wait after
        """
        key = self._key
        *_, replies = await self._client.pipeline(
            [
                ("MULTI",),
                ("EVAL", STREAM_FACTS, 1, key),
                ("XINFO", "GROUPS", key),
                self._read_command(count, ">"),
                ("EXEC",),
            ]
        )
        if isinstance(replies, ReplyError):
            raise replies
        for reply in replies:
            if isinstance(reply, ReplyError):  # NOGROUP, say: the group was destroyed
                raise reply
        stream, groups, found = replies
        name = self._group.encode()
        group = next(each for each in map(named, groups) if each[b"name"] == name)
        entries = entries_of(found)
        if not entries:
            return entries, group[b"last-delivered-id"].decode()
        self._report_trimmed(named(stream), group, id_of(entries[0]))
        return entries, None

    def _report_trimmed(
        self, stream: dict[bytes, Any], group: dict[bytes, Any], resumed_at: str
    ) -> None:
        """Report the entries after the group's last one that are gone, if any.

        Trimming removes the oldest entries first: if the stream's first entry is newer
        than the group's last, entries between them may be gone. Redis 7 counts them
        (``entries-read``, ``entries-added``); on 6.2 it is reported without a count, and
        is a false alarm if only the group's last entry itself went.

        :param stream: what :data:`STREAM_FACTS` says, before the read
        :param group: what ``XINFO GROUPS`` says of this group, before the read
        """
        last = group[b"last-delivered-id"].decode()
        first = stream[b"first-entry"].decode()  # there is one: the read found entries
        if last == START or sort_key(first) <= sort_key(last):
            return  # a group made at "0", or on an empty stream, starts at the oldest kept
        lost = deleted_beyond(stream, group.get(b"entries-read"))  # gone, and not read
        if lost is not None and lost <= 0:
            return
        reason = (
            f"trimmed (by a MAXLEN or XTRIM) before any member of group {self._group!r} read them"
        )
        port = self._port
        error = ChannelGapError(port.name, last, resumed_at, lost=lost, reason=reason)
        self._report(port, error)

    async def _wait_for_new(self, after: str) -> None:
        """Wait (up to ``BLOCK_MS``) for an entry after *after*, without reading it.

        :meth:`_read_new` then reads it, checked: a blocking ``XREADGROUP`` cannot run in
        a transaction.
        """
        key = self._key
        await self._client.execute("XREAD", "COUNT", 1, "BLOCK", BLOCK_MS, "STREAMS", key, after)

    async def _claim(self, count: int) -> list[Entry]:
        """Entries other members left unacknowledged for ``claim_idle``, now this one's.

        Claimed without their fields (``JUSTID``), which a second round trip reads: with
        them, Redis 6.2 answers a claimed entry that was trimmed with nothing, not even
        its ID. Each call scans on from where the last one stopped.
        """
        key = self._key
        idle = int(self._claim_idle * 1000)
        reply = await self._client.execute(
            "XAUTOCLAIM",
            key,
            self._group,
            self._consumer,
            idle,
            self._claim_from,
            "COUNT",
            count,
            "JUSTID",
        )
        self._claim_from = reply[0].decode()
        claimed = [raw for raw in reply[1] if raw.decode() not in self._held]
        # Redis 7 lists the claimed entries it found trimmed apart (6.2 claims them).
        entries: list[Entry] = [(raw, None) for raw in reply[2]] if len(reply) > 2 else []
        if claimed:
            found = await self._client.pipeline([("XRANGE", key, raw, raw) for raw in claimed])
            for raw, kept in zip(claimed, found, strict=True):
                if isinstance(kept, ReplyError):
                    raise kept
                entries.append(kept[0] if kept else (raw, None))
        return entries

    async def _give(self, entries: list[Entry]) -> None:
        """Queue the entries the subscriber wants; acknowledge those it will never get."""
        port = self._port
        for raw_id, fields in entries:
            entry_id = raw_id.decode()
            if entry_id in self._held:
                continue  # read again (after a reconnection, say): it has it already
            if not fields:  # gone since it was given to a member
                reason = (
                    f"it was given to a member of group {self._group!r} and trimmed (or "
                    f"deleted) before any member acknowledged it"
                )
                error = ChannelGapError(
                    port.name, _just_before(entry_id), None, lost=1, reason=reason
                )
                self._report(port, error)
                self._acknowledge_later(entry_id)
                continue
            message = self._decode(port.name, entry_id, fields)
            if isinstance(message, MessageDecodeError):
                self._report(port, message)
                self._acknowledge_later(entry_id)
            elif not self._wants(message.topic):
                self._acknowledge_later(entry_id)
            elif await port.deliver_to(self._subscriber, message):
                self._given.append(entry_id)
                self._held.add(entry_id)
            # Otherwise it was unsubscribed meanwhile: the entry stays pending, for a member.


def default_consumer() -> str:
    """A consumer name no other member has: its host, its process, and a number.

    The number counts the members of the whole process: two channels of the same name in
    one process, under one name each, would share their pending messages.
    """
    return f"{socket.gethostname()}-{os.getpid()}-{next(_members_named)}"


def _just_before(entry_id: str) -> str:
    """The stream ID right before *entry_id*: a gap of that one entry starts after it."""
    milliseconds, sequence = sort_key(entry_id)
    if sequence:
        return f"{milliseconds}-{sequence - 1}"
    return f"{milliseconds - 1}-{ID_PART_MAX}"
