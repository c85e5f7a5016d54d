"""What a recording of an emitter or a channel offers: queries, asserts and waiting.

The events or messages are collected elsewhere (``_emitters``, ``_channels``); this module
matches them against names, patterns, data and predicates, and says what it saw when an
assertion fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import anyio

from .._core._checks import check_condition, check_count, check_seconds
from .._core._topics import TopicMatcher, validate_pattern

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

ItemT = TypeVar("ItemT")

#: How many recorded items a failure message lists at the most: half from the start, half
#: from the end.
LISTED = 30
#: How many characters of an item's data a failure message shows.
DATA_WIDTH = 80


class _Anything:
    """The default of ``data=``: the data is not checked."""

    def __repr__(self) -> str:
        return "ANY"


ANY: Any = _Anything()


class Recording(Generic[ItemT]):
    """Events (or messages) recorded in order, with asserts that list them when they fail.

    Every method that takes a *pattern* matches it against each item's name (a message's
    topic) with the usual rules (``order.*``, ``order.#``; ``"#"`` matches everything). A
    broadcast (a message without a topic) is matched by the catch-all patterns ``"#"``
    and ``"*"`` only. *data* compares with ``==`` (:data:`unittest.mock.ANY` works
    inside it); *where* is a function of the item that returns whether it counts.

    Get one from :func:`~mtbus.testing.record_events`, :func:`~mtbus.testing.mute` or
    :func:`~mtbus.testing.record_messages`.
    """

    __slots__ = ("_arrived", "_items", "_stopped")

    #: What an item is called in failure messages.
    _kind: ClassVar[str] = "item"

    def __init__(self) -> None:
        self._items: list[ItemT] = []
        self._stopped = False
        self._arrived: anyio.Event | None = None

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "recording"
        return f"<{type(self).__name__} {len(self._collect())} {self._kind}s {state}>"

    # -- what an item is (the subclasses say) ----------------------------------------------

    @staticmethod
    def _name_of(item: ItemT) -> str | None:
        raise NotImplementedError

    @staticmethod
    def _data_of(item: ItemT) -> Any:
        raise NotImplementedError

    # -- queries -------------------------------------------------------------------------

    @property
    def names(self) -> list[str | None]:
        """The name (a message's topic; ``None`` for a broadcast) of each item, in order."""
        return [self._name_of(item) for item in self._collect()]

    @property
    def pairs(self) -> list[tuple[str | None, Any]]:
        """Each item as a ``(name, data)`` tuple, in order."""
        return [(self._name_of(item), self._data_of(item)) for item in self._collect()]

    def matching(
        self,
        pattern: str = "#",
        *,
        data: Any = ANY,
        where: Callable[[ItemT], bool] | None = None,
    ) -> list[ItemT]:
        """The items that match, in order.

        :raises TypeError: if *pattern* is not a ``str`` or *where* not a function
        :raises ValueError: if *pattern* is not a valid name or pattern
        """
        test = self._test(pattern, data, where)
        return [item for item in self._collect() if test(item)]

    def clear(self) -> None:
        """Forget everything recorded so far (recording goes on)."""
        self._collect()
        self._items.clear()

    # -- asserts -------------------------------------------------------------------------

    def assert_seen(
        self,
        pattern: str = "#",
        *,
        data: Any = ANY,
        where: Callable[[ItemT], bool] | None = None,
        times: int | None = None,
    ) -> list[ItemT]:
        """Assert that an item matching was recorded (exactly *times* of them, if given).

        :return: the matching items, in order
        :raises AssertionError: if not; the message lists every item recorded
        :raises TypeError, ValueError: if an argument is not valid
        """
        test = self._test(pattern, data, where)
        if times is not None:
            check_count(times, "times", 0, optional=True)
        found = [item for item in self._collect() if test(item)]
        if not found if times is None else len(found) != times:
            article = "an" if self._kind[0] in "aeiou" else "a"
            wanted = f"{article} {self._kind}" if times is None else _count(times, self._kind)
            raise AssertionError(
                f"expected {wanted} {_description(pattern, data, where)}, "
                f"but {_seen(len(found))}" + self._listing(test)
            )
        return found

    def assert_not_seen(
        self,
        pattern: str = "#",
        *,
        data: Any = ANY,
        where: Callable[[ItemT], bool] | None = None,
    ) -> None:
        """Assert that no item matching was recorded.

        :raises AssertionError: if one was; the message lists every item recorded
        :raises TypeError, ValueError: if an argument is not valid
        """
        test = self._test(pattern, data, where)
        found = [item for item in self._collect() if test(item)]
        if found:
            raise AssertionError(
                f"expected no {self._kind} {_description(pattern, data, where)}, "
                f"but {_seen(len(found))}" + self._listing(test)
            )

    def assert_seen_in_order(self, patterns: Iterable[str]) -> None:
        """Assert that items matching *patterns* were recorded in this order.

        Others may come before, between and after them: ``["a", "c"]`` passes for the
        names ``a, b, c``. For the exact sequence, compare :attr:`names` instead.

        :raises AssertionError: if not; the message says which one is missing and lists
            every item recorded
        :raises TypeError, ValueError: if a pattern is not valid
        """
        if isinstance(patterns, str):
            raise TypeError(f"patterns must be an iterable of str, not a str: {patterns!r}")
        wanted = [validate_pattern(pattern) for pattern in patterns]
        items = self._collect()
        position = 0
        after = ""
        for pattern in wanted:
            test = self._test(pattern, ANY, None)
            while position < len(items) and not test(items[position]):
                position += 1
            if position == len(items):
                order = ", ".join(map(repr, wanted))
                raise AssertionError(
                    f"expected {self._kind}s matching {order} in this order, but none "
                    f"matching {pattern!r} was seen{after}" + self._listing(test)
                )
            after = f" after #{position} {self._name_of(items[position]) or '(broadcast)'}"
            position += 1

    # -- waiting -------------------------------------------------------------------------

    async def wait_for(
        self,
        pattern: str = "#",
        *,
        data: Any = ANY,
        where: Callable[[ItemT], bool] | None = None,
        count: int = 1,
        timeout: float = 10,
    ) -> list[ItemT]:
        """Wait until at least *count* items matching were recorded; return those.

        Returns at once if they are already there. For what arrives from another task, a
        background emit or a Redis server.

        :param timeout: how many seconds to wait at the most (``math.inf``: no limit)
        :return: the matching items, in order
        :raises AssertionError: if they are not there within *timeout* seconds, or the
            recording stopped (no more can come) before; the message lists every item
            recorded
        :raises TypeError, ValueError: if an argument is not valid
        """
        test = self._test(pattern, data, where)
        check_count(count, "count", 1)
        seconds = check_seconds(timeout, "timeout", infinite=True)
        ended = ""
        with anyio.move_on_after(seconds):
            while sum(map(test, self._collect())) < count:
                if not await self._more():
                    ended = "; the recording has stopped"
                    break
        found = [item for item in self._collect() if test(item)]
        if len(found) >= count:
            return found
        wanted = _count(count, self._kind)
        within = ended or f" within {seconds:g} s"
        raise AssertionError(
            f"expected {wanted} {_description(pattern, data, where)}{within}, "
            f"but {_seen(len(found))}" + self._listing(test)
        )

    # -- what recorders call -------------------------------------------------------------

    def _add(self, item: ItemT) -> None:
        """Record *item*, and wake whoever waits for more."""
        self._items.append(item)
        self._wake()

    def _stop(self) -> None:
        """Nothing more will be recorded: wake whoever waits, so they stop waiting."""
        self._stopped = True
        self._wake()

    def _wake(self) -> None:
        arrived, self._arrived = self._arrived, None
        if arrived is not None:
            arrived.set()

    def _collect(self) -> list[ItemT]:
        """Every item recorded so far (a subclass may first fetch what arrived)."""
        return self._items

    async def _more(self) -> bool:
        """Wait for another item to be recorded; False if none can come any more."""
        if self._stopped:
            return False
        if self._arrived is None:
            self._arrived = anyio.Event()
        await self._arrived.wait()
        return True

    # -- matching and telling ------------------------------------------------------------

    def _test(
        self, pattern: str, data: Any, where: Callable[[ItemT], bool] | None
    ) -> Callable[[ItemT], bool]:
        """The function that says whether an item matches (arguments checked first)."""
        validate_pattern(pattern)
        if where is not None:
            check_condition(where, "where")
        matcher: TopicMatcher[bool] = TopicMatcher()
        matcher.add(pattern, True)
        catch_all = pattern in ("#", "*")
        name_of, data_of = self._name_of, self._data_of

        def test(item: ItemT) -> bool:
            name = name_of(item)
            if not (catch_all if name is None else matcher.match(name)):
                return False
            if data is not ANY and data != data_of(item):
                return False
            return where is None or bool(where(item))

        return test

    def _listing(self, test: Callable[[ItemT], bool]) -> str:
        """The failure message's list of what was recorded; ``*`` marks the matches."""
        items = self._collect()
        if not items:
            return f"; no {self._kind} was recorded"
        lines = [f"; {_count(len(items), self._kind)} recorded (* matches):"]
        half = LISTED // 2
        for index, item in enumerate(items):
            if len(items) > LISTED and half <= index < len(items) - half:
                if index == half:
                    lines.append(f"  ... {len(items) - LISTED} more ...")
                continue
            name = self._name_of(item)
            mark = "*" if test(item) else " "
            lines.append(
                f"{mark} #{index} {'(broadcast)' if name is None else name} "
                f"{_shorten(repr(self._data_of(item)))}"
            )
        return "\n".join(lines)


def _description(pattern: str, data: Any, where: Callable[..., bool] | None) -> str:
    text = f"matching {pattern!r}"
    if data is not ANY:
        text += f" with data {_shorten(repr(data))}"
    if where is not None:
        text += f" where {getattr(where, '__name__', repr(where))}"
    return text


def _count(number: int, kind: str) -> str:
    return f"{number} {kind}{'' if number == 1 else 's'}"


def _seen(number: int) -> str:
    if number == 0:
        return "none was seen"
    return f"{number} {'was' if number == 1 else 'were'} seen"


def _shorten(text: str) -> str:
    return text if len(text) <= DATA_WIDTH else text[: DATA_WIDTH - 3] + "..."
