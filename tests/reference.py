"""A deliberately naive matcher for the topic rules, to check the real one against."""

from __future__ import annotations


def ref_segments(pattern: list[str], name: list[str]) -> bool:
    if not pattern:
        return not name
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        # Either "#" matches zero segments, or it swallows one and stays in place.
        return ref_segments(rest, name) or (bool(name) and ref_segments(pattern, name[1:]))
    if not name:
        return False
    if head in ("*", name[0]):
        return ref_segments(rest, name[1:])
    return False


def ref_matches(pattern: str, name: str) -> bool:
    """Whether *pattern* matches *name* under the documented rules."""
    if pattern in ("*", "#"):
        return True
    return ref_segments(pattern.split("."), name.split("."))
