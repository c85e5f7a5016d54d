from __future__ import annotations

# Tests for mtbus._core._topics: name/pattern validation and the wildcard TopicMatcher.
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from reference import ref_matches

from mtbus._core._topics import TopicMatcher, has_wildcard, validate_name, validate_pattern

# --------------------------------------------------------------------------------------------
# Table-driven matching
# --------------------------------------------------------------------------------------------

MATCH_CASES: list[tuple[str, str, bool]] = [
    # literal patterns
    ("user.created", "user.created", True),
    ("user.created", "user.deleted", False),
    ("user", "user.created", False),
    ("user.created", "user", False),
    ("user.created", "user.created.now", False),
    ("a", "a", True),
    ("a", "b", False),
    # "*" matches exactly one segment
    ("user.*", "user.login", True),
    ("user.*", "user", False),
    ("user.*", "user.login.failed", False),
    ("user.*", "admin.login", False),
    ("*.created", "user.created", True),
    ("*.created", "created", False),
    ("*.created", "a.user.created", False),
    ("a.*.c", "a.b.c", True),
    ("a.*.c", "a.c", False),
    ("a.*.c", "a.b.b.c", False),
    ("*.*", "a.b", True),
    ("*.*", "a", False),
    ("*.*", "a.b.c", False),
    # "#" at the end
    ("user.#", "user", True),
    ("user.#", "user.login", True),
    ("user.#", "user.login.failed", True),
    ("user.#", "users", False),
    ("user.#", "admin.user", False),
    # "#" at the start
    ("#.failed", "failed", True),
    ("#.failed", "login.failed", True),
    ("#.failed", "user.login.failed", True),
    ("#.failed", "failed.user", False),
    ("#.a.b", "a.a.b", True),
    ("#.a.b", "a.b.a", False),
    # "#" in the middle, including matching zero segments
    ("a.#.b", "a.b", True),
    ("a.#.b", "a.x.b", True),
    ("a.#.b", "a.x.y.b", True),
    ("a.#.b", "a.b.b", True),
    ("a.#.b", "a.x", False),
    ("a.#.b", "b", False),
    ("a.#.b", "a", False),
    ("a.#.b", "a.b.c", False),
    ("a.#.a", "a", False),
    ("a.#.a", "a.a", True),
    ("#.a.#", "a", True),
    ("#.a.#", "x.a.y", True),
    ("#.a.#", "x.y", False),
    # several "#"
    ("#.#", "a", True),
    ("#.#", "a.b.c", True),
    ("#.#.a", "a", True),
    ("#.#.a", "b", False),
    ("a.#.#.b", "a.b", True),
    ("a.#.#.b", "a.x.b", True),
    ("a.#.#.b", "a.x.y.z.b", True),
    ("a.#.#.b", "a.x", False),
    ("a.#.#.b", "b.a", False),
    # "*" and "#" combined
    ("*.#", "a", True),
    ("*.#", "a.b.c", True),
    ("#.*", "a", True),
    ("#.*", "a.b.c", True),
    ("a.#.*", "a", False),
    ("a.#.*", "a.b", True),
    ("a.#.*", "a.b.c", True),
    ("a.*.#", "a", False),
    ("a.*.#", "a.b", True),
    ("a.*.#", "a.b.c", True),
    ("#.*.b", "b", False),
    ("#.*.b", "a.b", True),
    ("#.*.b", "x.y.a.b", True),
    ("*.#.*", "a", False),
    ("*.#.*", "a.b", True),
    ("*.#.*", "a.b.c.d", True),
    # bare "*" and "#" match every name
    ("*", "a", True),
    ("*", "a.b", True),
    ("*", "a.b.c.d.e", True),
    ("#", "a", True),
    ("#", "a.b", True),
    ("#", "a.b.c.d.e", True),
]


@pytest.mark.parametrize(("pattern", "name", "expected"), MATCH_CASES)
def test_match_table(pattern: str, name: str, expected: bool) -> None:
    matcher: TopicMatcher[str] = TopicMatcher()
    matcher.add(pattern, "v")
    assert matcher.match(name) == (["v"] if expected else [])


@pytest.mark.parametrize(("pattern", "name", "expected"), MATCH_CASES)
def test_reference_agrees_with_table(pattern: str, name: str, expected: bool) -> None:
    """The hypothesis tests below trust the reference, so pin it to the same table."""
    assert ref_matches(pattern, name) is expected


def test_match_table_all_patterns_together() -> None:
    """All table patterns in one matcher: each name finds exactly its matching patterns."""
    matcher: TopicMatcher[str] = TopicMatcher()
    patterns = sorted({pattern for pattern, _, _ in MATCH_CASES})
    for pattern in patterns:
        matcher.add(pattern, pattern)
    assert len(matcher) == len(patterns)
    for name in sorted({name for _, name, _ in MATCH_CASES}):
        found = matcher.match(name)
        assert len(found) == len(set(found))
        assert set(found) == {p for p in patterns if ref_matches(p, name)}


def test_empty_matcher() -> None:
    matcher: TopicMatcher[int] = TopicMatcher()
    assert len(matcher) == 0
    assert matcher.match("a") == []
    assert matcher.match("a.b.c") == []
    assert matcher.remove("a", 1) is False
    assert matcher.remove("a.*", 1) is False
    assert matcher.remove("#", 1) is False


# --------------------------------------------------------------------------------------------
# Dedup, len, add/remove
# --------------------------------------------------------------------------------------------


def test_value_matched_by_several_patterns_is_returned_once() -> None:
    matcher: TopicMatcher[str] = TopicMatcher()
    for pattern in ("user.*", "user.#", "user.login", "#", "#.login", "*.*"):
        matcher.add(pattern, "handler")
    matcher.add("user.*", "other")
    assert len(matcher) == 7
    found = matcher.match("user.login")
    assert sorted(found) == ["handler", "other"]
    assert matcher.match("user") == ["handler"]  # via user.# and "#"


def test_dedup_between_literal_and_wildcard() -> None:
    matcher: TopicMatcher[str] = TopicMatcher()
    matcher.add("user.login", "h")
    matcher.add("user.*", "h")
    assert len(matcher) == 2
    assert matcher.match("user.login") == ["h"]
    assert matcher.remove("user.*", "h") is True
    assert matcher.match("user.login") == ["h"]
    assert matcher.match("user.logout") == []


def test_literal_match_survives_non_matching_wildcards() -> None:
    """A literal hit is kept even when no wildcard path gets past the first segment."""
    matcher: TopicMatcher[str] = TopicMatcher()
    matcher.add("user.login", "literal")
    matcher.add("admin.*", "wild")
    matcher.add("admin.#.x", "wild2")
    assert matcher.match("user.login") == ["literal"]
    assert matcher.match("admin.login") == ["wild"]


@pytest.mark.parametrize("pattern", ["user.login", "user.*", "user.#", "*", "#", "a.#.b"])
def test_adding_same_pair_twice_stores_it_once(pattern: str) -> None:
    matcher: TopicMatcher[str] = TopicMatcher()
    matcher.add(pattern, "v")
    matcher.add(pattern, "v")
    assert len(matcher) == 1
    assert matcher.remove(pattern, "v") is True
    assert len(matcher) == 0
    assert matcher.remove(pattern, "v") is False
    assert matcher.match("user.login") == []


def test_same_pattern_different_values() -> None:
    matcher: TopicMatcher[int] = TopicMatcher()
    for value in (1, 2, 3):
        matcher.add("a.*", value)
        matcher.add("a.b", value)
    assert len(matcher) == 6
    assert sorted(matcher.match("a.b")) == [1, 2, 3]
    assert matcher.remove("a.*", 2) is True
    assert matcher.remove("a.b", 2) is True
    assert sorted(matcher.match("a.b")) == [1, 3]
    assert sorted(matcher.match("a.c")) == [1, 3]
    assert len(matcher) == 4


def test_remove_absent_pair_returns_false_and_changes_nothing() -> None:
    matcher: TopicMatcher[str] = TopicMatcher()
    matcher.add("a.b", "v")
    matcher.add("a.*.b", "v")
    matcher.add("a.#", "v")
    absent: list[tuple[str, str]] = [
        ("a.b", "w"),  # right literal, wrong value
        ("a.c", "v"),  # unknown literal
        ("a", "v"),  # prefix of a literal
        ("a.*.b", "w"),  # right wildcard pattern, wrong value
        ("a.*", "v"),  # prefix of a stored wildcard path (node exists, value is deeper)
        ("a.*.b.c", "v"),  # longer than a stored path
        ("a.*.c", "v"),  # diverges from a stored path
        ("a.#.b", "v"),  # extends a stored "#" path
        ("*.b", "v"),
        ("#", "v"),
        ("*", "v"),
    ]
    for pattern, value in absent:
        assert matcher.remove(pattern, value) is False, (pattern, value)
    assert len(matcher) == 3
    assert matcher.match("a.b") == ["v"]
    assert matcher.match("a.x.b") == ["v"]
    assert matcher.match("a") == ["v"]


def test_remove_keeps_patterns_sharing_a_prefix() -> None:
    matcher: TopicMatcher[str] = TopicMatcher()
    matcher.add("a.*", "short")
    matcher.add("a.*.b", "long")
    matcher.add("a.#", "hash")
    matcher.add("a.#.b", "hash-long")
    assert matcher.remove("a.*.b", "long") is True
    assert sorted(matcher.match("a.x")) == ["hash", "short"]
    assert sorted(matcher.match("a.x.b")) == ["hash", "hash-long"]
    assert matcher.remove("a.#", "hash") is True
    assert matcher.match("a") == []
    assert sorted(matcher.match("a.x.b")) == ["hash-long"]
    assert sorted(matcher.match("a.b")) == ["hash-long", "short"]
    assert len(matcher) == 2


def test_removing_everything_prunes_the_trie() -> None:
    """White-box: after removing every pair no trie node or literal bucket is left behind."""
    matcher: TopicMatcher[str] = TopicMatcher()
    patterns = ["a.*.b", "a.*", "a.#", "a.#.b", "#.c", "*", "*.*", "x.y", "x"]
    for pattern in patterns:
        matcher.add(pattern, "v")
    for pattern in patterns:
        assert matcher.remove(pattern, "v") is True, pattern
        assert matcher.remove(pattern, "v") is False, pattern
    assert len(matcher) == 0
    assert matcher._root.is_empty()
    assert matcher._exact == {}
    assert matcher.match("a.x.b") == []


def test_bare_star_and_bare_hash_are_distinct_pairs() -> None:
    """``("*", v)`` and ``("#", v)`` are two pairs: removing one must keep the other.

    Both patterns match every name, but the contract counts stored (pattern, value) pairs.
    """
    matcher: TopicMatcher[str] = TopicMatcher()
    matcher.add("*", "v")
    matcher.add("#", "v")
    assert len(matcher) == 2
    assert matcher.remove("*", "v") is True
    assert len(matcher) == 1
    assert matcher.match("a.b") == ["v"]  # still subscribed through "#"
    assert matcher.remove("#", "v") is True
    assert len(matcher) == 0
    assert matcher.match("a.b") == []


# --------------------------------------------------------------------------------------------
# Property tests against the reference
# --------------------------------------------------------------------------------------------

names_st = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=5).map(".".join)
patterns_st = st.lists(st.sampled_from(["a", "b", "c", "*", "#"]), min_size=1, max_size=5).map(
    ".".join
)


@settings(max_examples=300, deadline=None)
@given(
    patterns=st.lists(patterns_st, unique=True, max_size=25),
    names=st.lists(names_st, min_size=1, max_size=10),
)
def test_match_equals_reference(patterns: list[str], names: list[str]) -> None:
    matcher: TopicMatcher[str] = TopicMatcher()
    for pattern in patterns:
        matcher.add(pattern, pattern)
    assert len(matcher) == len(patterns)
    for name in names:
        found = matcher.match(name)
        assert len(found) == len(set(found))
        assert set(found) == {p for p in patterns if ref_matches(p, name)}


@settings(max_examples=300, deadline=None)
@given(
    patterns=st.lists(patterns_st, unique=True, min_size=1, max_size=25),
    names=st.lists(names_st, min_size=1, max_size=10),
    data=st.data(),
)
def test_match_after_removals_equals_reference(
    patterns: list[str], names: list[str], data: st.DataObject
) -> None:
    matcher: TopicMatcher[str] = TopicMatcher()
    for pattern in patterns:
        matcher.add(pattern, pattern)
    removed = data.draw(st.lists(st.sampled_from(patterns), unique=True), label="removed")
    for pattern in removed:
        assert matcher.remove(pattern, pattern) is True
        assert matcher.remove(pattern, pattern) is False
    remaining = [p for p in patterns if p not in removed]
    assert len(matcher) == len(remaining)
    for name in names:
        found = matcher.match(name)
        assert len(found) == len(set(found))
        assert set(found) == {p for p in remaining if ref_matches(p, name)}
    for pattern in remaining:
        assert matcher.remove(pattern, pattern) is True
    assert len(matcher) == 0
    for name in names:
        assert matcher.match(name) == []


@settings(max_examples=300, deadline=None)
@given(
    pairs=st.lists(st.tuples(patterns_st, st.integers(0, 2)), max_size=25),
    remove_mask=st.lists(st.booleans(), max_size=25),
    names=st.lists(names_st, min_size=1, max_size=10),
)
@example(pairs=[("*", 0), ("#", 0)], remove_mask=[True], names=["a"])
def test_shared_values_against_reference(
    pairs: list[tuple[str, int]], remove_mask: list[bool], names: list[str]
) -> None:
    """Values shared between patterns, and duplicate adds: len counts distinct pairs, and
    removing a pair affects only that pair."""
    matcher: TopicMatcher[int] = TopicMatcher()
    for pattern, value in pairs:
        matcher.add(pattern, value)
    stored = list(dict.fromkeys(pairs))
    assert len(matcher) == len(stored)
    for name in names:
        found = matcher.match(name)
        assert len(found) == len(set(found))
        assert set(found) == {v for p, v in stored if ref_matches(p, name)}
    removed = [pair for pair, flag in zip(stored, remove_mask, strict=False) if flag]
    for pattern, value in removed:
        assert matcher.remove(pattern, value) is True, (pattern, value)
    remaining = [pair for pair in stored if pair not in removed]
    assert len(matcher) == len(remaining)
    for name in names:
        assert set(matcher.match(name)) == {v for p, v in remaining if ref_matches(p, name)}
    for pattern, value in remaining:
        assert matcher.remove(pattern, value) is True, (pattern, value)
    assert len(matcher) == 0


@settings(max_examples=300, deadline=None)
@given(name=names_st)
def test_every_name_is_a_valid_literal_pattern_matching_itself(name: str) -> None:
    assert validate_name(name) == name
    assert validate_pattern(name) == name
    assert not has_wildcard(name)
    matcher: TopicMatcher[str] = TopicMatcher()
    matcher.add(name, "v")
    assert matcher.match(name) == ["v"]


@settings(max_examples=300, deadline=None)
@given(pattern=patterns_st)
def test_generated_patterns_are_valid(pattern: str) -> None:
    assert validate_pattern(pattern) == pattern
    assert has_wildcard(pattern) == any(seg in ("*", "#") for seg in pattern.split("."))


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

VALID_NAMES = [
    "a",
    "user",
    "user.created",
    "order.item.shipped",
    "UPPER.lower",
    "x-y_z.1.2",
    "ünïcödé.événement",
    "a:b/c.d@e",
]


@pytest.mark.parametrize("name", VALID_NAMES)
def test_validate_name_accepts_and_returns_valid_names(name: str) -> None:
    assert validate_name(name) is name
    assert validate_name(name, "topic") is name


@pytest.mark.parametrize(
    "pattern", [*VALID_NAMES, "*", "#", "user.*", "user.#", "#.a.*", "*.*.#", "a.#.#.b"]
)
def test_validate_pattern_accepts_and_returns_valid_patterns(pattern: str) -> None:
    assert validate_pattern(pattern) is pattern


WILDCARD_REASON = "wildcards '*' and '#' are only allowed in patterns"

BAD_NAMES: list[tuple[str, str]] = [
    ("", "empty"),
    ("a..b", "empty segment"),
    (".a", "empty segment"),
    ("a.", "empty segment"),
    (".", "empty segment"),
    ("a b", "contains whitespace"),
    (" a", "contains whitespace"),
    ("a\tb", "contains whitespace"),
    ("a.b\n", "contains whitespace"),
    ("a\u00a0b", "contains whitespace"),
    ("*", WILDCARD_REASON),
    ("#", WILDCARD_REASON),
    ("user.*", WILDCARD_REASON),
    ("user.#", WILDCARD_REASON),
    ("us*er", WILDCARD_REASON),
    ("a.b#", WILDCARD_REASON),
]


@pytest.mark.parametrize(("name", "reason"), BAD_NAMES)
def test_validate_name_rejects_bad_strings(name: str, reason: str) -> None:
    message = f"invalid event name {name!r}: {reason}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        validate_name(name)


def test_validate_name_uses_kind_in_message() -> None:
    with pytest.raises(ValueError, match=re.escape("invalid topic 'a..b': empty segment")):
        validate_name("a..b", "topic")
    with pytest.raises(TypeError, match=re.escape("topic must be a str, not int: 5")):
        validate_name(5, "topic")


BAD_PATTERNS: list[tuple[str, str]] = [
    ("", "empty"),
    ("a..b", "empty segment"),
    (".a", "empty segment"),
    ("a.", "empty segment"),
    ("a.*.", "empty segment"),
    ("..", "empty segment"),
    ("a b", "contains whitespace"),
    ("a.* ", "contains whitespace"),
    ("a\tb", "contains whitespace"),
    ("a\u3000b", "contains whitespace"),
    ("us*er", "'*' and '#' must stand alone as a whole segment"),
    ("a.b#", "'*' and '#' must stand alone as a whole segment"),
    ("#a", "'*' and '#' must stand alone as a whole segment"),
    ("a.*b", "'*' and '#' must stand alone as a whole segment"),
    ("**", "'*' and '#' must stand alone as a whole segment"),
    ("##", "'*' and '#' must stand alone as a whole segment"),
    ("*#", "'*' and '#' must stand alone as a whole segment"),
]


@pytest.mark.parametrize(("pattern", "reason"), BAD_PATTERNS)
def test_validate_pattern_rejects_bad_strings(pattern: str, reason: str) -> None:
    message = f"invalid pattern {pattern!r}: {reason}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        validate_pattern(pattern)


def test_validate_pattern_uses_kind_in_message() -> None:
    with pytest.raises(
        ValueError, match=re.escape("invalid event name or pattern 'a b': contains whitespace")
    ):
        validate_pattern("a b", "event name or pattern")
    with pytest.raises(
        TypeError, match=re.escape("event name or pattern must be a str, not NoneType: None")
    ):
        validate_pattern(None, "event name or pattern")


NON_STRINGS: list[tuple[object, str]] = [
    (None, "NoneType"),
    (5, "int"),
    (b"x", "bytes"),
    (["a"], "list"),
    (1.5, "float"),
]


@pytest.mark.parametrize(("value", "type_name"), NON_STRINGS)
def test_validate_name_rejects_non_strings(value: object, type_name: str) -> None:
    message = f"event name must be a str, not {type_name}: {value!r}"
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        validate_name(value)


@pytest.mark.parametrize(("value", "type_name"), NON_STRINGS)
def test_validate_pattern_rejects_non_strings(value: object, type_name: str) -> None:
    message = f"pattern must be a str, not {type_name}: {value!r}"
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        validate_pattern(value)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("a", False),
        ("a.b.c", False),
        ("*", True),
        ("#", True),
        ("a.*", True),
        ("#.a", True),
        ("a.#.b", True),
    ],
)
def test_has_wildcard(pattern: str, expected: bool) -> None:
    assert has_wildcard(pattern) is expected
