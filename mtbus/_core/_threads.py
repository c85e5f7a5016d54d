"""Which thread a call comes from, and how a call from sync code gets into an event loop.

What ``EventEmitter.emit_sync`` and ``Channel.publish_sync`` share (:func:`run_from_sync`):
refusing to block a thread that runs an event loop, hopping into the event loop an ``async
with`` block bound the object to, and otherwise running the call in the right loop (the
worker thread's, or a new one).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.from_thread

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

    from anyio.lowlevel import EventLoopToken

T = TypeVar("T")


def wrong_thread(
    doing: str, remedy: str, *, where: str = "", kind: type[RuntimeError] = RuntimeError
) -> RuntimeError:
    """The error of a call that would wake a task of an event loop from another thread.

    Every such refusal reads the same: ``cannot <doing> from another thread than the event
    loop's[, where <where>]: use <remedy>``.

    :param doing: what was refused, as ``"publish to <Channel 'orders'>"``
    :param remedy: what to call instead
    :param where: what in that event loop it would reach, if that helps
    :param kind: the class of the error
    """
    reached = f", where {where}" if where else ""
    return kind(f"cannot {doing} from another thread than the event loop's{reached}: use {remedy}")


def run_from_sync(
    method: str,
    instead: str,
    call: Callable[[], Awaitable[T]],
    block: tuple[EventLoopToken, int, Callable[[], Coroutine[Any, Any, T]]] | None,
    finished: Callable[[], Exception],
) -> T:
    """What a ``*_sync`` *method* does: run an async call from sync code, wait, return.

    :param instead: what to await in an event loop's own thread (where this is refused)
    :param call: the call, for when no block is open: it runs in this anyio worker
        thread's event loop, or in a new asyncio loop in this thread
    :param block: if an ``async with`` block bound the object to an event loop: that loop's
        token and thread, and the call as that loop runs it (in the block's tasks)
    :param finished: the error to raise if that event loop has finished
    :raises RuntimeError: if an event loop runs in this thread
    """
    if block is None:
        check_may_block(method, instead, None)
        return run_in_a_loop(call)
    token, thread, in_block = block
    check_may_block(method, instead, thread)
    try:
        return anyio.from_thread.run(in_block, token=token)
    except anyio.RunFinishedError as error:
        raise finished() from error


def check_may_block(method: str, instead: str, loop_thread: int | None) -> None:
    """Refuse a call that blocks until an event loop ran it, in a thread running a loop.

    :param method: the call, as ``emitter.emit_sync``
    :param instead: what to await in the event loop's own thread
    :param loop_thread: the thread whose event loop the object is bound to, if any
    :raises RuntimeError: if an event loop runs in this thread (it would block it)
    """
    if not event_loop_in_this_thread():
        return
    call = f"{method.rpartition('.')[2]}()"
    if loop_thread == threading.get_ident():
        raise RuntimeError(
            f"{call} called from the event loop's thread, which it would block: use {instead!r}"
        )
    if loop_thread is not None:  # bound to the loop of another thread
        instead = f"await anyio.to_thread.run_sync({method}, ...)"
    raise RuntimeError(f"{call} would block the event loop running in this thread: use {instead!r}")


def run_in_a_loop(func: Callable[[], Awaitable[T]]) -> T:
    """Run *func* in the event loop of this anyio worker thread, or else in a new asyncio
    event loop in this thread, and wait for it; what it raises is raised as itself."""
    started = False

    async def run() -> T:
        nonlocal started
        started = True
        return await func()

    try:
        return anyio.from_thread.run(run)
    except anyio.NoEventLoopError:
        if started:  # not anyio's refusal (this is no worker thread): what *func* raised
            raise
    return anyio.run(run, backend="asyncio")


def event_loop_in_this_thread() -> bool:
    """Whether an event loop (asyncio's or trio's) runs in the calling thread.

    Asked of the loops themselves: sniffio (and so anyio) looks for a running asyncio
    *task*, and would miss a plain callback of the loop.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return True
    trio = sys.modules.get("trio")  # if trio was never imported, no trio loop runs
    if trio is not None:
        try:
            trio.lowlevel.current_trio_token()
        except RuntimeError:
            pass
        else:
            return True
    return False
