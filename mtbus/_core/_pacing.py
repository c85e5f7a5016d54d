"""How often a loop of calls that never have to wait still yields to the event loop.

An emit of plain handlers, a ``receive`` with a message queued and an in-memory ``publish``
with room return without yielding, like :meth:`asyncio.Queue.get_nowait`: a checkpoint costs
several such calls. So each emitter, subscriber and channel counts those calls, and every
:data:`CHECKPOINT_INTERVAL`-th one in a row makes a full checkpoint
(``anyio.lowlevel.checkpoint()``): a loop of them notices cancellation, and lets other tasks
run, at least that often. The cost is the counter's (a decrement and a test) plus one
checkpoint (5 to 10 µs) spread over the interval, so the interval is the largest we allow;
``docs/performance.md`` has the measurements.
"""

from __future__ import annotations

from typing import Final

CHECKPOINT_INTERVAL: Final = 256
