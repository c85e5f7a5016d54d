"""The way in from sync code and other threads: ``emit_sync`` and ``collect_sync``."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, overload

from .._core._exceptions import EventEmitError
from .._core._threads import run_from_sync
from ._background import BackgroundWork
from ._collecting import Collecting
from ._tasks import EmitHandle

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from .._core._event import Event, HandlerResults
    from ._dispatch import E
    from ._tasks import Background

T = TypeVar("T")


class SyncCalls(Collecting, BackgroundWork):
    """The :class:`~mtbus.EventEmitter` methods for sync code and other threads (a mixin).

    They run the emit where an ``await`` of it would run: in the event loop of the
    emitter's ``async with`` block (its task group is :class:`BackgroundWork`'s), in the
    loop of an anyio worker thread, or in a new loop; and wait for it.
    """

    __slots__ = ()

    @overload
    def emit_sync(
        self,
        name: str,
        data: Any = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        concurrent: bool | None = None,
        strict: bool | None = None,
    ) -> Event[Any]: ...

    @overload
    def emit_sync(
        self,
        name: E,
        data: None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        concurrent: bool | None = None,
        strict: bool | None = None,
    ) -> Event[E]: ...

    def emit_sync(
        self,
        name: Any,
        data: Any = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        concurrent: bool | None = None,
        strict: bool | None = None,
    ) -> Event[Any]:
        """Emit from sync code or another thread: run the handlers, wait for them, return the event.

        The handlers run as ``await emitter.emit(...)`` runs them (priority order, async
        handlers to completion, ``to_thread`` handlers in worker threads), in one of three
        places, the first that applies:

        1. inside ``async with emitter:`` in an event loop of another thread: in that loop,
           as a task of the block's task group, while the calling thread blocks. A normal
           end of the block waits for it; an exception or cancellation ending the block,
           or :meth:`close`, cancels it, and ``emit_sync`` raises
           :exc:`~mtbus.EventEmitError`;
        2. in an anyio worker thread (``anyio.to_thread.run_sync``): in the event loop
           that started the thread;
        3. otherwise: in a new asyncio event loop, in the calling thread (so the handlers
           see its thread-locals and context variables), closed before it returns.

        ``async with emitter:`` is what binds an emitter to its event loop: an emitter
        that a loop in another thread uses outside such a block cannot be told apart from
        an unused one, and its handlers would run in the calling thread.

        The arguments are checked in the calling thread, before anything runs. What the
        emit raises is raised here as itself.

        :param name: the event name (a pattern is not allowed here), or an instance of an
            event class (as :meth:`emit` takes it)
        :param data: the payload, available to handlers as ``event.data``
        :param metadata: copied into ``event.metadata``
        :param concurrent: override the emitter's ``concurrent`` setting for this emit
        :param strict: override the emitter's ``strict`` setting for this emit
        :return: the :class:`~mtbus.Event` the handlers saw
        :raises RuntimeError: if an event loop runs in the calling thread (waiting would
            block it): there, use ``await emitter.emit(...)``
        :raises ~mtbus.EventHandlerError: in strict mode, after all handlers ran, if any
            handler or hook failed
        :raises ~mtbus.EventEmitError: if the emitter is closed, or its handlers were
            cancelled as described above, or its block ended before the call reached
            the event loop
        :raises TypeError: if *name* is neither a ``str`` nor an instance of an event class
            (as :meth:`emit` takes it), *metadata* not a mapping, or
            *concurrent* or *strict* neither a ``bool`` nor ``None``
        :raises ValueError: if *name* is not a valid event name
        """
        checked = self._check_emit(name, data, metadata, concurrent, strict)
        return self._run_sync(
            "emit_sync",
            checked.name,
            partial(self.emit, name, data, metadata, concurrent=concurrent, strict=strict),
        )

    @overload
    def collect_sync(
        self,
        name: str,
        data: Any = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        concurrent: bool | None = None,
    ) -> HandlerResults[Any]: ...

    @overload
    def collect_sync(
        self,
        name: E,
        data: None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        concurrent: bool | None = None,
    ) -> HandlerResults[E]: ...

    def collect_sync(
        self,
        name: Any,
        data: Any = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        concurrent: bool | None = None,
    ) -> HandlerResults[Any]:
        """:meth:`collect` from sync code or another thread, as :meth:`emit_sync` emits.

        What Tina4's sync ``emit()`` returns: the handlers' results, from a sync route.
        It runs where :meth:`emit_sync` would run the emit (in the loop of ``async with
        emitter:`` from another thread, an anyio worker thread's loop, or a new asyncio
        loop) and raises what it raises.

        :return: the :class:`~mtbus.HandlerResults`
        :raises RuntimeError: if an event loop runs in the calling thread: there, use
            ``await emitter.collect(...)``
        :raises ~mtbus.EventEmitError: if the emitter is closed, or the emit was cancelled
            by the end of its ``async with`` block (see :meth:`emit_sync`)
        :raises TypeError, ValueError: as :meth:`collect`
        """
        checked = self._check_emit(name, data, metadata, concurrent, None)
        return self._run_sync(
            "collect_sync",
            checked.name,
            partial(self.collect, name, data, metadata, concurrent=concurrent),
        )

    def _run_sync(self, method: str, name: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run *call* (an emit of *name*, its arguments checked) for a ``*_sync`` *method*:
        in the event loop of ``async with`` (from another thread), the one of this anyio
        worker thread, or a new one; wait for it, and return what it returns."""
        background = self._background
        in_block = None
        if background is not None:
            run = partial(self._run_in_block, background, method, name, call)
            in_block = (background.token, background.thread, run)
        return run_from_sync(
            f"emitter.{method}",
            f"await emitter.{method.removesuffix('_sync')}(...)",
            call,
            in_block,
            lambda: EventEmitError(
                f"cannot emit {name!r}: the event loop of the emitter's 'async with' "
                f"block has finished"
            ),
        )

    async def _run_in_block(
        self, background: Background, method: str, name: str, call: Callable[[], Awaitable[T]]
    ) -> T:
        """What a ``*_sync`` method runs in the event loop: *call*, in the block's task group."""
        if self._background is not background:  # the block ended before this ran
            self._check_open(f"emit {name!r}")
            raise EventEmitError(
                f"cannot emit {name!r}: the emitter left its 'async with' block before "
                f"{method}() reached its event loop"
            )
        returned: list[T] = []

        async def run_now(handle: EmitHandle) -> None:
            returned.append(await call())
            handle.emitted += 1

        handle = background.start(EmitHandle(name), run_now, waits=False)
        await handle.wait()
        if handle.error is not None:
            raise handle.error
        if not returned:
            cause = (
                "the emitter was closed"
                if self._closed
                else "the emitter's 'async with' block ended with an exception"
            )
            raise EventEmitError(f"{method}({name!r}) cancelled: {cause}")
        return returned[0]
