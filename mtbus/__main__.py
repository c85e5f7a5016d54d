"""``python -m mtbus``: the same command line as the ``mtbus`` script."""

from __future__ import annotations

from ._cli._main import main

raise SystemExit(main())
