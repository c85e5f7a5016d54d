"""The suite's fixtures: ``anyio_backend``, ``redis_server`` and ``redis_url`` come from the
testing kit's plugin (as users get them); these are the ones only our own tests need."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest
import redis

from mtbus import Channel
from mtbus.backends import MemoryBackend, RedisBackend

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

# Every async test runs on asyncio and on trio (a missing trio fails instead of being
# skipped); one real redis-server serves the session, tests keep apart by their channels.
pytest_plugins = ["mtbus.testing.pytest_plugin"]


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client of another make (redis-py), to look at and meddle with the server
    behind the backend's back; its calls are quick and local, so it may block."""
    with redis.Redis.from_url(redis_url) as client:
        yield client


@pytest.fixture(params=["memory", "redis"])
async def channel(request: pytest.FixtureRequest, channel_name: str) -> AsyncIterator[Channel[int]]:
    """An open channel over each backend (a module may define its own ``channel``)."""
    if request.param == "memory":
        backend: MemoryBackend | RedisBackend = MemoryBackend()
    else:
        backend = RedisBackend(request.getfixturevalue("redis_url"))
    async with Channel[int](channel_name, backend=backend) as channel:
        yield channel


@pytest.fixture
def channel_name(request: pytest.FixtureRequest) -> str:
    """A channel name no other test uses, so tests sharing one Redis never meet."""
    return f"test.{uuid.uuid4().hex}"
