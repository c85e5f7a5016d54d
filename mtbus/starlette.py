"""Channels in Starlette and FastAPI apps: a channel's messages as server-sent events.

:class:`EventSourceResponse` streams the messages of a :class:`~mtbus.Channel` whose topics
match some patterns to a browser's ``EventSource`` (or any client of the ``text/event-stream``
format), for as long as the client stays. It is a Starlette ``Response``, so it works in
FastAPI too. The rest of the pattern (the emitter and channels owned by the app's lifespan,
reached through a dependency, background emits after the response) needs no helper: see
the "FastAPI and Starlette" page of the docs.

Needs Starlette: ``pip install 'mtbus[web]'``. On the top floor of the package, beside the
command line and the testing kit.
"""

from __future__ import annotations

import json
import math
import re
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from ._channel._channel import Channel
from ._core._checks import (
    check_bool,
    check_buffer_size,
    check_callable,
    check_instance,
    check_overflow,
    check_seconds,
    check_topics,
)
from ._core._exceptions import ChannelClosedError, ChannelError
from ._core._typed import as_plain

try:
    from starlette.responses import Response
except ModuleNotFoundError as _missing:
    raise ModuleNotFoundError(
        "mtbus.starlette needs the starlette package. Install it with: pip install 'mtbus[web]'",
        name="starlette",
    ) from _missing

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from anyio import CancelScope
    from starlette.background import BackgroundTask
    from starlette.types import Receive, Scope, Send

    from ._channel._subscriber import Subscriber
    from ._core._checks import Overflow
    from ._core._message import Message

__all__ = ("EventSourceResponse",)

#: What a heartbeat sends: an SSE comment line, which every client ignores.
HEARTBEAT = b": heartbeat\n\n"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
#: What a message ID looks like over Redis (a stream entry's ID): the only ``Last-Event-ID``
#: worth resuming from.
_MESSAGE_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")


class EventSourceResponse(Response):
    """Stream a channel's messages whose topics match *topics* as server-sent events.

    The response subscribes when it starts to be sent, not when it is made (a response that
    is built but never sent leaves nothing behind), then writes one event per message::

        id: 1732500000000-0         (only for messages that have an id: over Redis)
        event: order.placed         (only for messages with a topic; none for broadcasts)
        data: {"id": 7, "item": "widget"}

    In a browser, ``new EventSource(url)`` receives them, each topic as its own event type:
    ``source.addEventListener("order.placed", ...)`` (a broadcast comes to ``onmessage``).
    The data is the message's payload as JSON: dataclasses, pydantic models, named tuples
    and the like become JSON objects and arrays first.

    A browser that lost the stream reconnects by itself, sending the ``id`` of the last
    event it received as ``Last-Event-ID``: with *resume*, over a backend that keeps
    messages (Redis), the new stream starts with what was published after that message
    (``subscribe(since=...)``), so a dropped connection loses nothing that is still kept;
    what was trimmed meanwhile is reported as a gap on the server, as for any reader.
    Messages in memory have no ``id``, so there the stream goes on from what is published
    next.

    It ends, and the subscriber is unsubscribed, whichever comes first:

    - the client goes away: the server reports ``http.disconnect``, which the response
      watches while it streams (whatever the ASGI version the server speaks), or a write
      fails (a server that speaks ASGI 2.4 raises :exc:`OSError`); a client that vanished
      without a word (a dead network) is found by the next write, so *heartbeat* bounds
      how long that takes;
    - the channel closes: what was queued for the subscriber is sent first, then the
      stream ends and a browser reconnects after its retry delay (to another instance of
      the app, say, during a deployment). A channel already closed when the response starts
      gives an empty stream, for the same reason;
    - the task serving the request is cancelled (the server shuts down): the cancellation
      goes on, after the subscriber is unsubscribed.

    :param channel: the channel to stream; it must stay open (in the app's lifespan)
    :param topics: a pattern or an iterable of patterns, as for
        :meth:`Channel.subscribe <mtbus.Channel.subscribe>`; ``None`` streams every message
    :param heartbeat: after this many seconds without a message, a comment line is sent,
        so that a dead connection is found and proxies keep the stream open; ``None``
        sends none
    :param retry: tells the browser to wait this many seconds before reconnecting after
        the stream ends (``None``: the browser's default, about 3 s)
    :param resume: start a reconnecting client's stream after the message its
        ``Last-Event-ID`` names, where the channel's backend keeps messages
    :param encode: turns a payload into the text of its ``data:`` field (default: JSON);
        line breaks in what it returns become several ``data:`` lines, which the browser
        joins back with ``"\\n"``
    :param buffer_size: the subscriber's queue capacity (default: the channel's)
    :param overflow: the subscriber's overflow policy (default: the channel's). The queue
        fills while the client reads slowly: with ``"block"`` and a bounded queue, a slow
        client makes the publishers wait, so a bounded ``"drop_oldest"`` suits a live view
    :param status_code: the response's status
    :param headers: more headers; ``Cache-Control: no-store`` and ``X-Accel-Buffering: no``
        (nginx: no buffering) are sent unless given here
    :param background: a task to run after the stream ended, as for any Starlette response
    :raises TypeError, ValueError: if an argument is not valid (before anything is sent)
    :raises TypeError: (while streaming) if a payload cannot be encoded; the stream fails
        with it
    """

    media_type = "text/event-stream"
    #: The channel it streams.
    channel: Channel[Any]
    #: The patterns it subscribes to (``None``: every topic).
    topics: tuple[str, ...] | None
    #: Seconds without a message after which a heartbeat is sent (``inf``: never).
    heartbeat: float

    def __init__(
        self,
        channel: Channel[Any],
        topics: str | Iterable[str] | None = None,
        *,
        heartbeat: float | None = 15.0,
        retry: float | None = None,
        resume: bool = True,
        encode: Callable[[Any], str] | None = None,
        buffer_size: int | None = None,
        overflow: Overflow | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        self.channel = check_instance(channel, Channel, "channel")
        self.topics = check_topics(topics)
        self.heartbeat = (
            math.inf if heartbeat is None else check_seconds(heartbeat, "heartbeat", positive=True)
        )
        if retry is not None:
            check_seconds(retry, "retry")
        self._retry = retry
        check_bool(resume, "resume")
        self._resume = resume
        if encode is not None:
            check_callable(encode, "encode")
        self._encode: Callable[[Any], str] = to_json if encode is None else encode
        self._buffer_size = None if buffer_size is None else check_buffer_size(buffer_size)
        self._overflow = None if overflow is None else check_overflow(overflow)
        self.status_code = status_code
        self.background = background
        self.init_headers(
            {"cache-control": "no-store", "x-accel-buffering": "no"} | dict(headers or {})
        )

    def frame(self, message: Message[Any]) -> bytes:
        """One message as an event of the stream, ``id:``, ``event:`` and ``data:`` lines.

        :raises TypeError: if *encode* cannot encode the payload, or returns no ``str``
        """
        try:
            text = self._encode(message.data)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"cannot send the payload of {message.topic!r} as a server-sent event: {error}"
            ) from error
        if not isinstance(text, str):
            raise TypeError(f"encode must return a str, not {type(text).__name__}: {text!r}")
        lines = [f"id: {message.id}\n"] if message.id is not None else []
        if message.topic is not None:
            lines.append(f"event: {message.topic}\n")
        lines.extend(f"data: {line}\n" for line in _LINE_BREAK.split(text))
        lines.append("\n")
        return "".join(lines).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Subscribe, stream until the client or the channel goes, unsubscribe; then run
        the background task, if any (not after a write failed: the client is gone)."""
        since = _last_event_id(scope) if self._resume else None
        try:
            subscriber = await self._subscribe(since)
        except ChannelClosedError:
            subscriber = None
        failure: Exception | None = None
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(_watch_for_disconnect, receive, group.cancel_scope)
                try:
                    await self._stream(send, subscriber)
                except Exception as error:  # raised after the group, not in an ExceptionGroup
                    failure = error
                group.cancel_scope.cancel()
        finally:
            if subscriber is not None:
                subscriber.unsubscribe()
        if isinstance(failure, OSError):  # ASGI 2.4: the client went away during a write
            return
        if failure is not None:
            raise failure
        if self.background is not None:
            await self.background()

    async def _subscribe(self, since: str | None) -> Subscriber[Any]:
        """Subscribe, after the message *since* names if the backend keeps messages."""
        subscribe = partial(
            self.channel.subscribe,
            self.topics,
            buffer_size=self._buffer_size,
            overflow=self._overflow,
        )
        if since is not None:
            try:
                return await subscribe(since=since)
            except ChannelClosedError:
                raise
            except ChannelError:  # a backend that keeps nothing (memory): from now on
                pass
        return await subscribe()

    async def _stream(self, send: Send, subscriber: Subscriber[Any] | None) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if self._retry is not None:
            await _send_body(send, f"retry: {round(self._retry * 1000)}\n\n".encode())
        while subscriber is not None:
            message = None
            with anyio.move_on_after(self.heartbeat):
                try:
                    message = await subscriber.receive()
                except ChannelClosedError:
                    break
            await _send_body(send, HEARTBEAT if message is None else self.frame(message))
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def to_json(data: object) -> str:
    """The default encoder: *data* as compact JSON, after :func:`as_plain` made plain values
    of dataclasses, pydantic models and the like. ``NaN`` and infinities are refused: a
    browser's ``JSON.parse`` would fail on them.

    :raises TypeError: if *data* holds something JSON has no form for (naming it)
    :raises ValueError: if it holds ``NaN`` or an infinity, or refers to itself
    """
    return json.dumps(as_plain(data), separators=(",", ":"), allow_nan=False)


def _last_event_id(scope: Scope) -> str | None:
    """The ``Last-Event-ID`` a reconnecting client sent, if it names a message."""
    for name, value in scope.get("headers", ()):
        if name == b"last-event-id":
            text = value.decode("latin-1").strip()
            return text if _MESSAGE_ID.fullmatch(text) else None
    return None


async def _send_body(send: Send, chunk: bytes) -> None:
    await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def _watch_for_disconnect(receive: Receive, scope: CancelScope) -> None:
    """Cancel *scope* once the server says the client went away."""
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()
