"""mtbus's benchmark suite: ``python -m benchmarks`` (see docs/performance.md).

It times mtbus against hand-written baselines and peer libraries in one process, in
interleaved rounds, and checks every round's deliveries. Not part of the installed package.
"""

from __future__ import annotations
