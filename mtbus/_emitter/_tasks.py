"""An emitter's background work: the task group of ``async with emitter:`` and its handles.

:class:`Background` is the state; :class:`~mtbus._emitter._background.BackgroundWork` adds
the methods that start work in it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel

from .._core._threads import wrong_thread
from ._scopes import leave_scopes

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from anyio.abc import TaskGroup
    from anyio.lowlevel import EventLoopToken


class EmitHandle:
    """A background emit started by ``emit_after``, ``emit_periodic`` or ``emit_soon``.

    :ivar name: the event name it emits
    :ivar emitted: how many emits it has completed so far
    """

    __slots__ = ("_error", "_finished", "_running", "_scope", "_thread", "emitted", "name")

    def __init__(self, name: str) -> None:
        self.name: str = name
        self.emitted: int = 0
        self._error: Exception | None = None
        self._scope = anyio.CancelScope()
        self._finished = anyio.Event()
        #: True while an emit is dispatching: a normal exit of ``async with`` lets it finish.
        self._running = False
        #: The event loop's thread, the only one that may cancel it.
        self._thread = threading.get_ident()

    def cancel(self) -> None:
        """Cancel it: a pending emit never happens, a running dispatch is cancelled.

        Cancelling a finished handle does nothing.

        :raises RuntimeError: if called from another thread than the event loop's (use
            ``anyio.from_thread.run_sync(handle.cancel)`` there)
        """
        if threading.get_ident() != self._thread:
            raise wrong_thread(
                "call EmitHandle.cancel()", "anyio.from_thread.run_sync(handle.cancel)"
            )
        self._scope.cancel()

    @property
    def cancelled(self) -> bool:
        """Whether it was cancelled (by :meth:`cancel`, or when its emitter stopped it)."""
        return self._scope.cancel_called

    @property
    def done(self) -> bool:
        """Whether it has finished: completed, cancelled, or failed."""
        return self._finished.is_set()

    @property
    def error(self) -> Exception | None:
        """What ended it with a failure: the :exc:`~mtbus.EventHandlerError` of a strict
        emit whose handlers failed (each failure was already logged and passed to the
        ``on_error`` hooks), else ``None``. A failure never ends the other background work."""
        return self._error

    async def wait(self) -> None:
        """Wait until it has finished (completed, cancelled, or failed)."""
        await self._finished.wait()

    def __repr__(self) -> str:
        state = "cancelled" if self.cancelled else "done" if self.done else "pending"
        return f"<EmitHandle {self.name!r} {state} emitted={self.emitted}>"


class Background:
    """The task group of an emitter's ``async with`` block, and the handles running in it."""

    __slots__ = ("closing", "group", "handles", "thread", "token")

    def __init__(self) -> None:
        self.group: TaskGroup = anyio.create_task_group()
        self.handles: set[EmitHandle] = set()
        #: Set when the block ends normally: timers stop, running dispatches finish.
        self.closing = False
        #: The event loop's thread: starting or cancelling work from another one is refused.
        self.thread = threading.get_ident()
        #: The way into the event loop from other threads (``emit_sync``).
        self.token: EventLoopToken = anyio.lowlevel.current_token()

    def cancel_all(self) -> None:
        for handle in list(self.handles):
            handle.cancel()

    def start(
        self,
        handle: EmitHandle,
        job: Callable[[EmitHandle], Awaitable[None]],
        *,
        waits: bool,
    ) -> EmitHandle:
        if waits and self.closing:
            handle.cancel()
        handle._running = not waits  # an emit_nowait counts as running from the start
        self.handles.add(handle)
        self.group.start_soon(self._run, handle, job)
        return handle

    async def _run(self, handle: EmitHandle, job: Callable[[EmitHandle], Awaitable[None]]) -> None:
        leave_scopes()  # never held back by the batch or suppression of the scheduling task
        try:
            with handle._scope:
                await job(handle)
        except Exception as error:
            # Already logged and reported to on_error where it happened: kept on the handle,
            # so that one failed emit does not end the task group and the work beside it.
            handle._error = error
        finally:
            self.handles.discard(handle)
            handle._finished.set()

    async def stop(self, *, failed: bool) -> None:
        """End the task group: let running dispatches finish, or (*failed*) cancel all.

        The block's own exception is not passed in: it leaves ``async with`` as itself.
        """
        if failed:
            self.group.cancel_scope.cancel()
        else:
            self.closing = True
            for handle in list(self.handles):
                if not handle._running:
                    handle.cancel()
        await self.group.__aexit__(None, None, None)
