"""Event names, topic patterns, and the matcher that routes a name to every matching pattern.

Names are dot-separated segments (``order.item.shipped``). In patterns, a ``*`` segment
matches exactly one segment and a ``#`` segment matches zero or more (the AMQP topic-exchange
rules); the bare patterns ``"*"`` and ``"#"`` both match every name.

Everything here is pure and synchronous: no I/O, no event loop.
"""

from __future__ import annotations

import re
from typing import Generic, TypeVar

V = TypeVar("V")

_CONTROL = "\x00-\x1f\x7f-\x9f"  # control characters (C0, DEL, C1): never in a name
_SEGMENT = rf"[^\s*#.{_CONTROL}]+"
_NAME = re.compile(rf"{_SEGMENT}(?:\.{_SEGMENT})*")
_PATTERN = re.compile(rf"(?:{_SEGMENT}|\*|#)(?:\.(?:{_SEGMENT}|\*|#))*")
_WHITESPACE = re.compile(r"\s")
_CONTROL_CHARACTER = re.compile(f"[{_CONTROL}]")
#: Patterns that match every name: AMQP's "#", and the bare "*" (mtaio's catch-all).
_CATCH_ALL = ("*", "#")


def validate_name(name: object, kind: str = "event name") -> str:
    """Return *name* if it is a valid name (no wildcards), else raise.

    :param kind: how the error message calls the value (``"event name"``, ``"topic"``)
    :raises TypeError: if *name* is not a ``str``
    :raises ValueError: if *name* is empty, has an empty segment, whitespace, a control
        character, ``*`` or ``#``
    """
    if not isinstance(name, str):
        raise TypeError(f"{kind} must be a str, not {type(name).__name__}: {name!r}")
    if _NAME.fullmatch(name) is None:
        if "*" in name or "#" in name:
            reason = "wildcards '*' and '#' are only allowed in patterns"
        else:
            reason = _syntax_error(name)
        raise ValueError(f"invalid {kind} {name!r}: {reason}")
    return name


def validate_pattern(pattern: object, kind: str = "pattern") -> str:
    """Return *pattern* if it is a valid name or wildcard pattern, else raise.

    :raises TypeError: if *pattern* is not a ``str``
    :raises ValueError: if *pattern* is empty, has an empty segment or whitespace, or uses
        ``*``/``#`` inside a segment (``us*er``) instead of as a whole segment
    """
    if not isinstance(pattern, str):
        raise TypeError(f"{kind} must be a str, not {type(pattern).__name__}: {pattern!r}")
    if _PATTERN.fullmatch(pattern) is None:
        reason = _syntax_error(pattern)
        if reason == "invalid":
            reason = "'*' and '#' must stand alone as a whole segment"
        raise ValueError(f"invalid {kind} {pattern!r}: {reason}")
    return pattern


def has_wildcard(pattern: str) -> bool:
    """Tell whether a *valid* pattern contains a ``*`` or ``#`` segment."""
    return "*" in pattern or "#" in pattern


def _syntax_error(text: str) -> str:
    if not text:
        return "empty"
    if "" in text.split("."):
        return "empty segment"
    if _WHITESPACE.search(text):
        return "contains whitespace"
    if _CONTROL_CHARACTER.search(text):
        return "contains a control character"
    return "invalid"


class _Node(Generic[V]):
    """One trie node: the patterns that end here, and the edges to longer patterns."""

    __slots__ = ("children", "hash", "loops", "star", "values")

    def __init__(self, loops: bool = False) -> None:
        self.children: dict[str, _Node[V]] = {}
        self.star: _Node[V] | None = None
        self.hash: _Node[V] | None = None
        #: True for the node behind a ``#`` edge: it may consume any number of segments.
        self.loops = loops
        self.values: dict[V, None] = {}

    def is_empty(self) -> bool:
        return not (self.values or self.children or self.star or self.hash)


class TopicMatcher(Generic[V]):
    """A set of ``(pattern, value)`` pairs that answers "which values match this name?".

    Literal names, and the catch-all patterns ``*`` and ``#`` (each stored as itself, so the
    two stay distinct pairs), live in a dict: one lookup each. Other wildcard patterns live in
    a segment trie that is walked as a small automaton, one step per segment of the name.
    A lookup only ever visits trie nodes on paths that still match, so its cost does not grow
    with the number of non-matching patterns. Adding the same pair twice stores it once.
    """

    __slots__ = ("_exact", "_root", "_wildcards")

    def __init__(self) -> None:
        self._exact: dict[str, dict[V, None]] = {}
        self._root: _Node[V] = _Node()
        self._wildcards = 0

    def add(self, pattern: str, value: V) -> None:
        """Store *value* under a pattern that :func:`validate_pattern` accepted."""
        if pattern in _CATCH_ALL or not has_wildcard(pattern):
            self._exact.setdefault(pattern, {})[value] = None
            return
        node = self._root
        for segment in pattern.split("."):
            if segment == "*":
                if node.star is None:
                    node.star = _Node()
                node = node.star
            elif segment == "#":
                if node.hash is None:
                    node.hash = _Node(loops=True)
                node = node.hash
            else:
                node = node.children.setdefault(segment, _Node())
        if value not in node.values:
            node.values[value] = None
            self._wildcards += 1

    def remove(self, pattern: str, value: V) -> bool:
        """Remove one stored pair; return whether it was there."""
        if pattern in _CATCH_ALL or not has_wildcard(pattern):
            values = self._exact.get(pattern)
            if values is None or value not in values:
                return False
            del values[value]
            if not values:
                del self._exact[pattern]
            return True
        if _remove_from(self._root, pattern.split("."), 0, value):
            self._wildcards -= 1
            return True
        return False

    def match(self, name: str) -> list[V]:
        """Every value whose pattern matches the valid *name*, each value once."""
        exact = self._exact.get(name)
        found: dict[V, None] = dict(exact) if exact else {}
        for pattern in _CATCH_ALL:
            everything = self._exact.get(pattern)
            if everything:
                found.update(everything)
        if self._wildcards:
            states = _closure((self._root,))
            for segment in name.split("."):
                following: list[_Node[V]] = []
                for node in states:
                    child = node.children.get(segment)
                    if child is not None:
                        following.append(child)
                    if node.star is not None:
                        following.append(node.star)
                    if node.loops:
                        following.append(node)
                if not following:
                    return list(found)
                states = _closure(following)
            for node in states:
                found.update(node.values)
        return list(found)

    def __len__(self) -> int:
        return sum(map(len, self._exact.values())) + self._wildcards


def _closure(nodes: tuple[_Node[V], ...] | list[_Node[V]]) -> list[_Node[V]]:
    """The nodes reachable from *nodes* without consuming a segment (``#`` matching zero)."""
    reached: dict[int, _Node[V]] = {}
    pending = list(nodes)
    while pending:
        node = pending.pop()
        if id(node) in reached:
            continue
        reached[id(node)] = node
        if node.hash is not None:
            pending.append(node.hash)
    return list(reached.values())


def _remove_from(node: _Node[V], segments: list[str], index: int, value: V) -> bool:
    """Remove *value* from the path below *node*, pruning nodes left empty."""
    if index == len(segments):
        if value not in node.values:
            return False
        del node.values[value]
        return True
    segment = segments[index]
    if segment == "*":
        child = node.star
    elif segment == "#":
        child = node.hash
    else:
        child = node.children.get(segment)
    if child is None or not _remove_from(child, segments, index + 1, value):
        return False
    if child.is_empty():
        if segment == "*":
            node.star = None
        elif segment == "#":
            node.hash = None
        else:
            del node.children[segment]
    return True
