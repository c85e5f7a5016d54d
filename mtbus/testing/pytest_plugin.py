"""mtbus's pytest fixtures: both anyio backends, and a throwaway real Redis server.

Opt in with ``pytest_plugins = ["mtbus.testing.pytest_plugin"]`` in your top-level
``conftest.py`` (or ``pytest -p mtbus.testing.pytest_plugin``). It is not loaded otherwise:
installing mtbus adds no fixture to anybody's tests.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

import pytest

from ._redis import RedisServer

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ("anyio_backend", "redis_server", "redis_url")


@pytest.fixture(params=[pytest.param("asyncio", id="asyncio"), pytest.param("trio", id="trio")])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every ``@pytest.mark.anyio`` test twice: on asyncio, and on trio.

    Without trio installed, the trio runs fail (not skip) and say how to get it. To run
    on asyncio only, define your own ``anyio_backend`` fixture returning ``"asyncio"``:
    yours wins over the plugin's.
    """
    backend: str = request.param
    if backend == "trio" and importlib.util.find_spec("trio") is None:
        pytest.fail(
            "trio is not installed: pip install 'mtbus[testing]' (or trio), or define an "
            "anyio_backend fixture returning 'asyncio' to run on asyncio only",
            pytrace=False,
        )
    return backend


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real ``redis-server`` for the whole test session, on a free loopback port.

    Started at its first use, stopped when the session ends; it keeps nothing on disk
    (its directory is a pytest temporary one). The tests share it: give each test its own
    channel names, or call :meth:`~mtbus.testing.RedisServer.flush_all` first. With
    pytest-xdist, each worker has its own server.
    """
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of :func:`redis_server` (``redis://127.0.0.1:<port>/0``), for a
    :class:`~mtbus.backends.RedisBackend`."""
    return redis_server.url
