"""``mtbus listen`` and ``mtbus publish``: watch and poke a channel that lives in Redis."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TextIO

from .._channel._channel import Channel

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .._core._message import Message
    from ..backends import RedisBackend


async def listen(
    backend: RedisBackend,
    channel: str,
    patterns: Sequence[str],
    *,
    since: str | None,
    count: int | None,
    out: TextIO,
    err: TextIO,
) -> None:
    """Print the channel's messages matching *patterns* to *out*, one line each, as they arrive.

    Once subscribed, and before the first message, says on *err* what it listens to (one
    line, the URL without its password). Stops after *count* messages (``None``: never,
    until interrupted).
    """
    async with Channel[Any](channel, backend=backend) as source:
        subscriber = await source.subscribe(list(patterns) or None, since=since)
        topics = ", ".join(repr(pattern) for pattern in patterns) or "every topic"
        after = "" if since is None else f", since {since!r}"
        print(
            f"mtbus listen: listening to {topics} of channel {channel!r} at {backend.url}{after}",
            file=err,
            flush=True,
        )
        received = 0
        while count is None or received < count:
            message = await subscriber.receive()
            print(describe(message), file=out, flush=True)
            received += 1


async def publish(
    backend: RedisBackend, channel: str, topic: str, data: str, *, metadata: str | None
) -> str:
    """Publish *data* (JSON if it parses as JSON, else the text itself) to *topic*.

    :return: the new message's ID
    """
    extra = None if metadata is None else parse_metadata(metadata)
    return await backend.append(channel, parse_data(data), topic, extra)


def parse_metadata(text: str) -> dict[str, Any]:
    """The JSON object *text* spells, or a ValueError naming it."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise ValueError(f"invalid --metadata {text!r}: expected a JSON object")
    return value


def parse_data(text: str) -> Any:
    """The JSON value *text* spells, or *text* itself if it is not JSON (``hello``)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def describe(message: Message[Any]) -> str:
    """One line for a message: ``<id> <topic> <data as JSON>[ <metadata as JSON>]``.

    Nothing in it comes out raw that could break the line or drive the terminal: a topic
    or ID that is not plain printable text is shown as a JSON string, and the JSON is
    ASCII with every control character escaped.
    """
    topic = "(broadcast)" if message.topic is None else _word(message.topic)
    line = f"{_word(str(message.id))} {topic} {_json(message.data)}"
    if message.metadata:
        line += f" {_json(dict(message.metadata))}"
    return line


def _word(text: str) -> str:
    """*text* itself if it is printable and has no spaces, else as a JSON string."""
    if text and text.isprintable() and " " not in text:
        return text
    return _json(text)


def _json(value: Any) -> str:
    """*value* as one line of ASCII JSON; what JSON cannot hold shown by its ``repr``."""
    try:
        text = json.dumps(value, default=repr)
    except (TypeError, ValueError):  # keys JSON has no form for: bytes, from MessagePack
        text = json.dumps(repr(value))
    return text.replace("\x7f", "\\u007f")  # the one control character JSON leaves raw
