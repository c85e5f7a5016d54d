"""Where an emitter stands among derived emitters and pipes: the state composition keeps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    import weakref

    from .._core._event import Event
    from ._listener import Listener

#: The emitters at the other end of the links (an emitter class, known where it is used).
Node = TypeVar("Node")


class Links(Generic[Node]):
    """An emitter's place in a graph of derived emitters and pipes."""

    __slots__ = ("buffers", "children", "pipes", "self_ref", "size", "upstream")

    def __init__(self) -> None:
        #: Live derived children (weakly) and the forwarding listener of each, on this emitter.
        self.children: dict[weakref.ref[Node], Listener] = {}
        #: Pipes out of this emitter: the target and the forwarding listener, on this emitter.
        self.pipes: list[tuple[Node, Listener]] = []
        #: For a derived emitter: the listener on its parent that feeds it, and a weak
        #: reference to itself (the parent's key for it).
        self.upstream: Listener | None = None
        self.self_ref: weakref.ref[Node] | None = None
        #: For a ``buffer()`` emitter: its size, and the events held per name.
        self.size = 0
        self.buffers: dict[str, list[Event[Any]]] = {}
