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

This module holds the backend: its options, how a message becomes a stream entry and back,
and how failures are told. Each channel's link (``_redis_link``) publishes and runs the
channel's lifecycle over the pump (``_redis_pump``); consumer groups are in ``_redis_groups``.
"""

from __future__ import annotations

import logging
import socket
import ssl
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import anyio

from .._core._checks import check_count, check_metadata, check_seconds
from .._core._exceptions import ChannelError, MessageDecodeError
from .._core._message import NO_METADATA, Message, new_message
from .._core._topics import validate_name
from ._codecs import Codec, JsonCodec, TypedPayloads, safe_codecs
from ._connections import RedisClient
from ._redis_link import RedisLink
from ._resp import RedisAddress, ReplyError, pack, require_hiredis
from ._streams import TOPICS_REMEMBERED, added_id

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ._base import ChannelPort, Link
    from ._streams import Decode

_logger = logging.getLogger("mtbus")

STREAM_LENGTH_MAX: Final = 2**63 - 1  # the largest MAXLEN Redis takes
MESSAGE_BYTES_MAX: Final = 512 << 20  # the largest string Redis takes (proto-max-bulk-len)
REPLY_LIMIT_LEAST: Final = 16 << 20  # the least bytes a reply may have


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
        """Attach a channel; nothing touches the network before ``async with channel:``.

        A typed channel's receivers rebuild its payloads into instances of its type (or of
        the subclass whose event name is the message's topic); one that does not rebuild
        counts as undecodable.

        :raises TypeError: if the channel's type is no dataclass, attrs class, pydantic
            model or msgspec Struct
        :raises ModuleNotFoundError: if rebuilding it needs msgspec (all but pydantic
            models do) and msgspec is not installed
        """
        payload_type = channel.payload_type
        if payload_type is None:
            decode: Decode = self._decode
        else:
            decode = partial(self._decode, typed=TypedPayloads(payload_type))
        return RedisLink(
            channel,
            key=self.key(channel.name),
            new_client=self._client,
            connect_timeout=self._connect_timeout,
            url=self.url,
            reason=self._reason,
            append=self._append,
            decode=decode,
            report=self._report,
            claim_idle=self._claim_idle,
        )

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
            return added_id(name, reply)
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
        self, channel: str, entry_id: str, flat: list[bytes], typed: TypedPayloads | None = None
    ) -> Message[Any] | MessageDecodeError:
        """The message a stream entry carries (its payload rebuilt by *typed*, for a typed
        channel), or why it cannot be had."""
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
        if typed is not None:
            try:
                data = typed(topic, data)
            except Exception as error:  # what the class's own validation raises
                return MessageDecodeError(channel, entry_id, str(error))
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
