"""Channels over Redis Streams: one stream per channel, shared by every process that uses it.

Publishing appends an entry (``XADD`` with an approximate ``MAXLEN``); one reader task per
channel and process (the *pump*) reads the stream with blocking ``XREAD`` calls from the
last entry it delivered and fans each entry out to the local subscribers, so every process
sees one total order, and a dropped connection costs a retry, not messages. Subscribers
with ``since=`` catch up from the stream before they join the pump; consumer-group members
each have a reader of their own (``XREADGROUP``), acknowledge what their subscriber has
received, and claim what a dead member left pending (``XAUTOCLAIM``).
"""

from __future__ import annotations

import logging
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias, cast
from urllib.parse import urlsplit

import anyio

from .._checks import check_count, check_seconds
from .._exceptions import (
    ChannelClosedError,
    ChannelError,
    ChannelFullError,
    ChannelGapError,
    MessageDecodeError,
)
from .._message import NO_METADATA, Message
from ._codecs import Codec, JsonCodec, safe_codecs
from ._redis_groups import GroupMember, check_group_options, default_consumer
from ._streams import (
    BATCH,
    BLOCK_MS,
    START,
    Retry,
    check_since,
    connection_failure,
    id_of,
    import_coredis,
    sort_key,
    topic_filter,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Mapping

    import coredis
    from anyio.abc import TaskGroup, TaskStatus

    from .._subscriber import Subscriber
    from ._base import ChannelPort

_logger = logging.getLogger("mtbus")

_new_message = tuple.__new__


class RedisBackend:
    """Carry channels over Redis Streams, so several processes (and hosts) share them.

    Each channel is one stream, ``{key_prefix}{<channel name>}``, trimmed to about
    *maxlen* entries. Topic patterns are matched in each process, with the same rules as
    in memory. A channel over Redis must be entered (``async with channel:``) to connect;
    publishing returns once the message is in Redis *and* queued for this process's own
    matching subscribers, as in memory.

    Needs ``pip install 'mtbus[redis]'`` (the anyio-native client coredis, so it runs on
    asyncio and trio).

    :param url: ``redis://[user:password@]host:port/db``, ``rediss://`` (TLS) or
        ``unix:///path/to/socket``
    :param maxlen: about how many messages each stream keeps (Redis trims whole nodes,
        so a few more may stay); a reader that falls further behind sees a gap, which is
        reported, never silent
    :param codec: how payloads become bytes (default :class:`JsonCodec`); receivers also
        decode the safe codecs (JSON, MessagePack), and an unsafe one only if it is
        their own
    :param max_message_bytes: the largest encoded message publish accepts
    :param key_prefix: the start of every stream key
    :param claim_idle: seconds a message may stay unacknowledged with a consumer-group
        member before another member claims it (the first one presumably died)
    :param on_error: called with each :exc:`~mtbus.ChannelGapError` and
        :exc:`~mtbus.MessageDecodeError` (they are also logged and counted)
    """

    __slots__ = (
        "_accepted",
        "_claim_idle",
        "_codec",
        "_coredis",
        "_key_prefix",
        "_max_message_bytes",
        "_maxlen",
        "_on_error",
        "_url",
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
    ) -> None:
        self._coredis = import_coredis()
        self._url = _check_url(url)
        self._maxlen = check_count(maxlen, "maxlen", minimum=1)
        self._codec = JsonCodec() if codec is None else _check_codec(codec)
        self._accepted = {**safe_codecs(), self._codec.name: self._codec}
        self._max_message_bytes = check_count(max_message_bytes, "max_message_bytes", minimum=1)
        if not isinstance(key_prefix, str):
            kind = type(key_prefix).__name__
            raise TypeError(f"key_prefix must be a str, not {kind}: {key_prefix!r}")
        self._key_prefix = key_prefix
        self._claim_idle = check_seconds(claim_idle, "claim_idle", positive=True)
        if on_error is not None and not callable(on_error):
            raise TypeError(f"on_error must be callable or None, not {on_error!r}")
        self._on_error = on_error

    def __repr__(self) -> str:
        return f"RedisBackend({self._url!r}, maxlen={self._maxlen}, codec={self._codec!r})"

    @property
    def url(self) -> str:
        """The server's URL."""
        return self._url

    def key(self, channel: str) -> str:
        """The Redis key of the stream that carries *channel*."""
        return f"{self._key_prefix}{{{channel}}}"

    def connect(self, channel: ChannelPort) -> RedisLink:
        """Attach a channel; nothing touches the network before ``async with channel:``."""
        return RedisLink(self, channel)

    # -- what the links share ------------------------------------------------------------

    def _client(self) -> coredis.Redis[bytes]:
        client: coredis.Redis[bytes] = self._coredis.Redis.from_url(self._url)
        return client

    def _append(
        self, client: coredis.Redis[bytes], key: str, fields: dict[str, bytes | str]
    ) -> Any:
        token = self._coredis.PureToken
        return client.xadd(
            key,
            fields,
            trim_strategy=token.MAXLEN,
            threshold=self._maxlen,
            trim_operator=token.APPROXIMATELY,
        )

    def _encode(
        self, channel: str, topic: str | None, data: Any, metadata: Mapping[str, Any]
    ) -> dict[str, bytes | str]:
        """The stream entry for one message; raises if it cannot be sent."""
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
        fields: dict[str, bytes | str] = {"c": codec.name, "d": payload}
        if topic is not None:
            fields["t"] = topic
        if extra:
            fields["m"] = extra
        return fields

    def _decode(self, channel: str, entry: Any) -> Message[Any] | MessageDecodeError:
        """The message a stream entry carries, or why it cannot be had."""
        entry_id = id_of(entry)
        fields = entry.field_values or {}
        try:
            codec_name = fields[b"c"].decode()
            payload = fields[b"d"]
        except (KeyError, UnicodeDecodeError):
            names = sorted(name.decode(errors="replace") for name in fields)
            return MessageDecodeError(channel, entry_id, f"not an mtbus message (fields {names})")
        codec = self._accepted.get(codec_name)
        if codec is None:
            return MessageDecodeError(channel, entry_id, _refusal(codec_name))
        try:
            data = codec.decode(payload)
            metadata = codec.decode(fields[b"m"]) if b"m" in fields else None
            topic = fields[b"t"].decode() if b"t" in fields else None
        except Exception as error:  # a codec may raise anything on bad bytes
            return MessageDecodeError(channel, entry_id, f"{codec_name}: {error!r}")
        if metadata is None:
            frozen: Mapping[str, Any] = NO_METADATA
        elif isinstance(metadata, dict):
            frozen = MappingProxyType(metadata)
        else:
            return MessageDecodeError(channel, entry_id, f"metadata is not a mapping: {metadata!r}")
        message: Message[Any] = _new_message(Message, (data, topic, frozen, entry_id))
        return message

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

    __slots__ = ("done", "outcome")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.outcome: Outcome = 0


class RedisLink:
    """One channel's stream: its publisher side, its pump, and its subscribers' readers."""

    def __init__(self, backend: RedisBackend, port: ChannelPort) -> None:
        self._backend = backend
        self._port = port
        self._key = backend.key(port.name)
        self._client: coredis.Redis[bytes] | None = None
        self._tasks: TaskGroup | None = None
        self._position = START  # the last entry whose local delivery has started
        self._batch = min(BATCH, backend._maxlen)  # entries per read
        self._gap_after: str | None = None  # the cursor of the last gap reported
        self._members: set[GroupMember] = set()  # consumer-group readers running now
        # Publishers of this process waiting for the pump to deliver their entry, and
        # what the pump delivered while publishers were still waiting for XADD's reply.
        self._publishing = 0
        self._waiters: dict[str, _Waiter] = {}
        self._outcomes: dict[str, Outcome] = {}

    # -- lifecycle -----------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None]) -> None:
        """Connect, find the stream's end, and pump until the channel closes."""
        client = self._backend._client()
        started = False
        try:
            async with client:
                with anyio.fail_after(10):
                    self._position = await self._last_id(client)
                async with anyio.create_task_group() as tasks:
                    self._client, self._tasks = client, tasks
                    tasks.start_soon(self._pump, client)
                    task_status.started()
                    started = True
        except Exception as error:
            # coredis reports a refused connection from its own task groups, so it may
            # come wrapped in exception groups: look inside them.
            if started or not connection_failure(error):
                raise
            raise ChannelError(
                f"cannot connect channel {self._port.name!r} to Redis at "
                f"{self._backend.url}: {connection_failure(error)}"
            ) from error
        finally:
            self._client = self._tasks = None
            self._settle_all()

    async def aclose(self) -> None:
        """Stop every reader of this channel; publishers waiting on delivery get 0.

        Group members acknowledge what their subscribers received first: cancelling a
        blocked read costs its connection, so that cannot wait until after.
        """
        if self._client is not None:
            with anyio.move_on_after(2):
                for member in list(self._members):
                    await member.acknowledge(self._client)
        if self._tasks is not None:
            self._tasks.cancel_scope.cancel()
        self._settle_all()

    def _running(self, action: str) -> TaskGroup:
        self._connected(action)
        return cast("TaskGroup", self._tasks)  # set together with the client

    def _connected(self, action: str) -> coredis.Redis[bytes]:
        if self._client is None:
            raise ChannelError(
                f"cannot {action} channel {self._port.name!r}: a channel over Redis must be "
                f"opened first, with `async with channel:`"
            )
        return self._client

    # -- publishing ----------------------------------------------------------------------

    def send(
        self, topic: str | None, data: Any, metadata: Mapping[str, Any]
    ) -> Coroutine[Any, Any, int]:
        """Encode now (so a bad payload raises at the call), append when awaited."""
        client = self._connected("publish to")
        fields = self._backend._encode(self._port.name, topic, data, metadata)
        return self._publish(client, fields)

    async def _publish(self, client: coredis.Redis[bytes], fields: dict[str, bytes | str]) -> int:
        self._publishing += 1
        try:
            try:
                entry_id = (await self._backend._append(client, self._key, fields)).decode()
            except (OSError, self._backend._coredis.exceptions.ConnectionError) as error:
                raise ChannelError(
                    f"cannot publish to channel {self._port.name!r}: {error}"
                ) from error
            if self._tasks is None:
                return 0
            if sort_key(entry_id) <= sort_key(self._position):  # the pump was quicker
                outcome = self._outcomes.pop(entry_id, 0)
            else:
                waiter = self._waiters[entry_id] = _Waiter()
                try:
                    await waiter.done.wait()
                finally:
                    self._waiters.pop(entry_id, None)
                outcome = waiter.outcome
            if isinstance(outcome, ChannelFullError):
                raise outcome
            return outcome
        finally:
            self._publishing -= 1
            if not self._publishing:
                self._outcomes.clear()

    def _settle(self, entry_id: str, outcome: Outcome) -> None:
        """Tell the publisher of *entry_id* (if it is this process) how its delivery went."""
        if not self._publishing:
            return
        waiter = self._waiters.pop(entry_id, None)
        if waiter is None:
            self._outcomes[entry_id] = outcome  # its publisher has not heard back from XADD
        else:
            waiter.outcome = outcome
            waiter.done.set()

    def _settle_passed(self) -> None:
        """Release publishers whose entries the pump went past without delivering."""
        position = sort_key(self._position)
        for entry_id in [i for i in self._waiters if sort_key(i) <= position]:
            self._settle(entry_id, 0)

    def _settle_all(self) -> None:
        for waiter in self._waiters.values():
            waiter.done.set()
        self._waiters.clear()

    # -- the pump: the stream, in order, to every local subscriber --------------------------

    async def _pump(self, client: coredis.Redis[bytes]) -> None:
        deliver = self._port.deliver
        decode = self._backend._decode
        channel = self._port.name
        retry = Retry(f"reader of channel {channel!r}")
        # Whether the next read must check for a gap. A blocking read that returns less than
        # a batch proves there was none (see _read_new), so a reader keeping up with the
        # stream makes one blocking read per batch; after a full batch, a reconnection or a
        # slow delivery, it reads checked until it has caught up again.
        checked = False
        while True:
            try:
                if checked:
                    entries = await self._read_checked(client, self._position)
                    checked = len(entries) >= self._batch
                else:
                    entries = await self._read_new(client, self._position)
                    if len(entries) >= self._batch:
                        checked = True  # maybe more than was kept: read it again, checked
                        continue
            except retry.errors as error:
                await retry.wait(error)
                checked = True
                continue
            retry.reset()
            for entry in entries:
                entry_id = self._position = id_of(entry)
                message = decode(channel, entry)
                if isinstance(message, MessageDecodeError):
                    self._backend._report(self._port, message)
                    self._settle(entry_id, 0)
                    continue
                outcome: Outcome
                try:
                    outcome = await deliver(message.topic, message.data, message.metadata, entry_id)
                except ChannelFullError as error:  # the others have it; the drop is counted
                    outcome = error
                except ChannelClosedError:  # closed while this waited for room: done
                    return
                self._settle(entry_id, outcome)
            if self._waiters:
                self._settle_passed()

    async def _read_new(self, client: coredis.Redis[bytes], after: str) -> tuple[Any, ...]:
        """The next entries after *after*, waiting up to a second for some.

        Unchecked, but a reply shorter than a batch proves that nothing was trimmed after
        *after*: trimming keeps at least ``maxlen`` (>= a batch) entries, all of which Redis
        would have offered.
        """
        found = await client.xread({self._key: after}, count=self._batch, block=BLOCK_MS)
        return () if not found else next(iter(found.values()))

    async def _read_checked(self, client: coredis.Redis[bytes], after: str) -> tuple[Any, ...]:
        """The next entries after *after*, reporting a gap if entries after it are gone.

        Redis silently resumes at the oldest entry it still has, so the reader checks, in
        the same transaction, that its cursor entry is still there (trimming removes the
        oldest entries first: if the cursor survived, nothing after it was trimmed).
        """
        async with client.pipeline(transaction=True) as pipe:
            cursor_entry = pipe.xrange(self._key, after, after)
            oldest = pipe.xrange(self._key, "-", "+", count=1)
            newer = pipe.xread({self._key: after}, count=self._batch)
        found = await newer
        entries = () if not found else next(iter(found.values()))
        if after not in (START, self._gap_after) and not await cursor_entry:
            first = await oldest
            if not first or sort_key(id_of(first[0])) > sort_key(after):
                self._gap_after = after  # report it once, however often it is read from
                resumed = id_of(entries[0]) if entries else None
                error = ChannelGapError(self._port.name, after, resumed)
                self._backend._report(self._port, error)
        return entries

    async def _last_id(self, client: coredis.Redis[bytes]) -> str:
        newest = await client.xrevrange(self._key, "+", "-", count=1)
        return id_of(newest[0]) if newest else START

    # -- subscribers the backend feeds itself ----------------------------------------------

    async def attach(
        self,
        subscriber: Subscriber[Any],
        *,
        since: str | None,
        group: str | None,
        consumer: str | None,
    ) -> bool:
        """Plain subscribers join the pump; ``since=`` catches up first; groups read alone."""
        if since is not None:
            since = check_since(since)
        if since is None and group is None:
            return True
        tasks = self._running("subscribe to")
        if group is not None:
            check_group_options(subscriber, group, consumer)
            member = GroupMember(self, subscriber, group, consumer or default_consumer(subscriber))
            await tasks.start(member.serve, "$" if since is None else since)
            return False
        if since is None or since == "$":
            return True
        subscriber._cursor = since
        tasks.start_soon(self._catch_up, subscriber, since)
        return False

    async def _catch_up(self, subscriber: Subscriber[Any], since: str) -> None:
        """Deliver the kept entries after *since* to *subscriber*, then hand it to the pump.

        The pump delivers everything after its position, so the subscriber joins it at a
        moment when it has had every entry up to that position: the check and the join
        happen with no await in between.
        """
        client = self._connected("subscribe to")
        wants = topic_filter(subscriber)
        retry = Retry(f"catch-up reader of channel {self._port.name!r}")
        cursor = since
        while not subscriber.is_closed:
            try:
                entries = await self._read_checked(client, cursor)
            except retry.errors as error:
                await retry.wait(error)
                continue
            retry.reset()
            position = sort_key(self._position)
            due = [entry for entry in entries if sort_key(id_of(entry)) <= position]
            if not due:
                self._port.admit(subscriber)
                return
            for entry in due:
                cursor = id_of(entry)
                message = self._backend._decode(self._port.name, entry)
                if isinstance(message, MessageDecodeError):
                    self._backend._report(self._port, message)
                elif wants(message.topic):
                    await self._port.deliver_to(subscriber, message)


def _refusal(codec_name: str) -> str:
    if codec_name == "pickle":
        return (
            "it was pickled, and unpickling runs code chosen by its writer: only a backend "
            "whose own codec is UnsafePickleCodec decodes it"
        )
    return f"unknown codec {codec_name!r}"


def _check_url(url: object) -> str:
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}: {url!r}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError as error:
        raise ValueError(f"invalid Redis URL {url!r}: {error}") from error
    if parts.scheme not in {"redis", "rediss", "unix"}:
        raise ValueError(
            f"invalid Redis URL {url!r}: expected redis://host:port/db, rediss:// or unix://"
        )
    if parts.scheme != "unix" and not parts.hostname:
        raise ValueError(f"invalid Redis URL {url!r}: no host")
    return url


def _check_codec(codec: object) -> Codec:
    for attribute in ("name", "safe", "encode", "decode"):
        if not hasattr(codec, attribute):
            raise TypeError(f"codec {codec!r} has no {attribute!r}: expected a Codec")
    return codec  # type: ignore[return-value]
