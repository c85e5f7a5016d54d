"""Background emits, in a task group owned by ``async with emitter:`` (structured concurrency)."""

from __future__ import annotations

import threading
from inspect import isawaitable
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel

from .._core._checks import (
    check_bool,
    check_callable,
    check_count,
    check_metadata,
    check_seconds,
)
from .._core._event import Event, EventPriority
from .._core._exceptions import EventHandlerError
from .._core._threads import event_loop_in_this_thread, wrong_thread
from .._core._topics import validate_name
from ._dispatch import EmitterCore
from ._listener import Listener
from ._tasks import Background, EmitHandle

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


class BackgroundWork(EmitterCore):
    """The :class:`~mtbus.EventEmitter` methods for background emits (a mixin)."""

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

    def _check_background_thread(self, call: str, *, instead: str = "") -> None:
        """Refuse *call* from another thread than the event loop's, if it would wake a task.

        :param instead: another call to name in the error, before anyio's way in
        """
        background = self._background
        if background is not None and threading.get_ident() != background.thread:
            anyio_way = f"anyio.from_thread.run_sync(emitter.{call.removesuffix('()')}, ...)"
            remedy = f"{instead}, or {anyio_way}" if instead else anyio_way
            raise wrong_thread(f"call {call}", remedy)

    def emit_after(
        self,
        delay: float,
        name: object,
        data: Any = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        strict: bool | None = None,
    ) -> EmitHandle:
        """Emit an event after *delay* seconds, in the background.

        The name (or an event class's instance, as :meth:`emit` takes it) and metadata are
        checked now; the event is created when it is emitted.

        :return: a handle to cancel it, or wait for it
        :raises RuntimeError: outside ``async with emitter:``, or from another thread than
            the event loop's
        :raises TypeError: if *delay* is not a number, *strict* not a ``bool`` or ``None``,
            or *name* or *metadata* are invalid
        :raises ValueError: if *delay* is negative or not finite, or *name* is invalid
        """
        background = self._running_background("emit_after")
        check_seconds(delay, "delay")
        checked = self._check_emit(name, data, metadata, None, strict)

        async def emit_later(handle: EmitHandle) -> None:
            await anyio.sleep(delay)
            await anyio.lowlevel.checkpoint_if_cancelled()
            handle._running = True
            await self.emit(name, data, metadata, strict=strict)
            handle.emitted += 1

        return background.start(EmitHandle(checked.name), emit_later, waits=True)

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
        name: object,
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
        :raises TypeError: if *name* is neither a ``str`` nor an instance of an event class
            (as :meth:`emit` takes it), *metadata* not a mapping, or
            *strict* not a ``bool`` or ``None``
        :raises ValueError: if *name* is not a valid event name
        """
        background = self._running_background("emit_soon")
        event = self._check_emit(name, data, metadata, None, strict)

        async def emit_now(handle: EmitHandle) -> None:
            await self._deliver(event, None, strict, valid=True)
            handle.emitted += 1

        return background.start(EmitHandle(event.name), emit_now, waits=False)

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
        instead = "emitter.emit_sync(...) to emit and wait for the handlers"
        self._check_background_thread(f"{method}()", instead=instead if sync else "")
        return self._background


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
