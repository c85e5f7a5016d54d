"""What a channel delivers: one immutable message, shared by every subscriber it reaches.

Messages are built here and nowhere else: :func:`new_message` for the hot paths (channel,
publisher, backends), :class:`Message` itself for users.
"""

from __future__ import annotations

from types import MappingProxyType, MethodType
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from ._checks import check_metadata

if TYPE_CHECKING:
    from collections.abc import Mapping

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

#: The metadata of a message published without any: shared, read-only.
NO_METADATA: Mapping[str, Any] = MappingProxyType({})


class Message(NamedTuple, Generic[T_co]):
    """One published message, as a subscriber receives it.

    A message is immutable, and the *same* message object goes to every subscriber it is
    delivered to, so one subscriber can never change what another one sees. Being a named
    tuple, it also unpacks: ``data, topic, metadata, id = message``.

    :ivar data: the payload given to :meth:`~mtbus.Channel.publish`
    :ivar topic: the topic it was published to, or ``None`` for a broadcast
    :ivar metadata: a read-only copy of the metadata given to ``publish`` (empty if none)
    :ivar id: where the message sits in a backend that keeps messages (a Redis stream
        entry ID such as ``"1700000000000-0"``), ``None`` in memory; see
        :attr:`Subscriber.cursor <mtbus.Subscriber.cursor>`
    """

    data: T_co
    topic: str | None = None
    metadata: Mapping[str, Any] = NO_METADATA
    id: str | None = None

    def __repr__(self) -> str:
        text = f"data={self.data!r}, topic={self.topic!r}, metadata={dict(self.metadata)!r}"
        return f"Message({text})" if self.id is None else f"Message({text}, id={self.id!r})"


if TYPE_CHECKING:

    def new_message(fields: tuple[T, str | None, Mapping[str, Any], str | None], /) -> Message[T]:
        """The message of ``(data, topic, metadata, id)``, fields already checked."""
        ...

else:
    # tuple.__new__ bound to Message: no Python-level __new__ to run, and as quick as calling
    # tuple.__new__(Message, fields) inline (a wrapper function would cost a frame per message).
    new_message = MethodType(tuple.__new__, Message)


def freeze_metadata(metadata: object) -> Mapping[str, Any]:
    """A message's metadata: a read-only copy of *metadata* (checked to be a mapping), or
    :data:`NO_METADATA` for ``None``."""
    if metadata is None:
        return NO_METADATA
    return MappingProxyType(dict(check_metadata(metadata)))
