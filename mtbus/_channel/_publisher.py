"""A publishing helper for one channel: a default topic, batches, and background flushing."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

import anyio
from anyio.lowlevel import checkpoint

from .._core._checks import check_batch_item, check_count, check_instance, check_seconds
from .._core._message import Message, freeze_metadata, new_message
from .._core._topics import validate_name
from ._channel import Channel

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from types import TracebackType

T = TypeVar("T")

logger = logging.getLogger("mtbus")

#: One message for :meth:`Publisher.publish_batch`: ``(data, topic, metadata)``.
BatchItem = tuple[Any, "str | None", "Mapping[str, Any] | None"]


@dataclass(frozen=True, slots=True)
class PublisherStatistics:
    """A snapshot of a publisher's counters.

    :ivar published: messages it handed to the channel successfully
    :ivar failed: messages whose publishing raised (each one also logged, or raised to
        the caller)
    :ivar pending: messages queued by :meth:`Publisher.publish_soon`, not yet flushed
    """

    published: int
    failed: int
    pending: int


class Publisher(Generic[T]):
    """Publish to one channel with a default topic, in batches, or in the background.

    :meth:`publish` and :meth:`publish_batch` publish right away. Inside
    ``async with publisher:``, :meth:`publish_soon` queues a message and returns at once;
    a background task publishes what is queued every ``flush_interval`` seconds, or as soon
    as ``batch_size`` messages are waiting, and leaving the block publishes the rest. If
    the block raises (or is cancelled), the background task is cancelled, what it did not
    publish stays queued (``statistics().pending``), and the block's exception comes out
    as it is.

    :param channel: the channel to publish to
    :param default_topic: the topic used when a call gives none; ``None`` broadcasts (on a
        typed channel: names each message after its payload's class)
    :param batch_size: how many messages a batch holds before it is published
    :param flush_interval: the longest a queued message waits, in seconds
    """

    __slots__ = (
        "_channel",
        "_default_topic",
        "_failed",
        "_flushing",
        "_full",
        "_pending",
        "_published",
        "batch_size",
        "flush_interval",
    )

    def __init__(
        self,
        channel: Channel[T],
        *,
        default_topic: str | None = None,
        batch_size: int = 100,
        flush_interval: float = 1.0,
    ) -> None:
        check_instance(channel, Channel, "channel")
        if default_topic is not None:
            validate_name(default_topic, kind="default_topic")
        check_count(batch_size, "batch_size", minimum=1)
        check_seconds(flush_interval, "flush_interval", positive=True)
        self._channel = channel
        self._default_topic = default_topic
        self.batch_size: int = batch_size
        self.flush_interval: float = float(flush_interval)
        self._pending: list[Message[T]] = []
        self._published = 0
        self._failed = 0
        # Set while the background flusher runs (inside ``async with publisher:``).
        self._flushing: anyio.abc.TaskGroup | None = None
        self._full: anyio.Event | None = None

    def __repr__(self) -> str:
        return f"<Publisher to {self._channel!r} default_topic={self._default_topic!r}>"

    @property
    def channel(self) -> Channel[T]:
        """The channel it publishes to."""
        return self._channel

    @property
    def default_topic(self) -> str | None:
        """The topic used when a call gives none (``None``: broadcast)."""
        return self._default_topic

    def statistics(self) -> PublisherStatistics:
        """Its counters now."""
        return PublisherStatistics(self._published, self._failed, len(self._pending))

    # -- publishing now ----------------------------------------------------------------

    async def publish(
        self, data: T, topic: str | None = None, metadata: Mapping[str, Any] | None = None
    ) -> int:
        """Publish one message now, to *topic* or the default topic.

        :return: how many subscribers it was queued for
        :raises: whatever :meth:`Channel.publish <mtbus.Channel.publish>` raises
        """
        try:
            delivered = await self._channel.publish(
                data, self._default_topic if topic is None else topic, metadata
            )
        except Exception:
            self._failed += 1
            raise
        self._published += 1
        return delivered

    async def publish_batch(
        self, messages: Iterable[BatchItem | Message[T]], *, ignore_errors: bool = False
    ) -> list[Exception | None]:
        """Publish ``(data, topic, metadata)`` items (or messages) in order.

        :param ignore_errors: go on after a message fails instead of stopping there
        :return: one entry per message attempted: ``None`` if it was published, else the
            exception its publishing raised
        :raises TypeError: before publishing anything, if an item is not a
            ``(data, topic, metadata)`` tuple
        """
        items = [
            (item.data, item.topic, item.metadata)
            if isinstance(item, Message)
            else check_batch_item(item)
            for item in messages
        ]
        default = self._default_topic
        if default is not None:
            items = [
                (data, default if topic is None else topic, meta) for data, topic, meta in items
            ]
        outcomes: list[int | Exception] = []
        await self._send(items, outcomes, stop_at_error=not ignore_errors)
        return [outcome if isinstance(outcome, Exception) else None for outcome in outcomes]

    async def _send(
        self,
        items: list[BatchItem],
        outcomes: list[int | Exception],
        *,
        stop_at_error: bool,
    ) -> None:
        """Publish *items* as one batch, appending each outcome, and count them."""
        try:
            await self._channel._publish_batch(items, outcomes, stop_at_error=stop_at_error)
        finally:
            failed = sum(isinstance(outcome, Exception) for outcome in outcomes)
            self._failed += failed
            self._published += len(outcomes) - failed

    def batch(self) -> PublisherBatch[T]:
        """Collect messages and publish them together: ``async with publisher.batch() as b:``.

        A batch is published when it holds ``batch_size`` messages and when the block ends
        normally. If the block raises, what was not yet published is discarded, and kept
        in :attr:`PublisherBatch.discarded`.
        """
        return PublisherBatch(self)

    # -- publishing in the background --------------------------------------------------

    def publish_soon(
        self, data: T, topic: str | None = None, metadata: Mapping[str, Any] | None = None
    ) -> None:
        """Queue one message for the background flusher and return at once.

        Like anyio's ``start_soon``, it starts work that finishes later: the flusher
        publishes the message within ``flush_interval`` seconds (sooner once ``batch_size``
        messages wait). Failures then are logged on the ``mtbus`` logger (once per flush)
        and counted in :meth:`statistics` (``failed``).

        :raises RuntimeError: outside ``async with publisher:``
        :raises TypeError, ValueError: if *topic* is not a valid name or *metadata* not a
            mapping, or a typed channel's *data* is not an instance of its type
        """
        if self._flushing is None:
            raise RuntimeError(
                "publish_soon needs the background flusher: use 'async with publisher:'"
            )
        self._pending.append(self._message(data, topic, metadata))
        if len(self._pending) >= self.batch_size and self._full is not None:
            self._full.set()

    def _message(
        self, data: T, topic: str | None, metadata: Mapping[str, Any] | None
    ) -> Message[T]:
        """The message to publish later: checked now, with the default topic filled in."""
        self._channel._check_data(data)
        if topic is None:
            topic = self._default_topic
        else:
            validate_name(topic, kind="topic")
        return new_message((data, topic, freeze_metadata(metadata), None))

    async def flush(self) -> int:
        """Publish every message queued by :meth:`publish_soon` now, in order.

        A message that fails is counted, and the rest still go; if any failed, one error is
        logged for the flush (how many failed, and the first failure's traceback). If the
        flush is cancelled, the messages it did not reach stay queued.

        :return: how many of them were published without error
        """
        pending, self._pending = self._pending, []
        items: list[BatchItem] = [(m.data, m.topic, m.metadata) for m in pending]
        outcomes: list[int | Exception] = []
        try:
            await self._send(items, outcomes, stop_at_error=False)
        finally:
            if len(outcomes) < len(pending):  # cancelled: what was not sent stays queued
                self._pending[:0] = pending[len(outcomes) :]
        failures = [
            (message, outcome)
            for message, outcome in zip(pending, outcomes, strict=True)
            if isinstance(outcome, Exception)
        ]
        if failures:
            message, first = failures[0]
            logger.error(
                "%d of %d messages flushed to %r were not published; the first (to topic %r) "
                "failed with:",
                len(failures),
                len(outcomes),
                self._channel,
                message.topic,
                exc_info=first,
            )
        return len(outcomes) - len(failures)

    async def __aenter__(self) -> Self:
        if self._flushing is not None:
            raise RuntimeError(f"{self!r} is already running its background flusher")
        group = anyio.create_task_group()
        await group.__aenter__()
        self._flushing = group
        self._full = anyio.Event()
        group.start_soon(self._flush_periodically, self._full)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Publish what is queued and stop the flusher; if the block raised (or was
        cancelled), cancel the flusher instead, and let the block's exception out as it is."""
        group, self._flushing = self._flushing, None
        if group is None:
            return
        if exc is None:
            if self._full is not None:
                self._full.set()  # the flusher publishes what is left, and stops
        else:
            group.cancel_scope.cancel()
        # The block's own exception is not the flusher's: it propagates unwrapped, and only
        # a failure of the flusher itself comes out of the task group (as in Channel).
        await group.__aexit__(None, None, None)

    async def _flush_periodically(self, full: anyio.Event) -> None:
        await checkpoint()  # cancelled here if the block raised before this task started
        while self._flushing is not None:
            with anyio.move_on_after(self.flush_interval):
                await full.wait()
            full = self._full = anyio.Event()
            await self.flush()
        await self.flush()


class PublisherBatch(Generic[T]):
    """Messages collected by ``async with publisher.batch() as batch:``.

    :ivar discarded: the messages thrown away because the block raised
    :ivar results: one entry per message published so far: ``None``, or the exception
    """

    __slots__ = ("_messages", "_publisher", "discarded", "results")

    def __init__(self, publisher: Publisher[T]) -> None:
        self._publisher = publisher
        self._messages: list[Message[T]] = []
        self.discarded: list[Message[T]] = []
        self.results: list[Exception | None] = []

    async def publish(
        self, data: T, topic: str | None = None, metadata: Mapping[str, Any] | None = None
    ) -> None:
        """Add one message to the batch (publishing the batch if it is now full)."""
        self._messages.append(self._publisher._message(data, topic, metadata))
        if len(self._messages) >= self._publisher.batch_size:
            await self.flush()

    async def flush(self) -> list[Exception | None]:
        """Publish what the batch holds now; return one result per message."""
        messages, self._messages = self._messages, []
        results = await self._publisher.publish_batch(messages, ignore_errors=True)
        self.results.extend(results)
        return results

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.discarded, self._messages = self._messages, []
            return
        await self.flush()
        errors = [error for error in self.results if error is not None]
        if errors:
            raise ExceptionGroup(
                f"{len(errors)} of {len(self.results)} batched messages failed to publish",
                errors,
            )
