"""What a typed channel adds to publishing: each payload checked, and named by its class.

``Channel(name, type=OrderPlaced)`` hands every record on its way to the backend through a
:class:`PayloadType`: a payload that is not an instance of the type is refused at the call,
and one published without a topic goes under the event name of its class (found once per
class). An untyped channel has none, and pays nothing for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._core._typed import check_event_class, event_name

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Mapping

    #: What publishing hands a record to: a link's ``send``, or a typed channel's check.
    Send = Callable[[str | None, Any, Mapping[str, Any]], Coroutine[Any, Any, int]]


class PayloadType:
    """The class a typed channel carries, and the event names of the classes it met.

    :param kind: the channel's type
    :param where: what refusals name as the channel (its ``repr`` is taken when one is
        made, so it shows the channel's state then)
    :raises TypeError: if *kind* cannot be an event class
    :raises ValueError: if it declares an invalid event name
    """

    __slots__ = ("_names", "_where", "kind")

    def __init__(self, kind: type[Any], where: object) -> None:
        check_event_class(kind)
        self.kind = kind
        self._where = where
        #: The event name of each class published without a topic, found once per class.
        self._names: dict[type[Any], str] = {kind: event_name(kind)}

    def check(self, data: object) -> None:
        """Refuse a payload that is not an instance of the type.

        :raises TypeError: naming the payload, the channel and the type
        """
        if not isinstance(data, self.kind):
            raise TypeError(
                f"cannot publish {data!r:.80} to {self._where!r}: it carries "
                f"{self.kind.__qualname__} instances, not {type(data).__qualname__}"
            )

    def topic_of(self, data: object) -> str:
        """The topic of a payload published without one: its class's event name."""
        kind = data.__class__
        try:
            return self._names[kind]
        except KeyError:  # a subclass, published for the first time
            name = self._names[kind] = event_name(kind)
            return name

    def sender(self, send: Send) -> Send:
        """*send* (a link's), with each payload checked and named on its way to it."""
        names, kind, check, topic_of = self._names, self.kind, self.check, self.topic_of

        def send_typed(
            topic: str | None, data: Any, metadata: Mapping[str, Any]
        ) -> Coroutine[Any, Any, int]:
            if not isinstance(data, kind):
                check(data)  # raises, naming it
            if topic is None:
                try:
                    topic = names[data.__class__]
                except KeyError:
                    topic = topic_of(data)
            return send(topic, data, metadata)

        return send_typed
