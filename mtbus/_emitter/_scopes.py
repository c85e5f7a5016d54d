"""Where open batches, suppressions and mutes live: scopes, per task or per emitter.

An open batch or suppression is a *scope*, pushed onto a context variable for as long as its
``async with`` block runs. So it holds back the emits of the task that opened it, and of tasks
started from inside the block, but not emits made concurrently by other tasks. A mute
(``mtbus.testing.mute``) is a scope of every task instead: it is kept by emitter, and holds
back the emits that no scope of the emitting task took, whichever task made them. An emitter
only looks here while one of its scopes is open somewhere (it counts them, through
:meth:`Holder._start_holding` and :meth:`Holder._stop_holding`).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar
from weakref import WeakKeyDictionary

if TYPE_CHECKING:
    from contextvars import Token

    from .._core._event import Event

_scopes: ContextVar[tuple[Scope[Any], ...]] = ContextVar("mtbus_scopes", default=())
#: The scopes of every task (mutes) open on each emitter, innermost last.
_everywhere: WeakKeyDictionary[Holder, tuple[Scope[Any], ...]] = WeakKeyDictionary()


class Holder(Protocol):
    """What a scope needs of its emitter: to be told while it holds events back."""

    def _check_open(self, action: str) -> None: ...

    def _start_holding(self) -> None: ...

    def _stop_holding(self) -> None: ...


HolderT = TypeVar("HolderT", bound=Holder)


class Scope(Generic[HolderT]):
    """An open batch, suppression or mute of one emitter: in the task that opened it, or
    (if :attr:`everywhere`) in every task."""

    __slots__ = ("_token", "_used", "emitter", "open")

    #: Whether it holds back the emits of every task, not only the opening task's.
    everywhere: ClassVar[bool] = False

    def __init__(self, emitter: HolderT) -> None:
        self.emitter: HolderT = emitter
        self.open: bool = False
        self._used = False
        self._token: Token[tuple[Scope[Any], ...]] | None = None

    def _take(self, event: Event[Any], *, concurrent: bool | None, strict: bool | None) -> bool:
        """Hold *event* back if this scope wants it; say whether it did."""
        raise NotImplementedError

    def _enter(self) -> None:
        if self._used:
            raise RuntimeError(f"{type(self).__name__.lstrip('_').lower()} can only be used once")
        self.emitter._check_open("open a batch or suppression on it")
        self._used = True
        if self.everywhere:
            _everywhere[self.emitter] = (*_everywhere.get(self.emitter, ()), self)
        else:
            self._token = _scopes.set((*_scopes.get(), self))
        self.open = True
        self.emitter._start_holding()

    def _exit(self) -> None:
        self.open = False
        if self._token is not None:
            _scopes.reset(self._token)
        elif self.everywhere:
            opened = _everywhere.get(self.emitter, ())
            others = tuple(scope for scope in opened if scope is not self)
            if others:
                _everywhere[self.emitter] = others
            else:
                _everywhere.pop(self.emitter, None)
        self.emitter._stop_holding()


def hold(emitter: Holder, event: Event[Any], concurrent: bool | None, strict: bool | None) -> bool:
    """Let the innermost scope of *emitter* open in this task take *event*, if one wants it,
    else the innermost scope of *emitter* open in every task."""
    for scope in reversed(_scopes.get()):
        if (
            scope.open
            and scope.emitter is emitter
            and scope._take(event, concurrent=concurrent, strict=strict)
        ):
            return True
    for scope in reversed(_everywhere.get(emitter, ())):
        if scope._take(event, concurrent=concurrent, strict=strict):
            return True
    return False


def leave_scopes() -> None:
    """Make the current task (a background job) independent of the scopes it inherited."""
    _scopes.set(())


def innermost(emitter: Holder) -> Scope[Any] | None:
    """The innermost scope of *emitter* open in this task, if any (a mute is in none)."""
    found: Scope[Any] | None = None
    for scope in reversed(_scopes.get()):
        if scope.open and scope.emitter is emitter:
            found = scope
            break
    return found
