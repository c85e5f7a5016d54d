"""A channel's link to its stream: publishing, the lifecycle, and attaching subscribers.

Publishing appends an entry (``XADD`` with an approximate ``MAXLEN``); concurrent publishes
share round trips, and a publisher batch is one pipeline. Plain subscribers are fed by the
pump (:class:`~mtbus.backends._redis_pump.StreamPump`, which the link builds on), those
with ``since=`` once they have caught up; each consumer-group member reads alone
(:class:`~mtbus.backends._redis_groups.GroupMember`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from .._core._exceptions import ChannelError, ChannelFullError
from ._redis_groups import GroupMember, default_consumer
from ._redis_pump import StreamPump, Waiter
from ._resp import ReplyError
from ._streams import BATCH, START, STREAM_FACTS, Cursor, added_id, check_since, named, sort_key

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Mapping, Sequence

    from anyio.abc import TaskStatus

    from ._base import ChannelPort, Record, SubscriberPort
    from ._connections import RedisClient
    from ._streams import Decode, Report

    #: How the link makes the ``XADD`` command of one message: ``(key, channel, topic,
    #: data, metadata)``; raises if the message cannot be sent.
    Append = Callable[[str, str, str | None, Any, Mapping[str, Any]], bytes]


class RedisLink(StreamPump):
    """One channel's stream: its publisher side, its pump, and its subscribers' readers."""

    def __init__(
        self,
        port: ChannelPort,
        *,
        key: str,
        new_client: Callable[[], RedisClient],
        connect_timeout: float,
        url: str,
        reason: Callable[[BaseException, str], str],
        append: Append,
        decode: Decode,
        report: Report,
        claim_idle: float,
    ) -> None:
        """Made by :meth:`~mtbus.backends.RedisBackend.connect`, with what it needs of the
        backend.

        :param port: the channel
        :param key: its stream
        :param new_client: a new connection to the server (it connects when first used)
        :param connect_timeout: seconds to connect before :meth:`run` gives up
        :param url: the server's URL, for messages (its password hidden)
        :param reason: why connecting to (or using) a key failed, in words
        :param append: the backend's encoder of a message into its ``XADD`` command
        :param decode: the backend's entry decoder
        :param report: the backend's report of a gap or an undecodable entry
        :param claim_idle: seconds before a consumer-group member claims what other
            members left pending
        """
        super().__init__(port, key=key, decode=decode, report=report)
        self._new_client = new_client
        self._connect_timeout = connect_timeout
        self._url = url
        self._reason = reason
        self._append = append
        self._claim_idle = claim_idle
        self._members: set[GroupMember] = set()  # consumer-group readers running now

    # -- lifecycle -----------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None]) -> None:
        """Connect, find the stream's end, and pump until the channel closes."""
        commands, reader = self._new_client(), self._new_client()
        try:
            try:
                with anyio.fail_after(self._connect_timeout):
                    stream = await commands.execute("EVAL", STREAM_FACTS, 1, self._key)
                    await reader.connection()
            except (OSError, ReplyError) as error:
                raise ChannelError(
                    f"cannot connect channel {self._port.name!r} to Redis at "
                    f"{self._url}: {self._reason(error, self._key)}"
                ) from error
            # The pump starts after every entry the stream has had (none if it is new).
            if stream is None:
                self._cursor = Cursor(START, 0, BATCH)
            else:
                info = named(stream)
                last = info[b"last-generated-id"].decode()
                self._cursor = Cursor(last, info.get(b"entries-added"), BATCH)
            self._delivered = self._cursor.id
            self._written = self._started = sort_key(self._delivered)
            async with anyio.create_task_group() as tasks:
                self._commands, self._tasks = commands, tasks
                tasks.start_soon(self._pump, reader)
                task_status.started()
        finally:
            self._commands = self._tasks = None
            self._settle_all()
            with anyio.CancelScope(shield=True):
                await commands.aclose()
                await reader.aclose()

    async def aclose(self) -> None:
        """Stop every reader of this channel; publishers waiting on delivery get 0.

        Group members first send the acknowledgements of what their consumers have
        processed (not of the messages in hand: those are delivered again).
        """
        with anyio.move_on_after(2):
            for member in list(self._members):
                await member.acknowledge_processed()
        if self._tasks is not None:
            self._tasks.cancel_scope.cancel()
        self._settle_all()

    # -- publishing ----------------------------------------------------------------------

    def send(
        self, topic: str | None, data: Any, metadata: Mapping[str, Any]
    ) -> Coroutine[Any, Any, int]:
        """Encode now (so a bad payload raises at the call), append when awaited."""
        commands = self._connected("publish to")
        command = self._append(self._key, self._port.name, topic, data, metadata)
        return self._publish(commands, command, topic)

    async def _publish(self, commands: RedisClient, command: bytes, topic: str | None) -> int:
        self._publishing += 1
        try:
            try:
                [reply] = await commands.request(command, 1)
            except OSError:
                [reply] = await self._store_again(commands, command, 1)
            outcome = self._outcome(added_id(self._port.name, reply), topic)
            if isinstance(outcome, Waiter):
                outcome = await self._delivery(outcome)
        finally:
            self._done_publishing(1)
        if isinstance(outcome, ChannelFullError):
            raise outcome
        return outcome

    async def send_batch(
        self, records: Sequence[Record], results: list[int | Exception], *, stop_at_error: bool
    ) -> None:
        """Store *records* with one pipeline; append one result per record to *results*.

        A record that cannot be encoded gets its error as its result; with *stop_at_error*,
        the records after it are not sent (and get no result).
        """
        try:
            commands = self._connected("publish to")
        except ChannelError as error:
            results.extend([error] if stop_at_error else [error for _ in records])
            return
        encoded: list[bytes | Exception] = []
        for topic, data, metadata in records:
            try:
                encoded.append(self._append(self._key, self._port.name, topic, data, metadata))
            except (TypeError, ValueError) as error:
                encoded.append(error)
                if stop_at_error:
                    break
        sent = [command for command in encoded if isinstance(command, bytes)]
        self._publishing += len(sent)
        try:
            replies: list[Any] = []
            if sent:
                data = b"".join(sent)
                try:
                    replies = await commands.request(data, len(sent))
                except OSError:
                    try:
                        replies = await self._store_again(commands, data, len(sent))
                    except ChannelError as error:
                        replies = [error] * len(sent)
            stored = iter(replies)
            for record, command in zip(records, encoded, strict=False):
                if isinstance(command, Exception):
                    results.append(command)
                    continue
                try:
                    entry_id = added_id(self._port.name, next(stored))
                except ChannelError as error:
                    results.append(error)
                    continue
                outcome = self._outcome(entry_id, record[0])
                if isinstance(outcome, Waiter):
                    outcome = await self._delivery(outcome)
                results.append(outcome)
        finally:
            self._done_publishing(len(sent))

    async def _store_again(self, commands: RedisClient, data: bytes, count: int) -> list[Any]:
        """Send *count* packed ``XADD`` commands once more, their connection found dropped.

        The connection is replaced (the server restarted, say): the server most likely
        never saw them, and if it did, a message stored twice is better than one lost.
        """
        try:
            return await commands.request(data, count)
        except OSError as error:
            raise ChannelError(f"cannot publish to channel {self._port.name!r}: {error}") from error

    # -- subscribers the backend feeds itself ----------------------------------------------

    async def attach(
        self,
        subscriber: SubscriberPort,
        *,
        since: str | None,
        group: str | None,
        consumer: str | None,
    ) -> bool:
        """Plain subscribers join the pump; ``since=`` catches up first; groups read alone."""
        if since is not None:
            since = check_since(since)
        tasks = self._running("subscribe to")
        if group is not None:
            name = consumer or default_consumer()
            member = GroupMember(
                subscriber,
                group,
                name,
                port=self._port,
                key=self._key,
                client=self._new_client(),
                commands=self._connected("subscribe to"),
                members=self._members,
                claim_idle=self._claim_idle,
                decode=self._decode,
                report=self._report,
            )
            await tasks.start(member.serve, "$" if since is None else since)
            return False
        if since is None or since == "$":
            written = self._written
            if written <= sort_key(self._delivered):
                return True
            self._joining.append((written, subscriber))
            return False
        subscriber.start_at(since)
        tasks.start_soon(self._catch_up, subscriber, since)
        return False
