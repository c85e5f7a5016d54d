"""``python -m benchmarks``: run the benchmark suite."""

from __future__ import annotations

from ._cli import main

raise SystemExit(main())
