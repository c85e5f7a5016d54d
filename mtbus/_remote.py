"""``mtbus listen`` and ``mtbus publish``: watch and poke a channel that lives in Redis."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TextIO

from ._channel import Channel
from .backends import RedisBackend

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._message import Message


async def listen(
    url: str,
    channel: str,
    patterns: Sequence[str],
    *,
    since: str | None,
    count: int | None,
    out: TextIO,
) -> None:
    """Print the channel's messages matching *patterns*, one line each, as they arrive.

    Stops after *count* messages (``None``: never, until interrupted).
    """
    async with Channel[Any](channel, backend=RedisBackend(url)) as source:
        subscriber = await source.subscribe(list(patterns) or None, since=since)
        received = 0
        while count is None or received < count:
            message = await subscriber.receive()
            print(describe(message), file=out, flush=True)
            received += 1


async def publish(url: str, channel: str, topic: str, data: str, *, metadata: str | None) -> int:
    """Publish *data* (JSON if it parses as JSON, else the text itself) to *topic*."""
    extra = None if metadata is None else parse_metadata(metadata)
    async with Channel[Any](channel, backend=RedisBackend(url)) as target:
        return await target.publish(parse_data(data), topic, extra)


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
    """One line for a message: ``<id> <topic> <data as JSON>[ <metadata as JSON>]``."""
    topic = "(broadcast)" if message.topic is None else message.topic
    line = f"{message.id} {topic} {json.dumps(message.data, default=repr)}"
    if message.metadata:
        line += f" {json.dumps(dict(message.metadata), default=repr)}"
    return line
