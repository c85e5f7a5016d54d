"""Background emits, in a task group owned by ``async with emitter:`` (structured concurrency),
and ``emit_sync``, the way in from sync code and other threads."""

from __future__ import annotations

import threading
from functools import partial
from inspect import isawaitable
from typing import TYPE_CHECKING, Any

import anyio
import anyio.from_thread
import anyio.lowlevel

from .._core._checks import (
    check_bool,
    check_callable,
    check_count,
    check_metadata,
    check_seconds,
)
from .._core._event import Event, EventPriority
from .._core._exceptions import EventEmitError, EventHandlerError
from .._core._threads import check_may_block, event_loop_in_this_thread, run_in_a_loop
from .._core._topics import validate_name
from ._dispatch import EmitterCore
from ._listener import Listener
from ._tasks import Background, EmitHandle

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


class BackgroundWork(EmitterCore):
    """The :class:`~mtbus.EventEmitter` methods for background emits, and ``emit_sync``
    (a mixin)."""

    __slots__ = ()

    # -- the part's lifecycle, driven by EventEmitter's ``async with`` and close() ------

    async def _start_background(self) -> None:
        if self._background is not None:
            raise RuntimeError("emitter is already in an 'async with' block")
        self._check_open("start background work on it")
        background = Background()
        await background.group.__aenter__()
        self._background = background

    async def _stop_background(self, *, failed: bool) -> None:
        background = self._background
        if background is None:  # pragma: no cover - only reachable by calling it by hand
            raise RuntimeError("emitter is not in an 'async with' block")
        try:
            await background.stop(failed=failed)
        finally:
            self._background = None

    def _cancel_background(self) -> None:
        if self._background is not None:
            self._background.cancel_all()

    def _check_background_thread(self, call: str, *, also: str = "") -> None:
        """Refuse *call* from another thread than the event loop's, if it would wake a task.

        :param also: another way to name in the error, after anyio's
        """
        background = self._background
        if background is not None and threading.get_ident() != background.thread:
            raise RuntimeError(
                f"{call} called from another thread than the event loop's: "
                f"call it there, with anyio.from_thread.run_sync from a worker thread{also}"
            )

    def emit_after(
        self,
        delay: float,
        name: str,
        data: Any = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        strict: bool | None = None,
    ) -> EmitHandle:
        """Emit an event after *delay* seconds, in the background.

        The name and metadata are checked now; the event is created when it is emitted.

        :return: a handle to cancel it, or wait for it
        :raises RuntimeError: outside ``async with emitter:``, or from another thread than
            the event loop's
        :raises TypeError: if *delay* is not a number, *strict* not a ``bool`` or ``None``,
            or *name* or *metadata* are invalid
        :raises ValueError: if *delay* is negative or not finite, or *name* is invalid
        """
        background = self._running_background("emit_after")
        check_seconds(delay, "delay")
        validate_name(name)
        if metadata is not None:
            check_metadata(metadata)
        check_bool(strict, "strict", optional=True)

        async def emit_later(handle: EmitHandle) -> None:
            await anyio.sleep(delay)
            await anyio.lowlevel.checkpoint_if_cancelled()
            handle._running = True
            await self.emit(name, data, metadata, strict=strict)
            handle.emitted += 1

        return background.start(EmitHandle(name), emit_later, waits=True)

    def emit_periodic(
        self,
        interval: float,
        name: str,
        data: Any = None,
        metadata: Mapping[str, Any] | Callable[[], Any] | None = None,
        max_count: int | None = None,
        *,
        strict: bool | None = None,
    ) -> EmitHandle:
        """Emit an event every *interval* seconds, in the background.

        The first emit happens one *interval* from now. Ticks follow a fixed schedule; when
        a dispatch takes longer than *interval*, the missed ticks are skipped, not bunched.
        If *data* (or *metadata*) is callable, it is a provider: it is called (and awaited,
        if it returns an awaitable) at each tick for the value to emit. A raising provider
        is reported like a raising handler, and that tick is skipped.

        :param max_count: stop after this many ticks (default: never)
        :return: a handle to cancel it, or wait for it
        :raises RuntimeError: outside ``async with emitter:``, or from another thread than
            the event loop's
        :raises TypeError: if *interval*, *max_count* or *strict* has the wrong type, a
            provider cannot be called without arguments, or *name* or *metadata* are invalid
        :raises ValueError: if *interval* is not above zero or not finite, *max_count* is
            below 1, or *name* is invalid
        """
        background = self._running_background("emit_periodic")
        check_seconds(interval, "interval", positive=True)
        validate_name(name)
        if callable(data):
            check_callable(data, "data provider", 0)
        if callable(metadata):
            check_callable(metadata, "metadata provider", 0)
        elif metadata is not None:
            check_metadata(metadata)
        if max_count is not None:
            check_count(max_count, "max_count", 1, optional=True)
        check_bool(strict, "strict", optional=True)

        async def emit_every(handle: EmitHandle) -> None:
            ticks = 0
            deadline = anyio.current_time()
            while max_count is None or ticks < max_count:
                deadline += interval
                await anyio.sleep_until(deadline)
                await anyio.lowlevel.checkpoint_if_cancelled()
                ticks += 1
                handle._running = True
                try:
                    value = await _provide(self, name, data, "data provider", strict)
                    extra = await _provide(self, name, metadata, "metadata provider", strict)
                    if value is not _SKIP and extra is not _SKIP:
                        await self.emit(name, value, extra, strict=strict)
                        handle.emitted += 1
                finally:
                    handle._running = False
                background = self._background
                if background is None or background.closing:
                    return
                deadline = max(deadline, anyio.current_time() - interval)

        return background.start(EmitHandle(name), emit_every, waits=True)

    def emit_soon(
        self,
        name: str,
        data: Any = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        strict: bool | None = None,
    ) -> EmitHandle:
        """Emit an event soon, in the background, without waiting for its handlers.

        Fire and forget, as anyio's ``start_soon``: the event is created now (with its
        timestamp); its handlers run in the emitter's task group, outside any batch or
        suppression of the calling task. A normal end of the ``async with`` block waits
        for them. ``emit_nowait`` is an alias.

        :return: a handle to cancel it, or wait for it
        :raises RuntimeError: outside ``async with emitter:``, or from another thread than
            the event loop's
        :raises TypeError: if *name* is not a ``str``, *metadata* not a mapping, or
            *strict* not a ``bool`` or ``None``
        :raises ValueError: if *name* is not a valid event name
        """
        background = self._running_background("emit_soon")
        validate_name(name)
        if metadata is not None:
            check_metadata(metadata)
        check_bool(strict, "strict", optional=True)
        event = Event(name, data, True, None if metadata is None else dict(metadata))

        async def emit_now(handle: EmitHandle) -> None:
            await self._deliver(event, None, strict, valid=True)
            handle.emitted += 1

        return background.start(EmitHandle(name), emit_now, waits=False)

    #: The name of the mtaio reference and of the design document: emits *soon* (it never
    #: waits, so ``_nowait``'s other meaning, raising ``WouldBlock``, never arises).
    emit_nowait = emit_soon

    def _running_background(self, method: str) -> Background:
        self._check_open(f"call {method}() on it")
        # emit_soon's errors name emit_sync, the call that works where emit_soon cannot.
        sync = method == "emit_soon"
        if self._background is None:
            hint = ", or emitter.emit_sync(...) from sync code"
            raise RuntimeError(
                f"{method}() needs a running emitter: use it inside 'async with emitter:'"
                f"{hint if sync and not event_loop_in_this_thread() else ''}"
            )
        hint = ", or emitter.emit_sync(...) to emit from any thread and wait for the handlers"
        self._check_background_thread(f"{method}()", also=hint if sync else "")
        return self._background

    # -- from sync code and other threads ----------------------------------------------

    def emit_sync(
        self,
        name: str,
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

        :param name: the event name (a pattern is not allowed here)
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
        :raises TypeError: if *name* is not a ``str``, *metadata* not a mapping, or
            *concurrent* or *strict* neither a ``bool`` nor ``None``
        :raises ValueError: if *name* is not a valid event name
        """
        self._check_open(f"emit {name!r}")
        validate_name(name)
        if metadata is not None:
            check_metadata(metadata)
        check_bool(concurrent, "concurrent", optional=True)
        check_bool(strict, "strict", optional=True)
        background = self._background
        check_may_block(
            "emitter.emit_sync",
            "await emitter.emit(...)",
            None if background is None else background.thread,
        )
        if background is None:
            return run_in_a_loop(
                partial(self.emit, name, data, metadata, concurrent=concurrent, strict=strict)
            )
        try:
            return anyio.from_thread.run(
                self._emit_in_block,
                background,
                (name, data, metadata, concurrent, strict),
                token=background.token,
            )
        except anyio.RunFinishedError as error:
            raise EventEmitError(
                f"cannot emit {name!r}: the event loop of the emitter's 'async with' "
                f"block has finished"
            ) from error

    async def _emit_in_block(
        self,
        background: Background,
        arguments: tuple[str, Any, Mapping[str, Any] | None, bool | None, bool | None],
    ) -> Event[Any]:
        """What ``emit_sync`` runs in the event loop: an emit in the block's task group."""
        name, data, metadata, concurrent, strict = arguments
        if self._background is not background:  # the block ended before this ran
            self._check_open(f"emit {name!r}")
            raise EventEmitError(
                f"cannot emit {name!r}: the emitter left its 'async with' block before "
                f"emit_sync() reached its event loop"
            )
        emitted: list[Event[Any]] = []

        async def emit_now(handle: EmitHandle) -> None:
            event = await self.emit(name, data, metadata, concurrent=concurrent, strict=strict)
            emitted.append(event)
            handle.emitted += 1

        handle = background.start(EmitHandle(name), emit_now, waits=False)
        await handle.wait()
        if handle.error is not None:
            raise handle.error
        if not emitted:
            cause = (
                "the emitter was closed"
                if self._closed
                else "the emitter's 'async with' block ended with an exception"
            )
            raise EventEmitError(f"emit_sync({name!r}) cancelled: {cause}")
        return emitted[0]


_SKIP: Any = object()


async def _provide(
    emitter: EmitterCore, name: str, value: Any, role: str, strict: bool | None
) -> Any:
    """The value of a tick: *value* itself, or what it returns if it is a provider."""
    if not callable(value):
        return value
    try:
        result = value()
        if isawaitable(result):
            result = await result
        if role == "metadata provider" and result is not None:
            check_metadata(result)
    except Exception as error:
        event: Event[Any] = Event(name)
        await emitter._report(
            event, error, Listener(name, value, priority=EventPriority.MONITOR, role=role)
        )
        if emitter._strict if strict is None else strict:
            raise EventHandlerError(event, (error,)) from error
        return _SKIP
    return result
