"""Channels over Redis Streams: one stream per channel, shared by every process that uses it.

Publishing appends an entry (``XADD`` with an approximate ``MAXLEN``); one reader task per
channel and process (the *pump*) reads the stream with blocking ``XREAD`` calls from the
last entry it delivered and fans each entry out to the local subscribers, so every process
sees one total order, and a dropped connection costs a retry, not messages. Every read
checks that the entry read last is still there, so whatever removed unread entries (trimming,
deletion, a restart from an older snapshot) is reported as a gap, never silent. Subscribers
with ``since=`` catch up from the stream before they join the pump; consumer-group members
each have a reader of their own (``XREADGROUP``), acknowledge what their subscriber has
processed, and claim what a dead member left pending (``XAUTOCLAIM``).
"""

from __future__ import annotations

import logging
import socket
import ssl
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import anyio

from .._core._checks import check_count, check_metadata, check_seconds
from .._core._exceptions import (
    ChannelClosedError,
    ChannelError,
    ChannelFullError,
    ChannelGapError,
    MessageDecodeError,
)
from .._core._message import NO_METADATA, Message, new_message
from .._core._topics import validate_name
from ._codecs import Codec, JsonCodec, safe_codecs
from ._connections import RedisClient
from ._redis_groups import GroupMember, default_consumer
from ._resp import RedisAddress, ReplyError, ReplyTooLarge, pack, require_hiredis
from ._streams import (
    BATCH,
    BLOCK_MS,
    MEASURE_NEXT,
    START,
    STREAM_FACTS,
    TOPICS_REMEMBERED,
    Cursor,
    Entry,
    Retry,
    check_since,
    deleted_beyond,
    entries_of,
    id_of,
    named,
    sort_key,
    topic_filter,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Mapping, Sequence

    from anyio.abc import TaskGroup, TaskStatus

    from ._base import ChannelPort, Link, Record, SubscriberPort

_logger = logging.getLogger("mtbus")

STREAM_LENGTH_MAX: Final = 2**63 - 1  # the largest MAXLEN Redis takes
MESSAGE_BYTES_MAX: Final = 512 << 20  # the largest string Redis takes (proto-max-bulk-len)
REPLY_LIMIT_LEAST: Final = 16 << 20  # the least bytes a reply may have
#: How many delivery outcomes the pump keeps for publishers that have not heard back
#: from ``XADD`` yet (their entry was delivered before its reply reached them).
OUTCOMES_KEPT: Final = 4 * BATCH


class RedisBackend:
    """Carry channels over Redis Streams, so several processes (and hosts) share them.

    Each channel is one stream, ``{key_prefix}{<channel name>}``, trimmed to about
    *maxlen* entries. Topic patterns are matched in each process, with the same rules as
    in memory. A channel over Redis must be entered (``async with channel:``) to connect.

    Publishing returns once Redis has stored the message; when subscribers of this process
    match its topic, it also waits until they have it, so publish counts them and their
    overflow policies act on the publisher as in memory (see :meth:`~mtbus.Channel.publish`).
    Concurrent publishes share round trips (one write carries every command issued while
    the previous write was in flight), and a publisher batch is one pipeline.

    Needs ``pip install 'mtbus[redis]'`` (``hiredis``, Redis's C protocol parser; mtbus
    speaks to the server itself, over anyio, so it runs on asyncio and trio).

    :param url: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` (TLS) or
        ``unix:///path/to/socket[?db=N]``; the password never shows in reprs or messages
    :param maxlen: about how many messages each stream keeps (Redis trims whole nodes,
        so a few more may stay); a reader that falls further behind sees a gap, which is
        reported, never silent
    :param codec: how payloads become bytes (default :class:`JsonCodec`); receivers also
        decode the safe codecs (JSON, MessagePack), and an unsafe one only if it is
        their own
    :param max_message_bytes: the largest encoded message publish accepts; a receiver
        skips (and counts as undecodable) larger entries another writer stored
    :param key_prefix: the start of every stream key
    :param claim_idle: seconds a message may stay unacknowledged with a consumer-group
        member before another member claims it (the first one presumably died)
    :param on_error: called with each :exc:`~mtbus.ChannelGapError` and
        :exc:`~mtbus.MessageDecodeError` (they are also logged and counted)
    :param ssl_context: for ``rediss://``: the TLS settings (default: the system's
        certificate authorities, and the host name checked)
    :param connect_timeout: seconds to connect and log in before ``async with channel:``
        gives up with a :exc:`~mtbus.ChannelError`
    """

    __slots__ = (
        "_accepted",
        "_address",
        "_claim_idle",
        "_codec",
        "_connect_timeout",
        "_key_prefix",
        "_max_message_bytes",
        "_maxlen",
        "_on_error",
        "_reply_limit",
        "_ssl_context",
        "_topics",
    )

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        *,
        maxlen: int = 10_000,
        codec: Codec | None = None,
        max_message_bytes: int = 1 << 20,
        key_prefix: str = "mtbus:",
        claim_idle: float = 30.0,
        on_error: Callable[[ChannelError], object] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        require_hiredis()
        self._address = RedisAddress(url)  # not a str: a TypeError that shows no bytes
        self._maxlen = check_count(maxlen, "maxlen", minimum=1, maximum=STREAM_LENGTH_MAX)
        self._codec = JsonCodec() if codec is None else _check_codec(codec)
        self._accepted = {**safe_codecs(), self._codec.name: self._codec}
        self._max_message_bytes = check_count(
            max_message_bytes, "max_message_bytes", minimum=1, maximum=MESSAGE_BYTES_MAX
        )
        # Replies are bounded, whoever wrote the entries: enough for a batch of messages
        # of ordinary size, or a few of the largest allowed.
        self._reply_limit = max(REPLY_LIMIT_LEAST, 4 * self._max_message_bytes)
        self._topics: dict[bytes, str] = {}  # topics read, checked once each
        self._connect_timeout = check_seconds(connect_timeout, "connect_timeout", positive=True)
        if not isinstance(key_prefix, str):
            kind = type(key_prefix).__name__
            raise TypeError(f"key_prefix must be a str, not {kind}: {key_prefix!r}")
        self._key_prefix = key_prefix
        self._claim_idle = check_seconds(claim_idle, "claim_idle", positive=True)
        if on_error is not None and not callable(on_error):
            raise TypeError(f"on_error must be callable or None, not {on_error!r}")
        self._on_error = on_error
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            kind = type(ssl_context).__name__
            raise TypeError(f"ssl_context must be an ssl.SSLContext or None, not {kind}")
        self._ssl_context = ssl_context

    def __repr__(self) -> str:
        return f"RedisBackend({self.url!r}, maxlen={self._maxlen}, codec={self._codec!r})"

    @property
    def url(self) -> str:
        """The server's URL, its password (if any) shown as ``***``."""
        return self._address.redacted

    def key(self, channel: str) -> str:
        """The Redis key of the stream that carries *channel*."""
        return f"{self._key_prefix}{{{channel}}}"

    def connect(self, channel: ChannelPort) -> Link:
        """Attach a channel; nothing touches the network before ``async with channel:``."""
        return RedisLink(self, channel)

    async def append(
        self,
        channel: str,
        data: Any,
        topic: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> str:
        """Publish one message to *channel* without opening it; return the message's ID.

        For scripts and the command line: one connection, one ``XADD``, closed again.
        Subscribers everywhere receive it as if a channel had published it. A service that
        publishes more than once should keep a :class:`~mtbus.Channel` open instead.

        :raises ~mtbus.ChannelError: if Redis cannot be reached or refuses the message
        :raises TypeError, ValueError: if the topic, metadata or payload are not valid
        """
        name = validate_name(channel, kind="channel name")
        if topic is not None:
            validate_name(topic, kind="topic")
        extra = NO_METADATA if metadata is None else check_metadata(metadata)
        command = self._append(self.key(name), name, topic, data, extra)
        client = self._client()
        try:
            try:
                with anyio.fail_after(self._connect_timeout):
                    [reply] = await client.request(command, 1)
            except (OSError, ReplyError) as error:
                raise ChannelError(
                    f"cannot publish to channel {name!r} at {self.url}: "
                    f"{self._reason(error, self.key(name))}"
                ) from error
            return _entry_id(name, reply)
        finally:
            with anyio.CancelScope(shield=True):
                await client.aclose()

    # -- what the links share ------------------------------------------------------------

    def _client(self) -> RedisClient:
        return RedisClient(self._address, self._ssl_context, self._reply_limit)

    def _reason(self, error: BaseException, key: str) -> str:
        """Why connecting to (or using) *key* failed, in words (a timeout's own message is
        empty)."""
        if isinstance(error, TimeoutError):
            return f"no answer within {self._connect_timeout:g} s"
        if isinstance(error, socket.gaierror):
            return f"unknown host {self._address.host!r} ({error.strerror})"
        if isinstance(error, ReplyError) and str(error).startswith(("WRONGPASS", "NOAUTH")):
            return f"authentication failed: {error}"
        if isinstance(error, ReplyError) and str(error).startswith("WRONGTYPE"):
            return f"key {key!r} is not a stream ({error})"
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
        if isinstance(error, FileNotFoundError) and self._address.path is not None:
            return f"no socket at {self._address.path!r}"
        # anyio's connect_tcp (on trio, or with TLS) says only "All connection attempts
        # failed": why they failed is its cause (one error, or a group of them).
        cause = error.__cause__
        if isinstance(error, OSError) and isinstance(cause, OSError | BaseExceptionGroup):
            causes = cause.exceptions if isinstance(cause, BaseExceptionGroup) else (cause,)
            return "; ".join(dict.fromkeys(self._reason(each, key) for each in causes))
        return str(error) or type(error).__name__

    def _append(
        self, key: str, channel: str, topic: str | None, data: Any, metadata: Mapping[str, Any]
    ) -> bytes:
        """The ``XADD`` command that stores one message; raises if it cannot be sent."""
        codec = self._codec
        try:
            payload = codec.encode(data)
            extra = codec.encode(dict(metadata)) if metadata else b""
        except (TypeError, ValueError, OverflowError) as error:
            raise TypeError(
                f"cannot encode a message for channel {channel!r} with {codec!r}: {error}"
            ) from error
        size = len(payload) + len(extra) + (len(topic.encode()) if topic else 0)
        if size > self._max_message_bytes:
            raise ValueError(
                f"message of {size} bytes for channel {channel!r} is larger than "
                f"max_message_bytes={self._max_message_bytes}"
            )
        fields: list[str | bytes] = ["c", codec.name, "d", payload]
        if topic is not None:
            fields += ("t", topic)
        if extra:
            fields += ("m", extra)
        return pack("XADD", key, "MAXLEN", "~", self._maxlen, "*", *fields)

    def _decode(
        self, channel: str, entry_id: str, flat: list[bytes]
    ) -> Message[Any] | MessageDecodeError:
        """The message a stream entry carries, or why it cannot be had."""
        fields = _fields(flat)
        try:
            codec_name = fields[b"c"].decode()
            payload = fields[b"d"]
        except (KeyError, UnicodeDecodeError):
            names = sorted(name.decode(errors="replace") for name in fields)
            return MessageDecodeError(channel, entry_id, f"not an mtbus message (fields {names})")
        codec = self._accepted.get(codec_name)
        if codec is None:
            return MessageDecodeError(channel, entry_id, _refusal(codec_name))
        extra, raw_topic = fields.get(b"m"), fields.get(b"t")
        size = len(payload) + (len(extra) if extra else 0) + (len(raw_topic) if raw_topic else 0)
        if size > self._max_message_bytes:
            reason = f"{size} bytes, more than max_message_bytes={self._max_message_bytes}"
            return MessageDecodeError(channel, entry_id, reason)
        if raw_topic is None:
            topic = None
        else:
            topic = self._topics.get(raw_topic)
            if topic is None:
                try:
                    topic = self._checked_topic(raw_topic)
                except ValueError as error:
                    return MessageDecodeError(channel, entry_id, str(error))
        try:
            data = codec.decode(payload)
            metadata = codec.decode(extra) if extra is not None else None
        except Exception as error:  # a codec may raise anything on bad bytes
            return MessageDecodeError(channel, entry_id, f"{codec_name}: {error!r}")
        if metadata is None:
            frozen: Mapping[str, Any] = NO_METADATA
        elif isinstance(metadata, dict):
            frozen = MappingProxyType(metadata)
        else:
            return MessageDecodeError(channel, entry_id, f"metadata is not a mapping: {metadata!r}")
        return new_message((data, topic, frozen, entry_id))

    def _checked_topic(self, raw: bytes) -> str:
        """A topic read from the stream, checked like a local one (and remembered)."""
        try:
            topic = raw.decode()
        except UnicodeDecodeError:
            raise ValueError(f"invalid topic {raw!r}: not UTF-8") from None
        validate_name(topic, kind="topic")
        topics = self._topics
        if len(topics) >= TOPICS_REMEMBERED:
            topics.clear()
        topics[raw] = topic
        return topic

    def _report(self, port: ChannelPort, error: ChannelError) -> None:
        port.report(error)
        if self._on_error is not None:
            try:
                self._on_error(error)
            except Exception:
                _logger.exception("on_error hook of %r failed", self)


#: What the pump tells a local publisher: how many local subscribers got its message, or the
#: ChannelFullError that memory's publish would have raised (an "error" subscriber was full).
Outcome: TypeAlias = "int | ChannelFullError"


class _Waiter:
    """A publisher waiting for the pump to deliver its own message locally."""

    __slots__ = ("done", "entry_id", "outcome")

    def __init__(self, entry_id: str) -> None:
        self.entry_id = entry_id
        self.done = anyio.Event()
        self.outcome: Outcome = 0


class RedisLink:
    """One channel's stream: its publisher side, its pump, and its subscribers' readers."""

    def __init__(self, backend: RedisBackend, port: ChannelPort) -> None:
        self._backend = backend
        self._port = port
        self._key = backend.key(port.name)
        self._commands: RedisClient | None = None  # publishing, checks and catch-ups
        self._tasks: TaskGroup | None = None
        # The pump's place in the stream: the last entry whose local delivery has started.
        self._cursor = Cursor(START, None, BATCH)
        self._delivered = START  # the last entry whose local delivery has finished
        # The sort key of the newest entry this process's publishers heard back about, and
        # of the entry the pump started after (catch-ups report what lies before it).
        self._written = self._started = sort_key(START)
        self._members: set[GroupMember] = set()  # consumer-group readers running now
        # Publishers that sent XADD and have not heard back, those waiting for the pump to
        # deliver their entry, and what the pump delivered before its publisher heard back.
        self._publishing = 0
        self._waiters: dict[str, _Waiter] = {}
        self._outcomes: dict[str, Outcome] = {}
        # Subscribers that join the pump once it has passed the newest entry this process
        # wrote before they subscribed (so they do not receive what was published before).
        self._joining: list[tuple[tuple[int, int], SubscriberPort]] = []

    # -- lifecycle -----------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None]) -> None:
        """Connect, find the stream's end, and pump until the channel closes."""
        commands, reader = self._backend._client(), self._backend._client()
        try:
            try:
                with anyio.fail_after(self._backend._connect_timeout):
                    stream = await commands.execute("EVAL", STREAM_FACTS, 1, self._key)
                    await reader.connection()
            except (OSError, ReplyError) as error:
                raise ChannelError(
                    f"cannot connect channel {self._port.name!r} to Redis at "
                    f"{self._backend.url}: {self._backend._reason(error, self._key)}"
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

    # -- publishing ----------------------------------------------------------------------

    def send(
        self, topic: str | None, data: Any, metadata: Mapping[str, Any]
    ) -> Coroutine[Any, Any, int]:
        """Encode now (so a bad payload raises at the call), append when awaited."""
        commands = self._connected("publish to")
        command = self._backend._append(self._key, self._port.name, topic, data, metadata)
        return self._publish(commands, command, topic)

    async def _publish(self, commands: RedisClient, command: bytes, topic: str | None) -> int:
        self._publishing += 1
        try:
            try:
                [reply] = await commands.request(command, 1)
            except OSError:
                [reply] = await self._store_again(commands, command, 1)
            outcome = self._outcome(_entry_id(self._port.name, reply), topic)
            if isinstance(outcome, _Waiter):
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
                encoded.append(
                    self._backend._append(self._key, self._port.name, topic, data, metadata)
                )
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
                    entry_id = _entry_id(self._port.name, next(stored))
                except ChannelError as error:
                    results.append(error)
                    continue
                outcome = self._outcome(entry_id, record[0])
                if isinstance(outcome, _Waiter):
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

    def _outcome(self, entry_id: str, topic: str | None) -> Outcome | _Waiter:
        """What publishing *entry_id* did here: how many local subscribers queue it.

        Waits for the pump (a :class:`_Waiter` to await) only when the answer depends on
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
        waiter = self._waiters[entry_id] = _Waiter(entry_id)
        return waiter

    async def _delivery(self, waiter: _Waiter) -> Outcome:
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

    # -- the pump: the stream, in order, to every local subscriber --------------------------

    async def _pump(self, reader: RedisClient) -> None:
        deliver = self._port.deliver
        decode = self._backend._decode
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
                    self._backend._report(self._port, message)
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
            self._backend._report(self._port, error)
        return entries

    def _report_skipped(self, cursor: Cursor, error: MessageDecodeError) -> None:
        """Report an entry a reader skipped, unless the pump reads (and reports) it too."""
        if cursor is self._cursor or sort_key(error.id) <= self._started:
            self._backend._report(self._port, error)

    async def _skip_too_large(self, cursor: Cursor) -> None:
        """Pass over the entry after the cursor, too large to read: it is reported, unread.

        Redis measures it (a read-only script), so its bytes never travel.
        """
        commands = self._connected("read")
        reply = await commands.execute("EVAL", MEASURE_NEXT, 1, self._key, f"({cursor.id}")
        limit = self._backend._reply_limit
        if reply is None or reply[1] <= limit:  # gone meanwhile, or not what was too large
            return
        entry_id, size = reply[0].decode(), reply[1]
        cursor.id = entry_id
        cursor.advance(1)
        cursor.bulky = True
        reason = f"{size} bytes, more than a reply may have ({limit}): skipped unread"
        self._report_skipped(cursor, MessageDecodeError(self._port.name, entry_id, reason))

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
            backend = self._backend
            member = GroupMember(
                subscriber,
                group,
                name,
                port=self._port,
                key=self._key,
                client=backend._client(),
                commands=self._connected("subscribe to"),
                members=self._members,
                claim_idle=backend._claim_idle,
                decode=backend._decode,
                report=backend._report,
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
                message = self._backend._decode(self._port.name, entry_id, fields or [])
                if isinstance(message, MessageDecodeError):
                    self._report_skipped(cursor, message)
                elif wants(message.topic):
                    await self._port.deliver_to(subscriber, message)


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


def _fields(flat: list[bytes]) -> dict[bytes, bytes]:
    """A stream entry's fields by name; quick for the order mtbus writes them in."""
    size = len(flat)
    if size >= 4 and flat[0] == b"c" and flat[2] == b"d":
        fields = {b"c": flat[1], b"d": flat[3]}
        if size == 4:
            return fields
        if size == 6 and flat[4] in (b"t", b"m"):
            fields[flat[4]] = flat[5]
            return fields
        if size == 8 and flat[4] == b"t" and flat[6] == b"m":
            fields[b"t"], fields[b"m"] = flat[5], flat[7]
            return fields
    pairs = iter(flat)
    return dict(zip(pairs, pairs, strict=False))


def _entry_id(channel: str, reply: Any) -> str:
    """The ID an ``XADD`` reply gives; raises a ChannelError if it is an error."""
    if isinstance(reply, ChannelError):
        raise reply
    if isinstance(reply, ReplyError):
        raise ChannelError(f"cannot publish to channel {channel!r}: Redis refused it: {reply}")
    entry_id: str = reply.decode()
    return entry_id


def _refusal(codec_name: str) -> str:
    if codec_name == "pickle":
        return (
            "it was pickled, and unpickling runs code chosen by its writer: only a backend "
            "whose own codec is UnsafePickleCodec decodes it"
        )
    return f"unknown codec {codec_name!r}"


def _check_codec(codec: object) -> Codec:
    for attribute in ("name", "safe", "encode", "decode"):
        if not hasattr(codec, attribute):
            raise TypeError(f"codec {codec!r} has no {attribute!r}: expected a Codec")
    return codec  # type: ignore[return-value]
