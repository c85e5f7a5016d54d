"""Consumer groups over Redis Streams: each message to one member, acknowledged once received."""

from __future__ import annotations

import os
import socket
from contextlib import suppress
from itertools import islice
from typing import TYPE_CHECKING, Any

import anyio

from .._exceptions import ChannelGapError, MessageDecodeError
from ._resp import ReplyError
from ._streams import BATCH, BLOCK_MS, START, Entry, Retry, entries_of, topic_filter

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

    from .._subscriber import Subscriber
    from ._redis import RedisLink


class GroupMember:
    """One consumer-group member: reads its share, acks what its subscriber received.

    It has a connection of its own, since it blocks in ``XREADGROUP``.
    """

    def __init__(
        self, link: RedisLink, subscriber: Subscriber[Any], group: str, consumer: str
    ) -> None:
        self._link = link
        self._subscriber = subscriber
        self._group = group
        self._consumer = consumer
        self._wants = topic_filter(subscriber)
        self._client = link._backend._client()  # its own: it blocks in XREADGROUP
        # Acknowledgements go through the channel's shared connection, which never blocks:
        # on its own they would wait behind a blocked read, for up to a second, at shutdown.
        self._acks = link._connected("subscribe to")
        self._unacked: dict[str, None] = {}  # delivered to the queue, oldest first
        self._taken = 0  # how many delivered ones it had received at the last acknowledgement

    async def serve(self, start: str, *, task_status: TaskStatus[None]) -> None:
        """Join the group (creating it at *start* if it is new), then read until unsubscribed."""
        try:
            await self._create_group(start)
            task_status.started()
            self._link._members.add(self)
            try:
                await self._read_until_unsubscribed(start)
            finally:
                self._link._members.discard(self)
        finally:
            with anyio.CancelScope(shield=True):
                await self._client.aclose()

    async def _read_until_unsubscribed(self, start: str) -> None:
        link = self._link
        key = link._key
        subscriber = self._subscriber
        retry = Retry(f"group {self._group!r} reader of channel {link._port.name!r}")
        pending_first = True  # after (re)connecting, our own unacknowledged entries come first
        claim_every = link._backend._claim_idle
        next_claim = anyio.current_time() + claim_every
        try:
            while not subscriber.is_closed:
                try:
                    if pending_first:
                        await self._create_group(start)
                    await self._acknowledge()
                    if pending_first:
                        entries = await self._read("0", block=None)
                        pending_first = len(entries) >= BATCH
                    elif anyio.current_time() >= next_claim:
                        entries = await self._claim()
                        next_claim = anyio.current_time() + claim_every
                    else:
                        entries = await self._read(">", block=BLOCK_MS)
                except retry.errors as error:
                    await retry.wait(error)
                    pending_first = True
                    continue
                retry.reset()
                skipped = []
                for raw_id, fields in entries:
                    entry_id = raw_id.decode()
                    if entry_id in self._unacked:
                        continue  # re-read after a reconnect: already queued
                    if not fields:  # claimed, but trimmed meanwhile
                        link._backend._report(
                            link._port, ChannelGapError(link._port.name, entry_id, None)
                        )
                        skipped.append(entry_id)
                        continue
                    message = link._backend._decode(link._port.name, entry_id, fields)
                    if isinstance(message, MessageDecodeError):
                        link._backend._report(link._port, message)
                        skipped.append(entry_id)
                    elif not self._wants(message.topic):
                        skipped.append(entry_id)
                    elif await link._port.deliver_to(subscriber, message):
                        self._unacked[entry_id] = None
                if skipped:  # if this fails, they are claimed (and skipped) again later
                    with suppress(*retry.errors):
                        await self._acks.execute("XACK", key, self._group, *skipped)
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                await self.acknowledge()

    async def _create_group(self, start: str) -> None:
        try:
            await self._client.execute(
                "XGROUP", "CREATE", self._link._key, self._group, start, "MKSTREAM"
            )
        except ReplyError as error:
            if not str(error).startswith("BUSYGROUP"):  # another member made it: fine
                raise

    async def _read(self, after: str, *, block: int | None) -> list[Entry]:
        subscriber = self._subscriber
        room = subscriber._capacity - len(subscriber._queue)
        count = max(1, min(room, BATCH))
        waiting = ("BLOCK", block) if block is not None else ()
        reply = await self._client.execute(
            "XREADGROUP",
            "GROUP",
            self._group,
            self._consumer,
            "COUNT",
            count,
            *waiting,
            "STREAMS",
            self._link._key,
            after,
        )
        return entries_of(reply)

    async def _claim(self) -> list[Entry]:
        idle = int(self._link._backend._claim_idle * 1000)
        claimed = await self._client.execute(
            "XAUTOCLAIM",
            self._link._key,
            self._group,
            self._consumer,
            idle,
            START,
            "COUNT",
            BATCH,
        )
        entries: list[Entry] = claimed[1]
        for gone in claimed[2] if len(claimed) > 2 else ():
            error = ChannelGapError(self._link._port.name, gone.decode(), None)
            self._link._backend._report(self._link._port, error)
        return entries

    async def acknowledge(self) -> None:
        """Acknowledge what the subscriber has received, if the connection allows.

        What is not acknowledged stays pending, and a member claims it later.
        """
        with suppress(*Retry.errors):
            await self._acknowledge()

    async def _acknowledge(self) -> None:
        """Acknowledge the delivered entries the subscriber has received since last time."""
        subscriber = self._subscriber
        received = subscriber._delivered - len(subscriber._queue)
        count = received - self._taken
        if count <= 0:
            return
        self._taken = received
        unacked = self._unacked
        done = list(islice(unacked, count))
        for entry_id in done:
            del unacked[entry_id]
        # If this fails, the entries stay pending in Redis, and a member claims them later.
        await self._acks.execute("XACK", self._link._key, self._group, *done)


def check_group_options(subscriber: Subscriber[Any], group: str, consumer: str | None) -> None:
    for option, value in (("group", group), ("consumer", consumer)):
        if value is not None and not value:
            raise ValueError(f"{option} must not be empty")
    if subscriber._overflow != "block":
        raise ValueError(
            f"a consumer-group subscriber acknowledges what it received, so it cannot drop "
            f"messages: overflow must be 'block', not {subscriber._overflow!r}"
        )


def default_consumer(subscriber: Subscriber[Any]) -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{subscriber.sequence}"
