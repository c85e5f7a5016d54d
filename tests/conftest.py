from __future__ import annotations

import pytest


@pytest.fixture(
    params=[pytest.param("asyncio", id="asyncio"), pytest.param("trio", id="trio")],
)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async test runs on both backends; a missing trio fails instead of being skipped."""
    backend: str = request.param
    return backend
