from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest
import redis
from redis_server import RedisServer

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(
    params=[pytest.param("asyncio", id="asyncio"), pytest.param("trio", id="trio")],
)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async test runs on both backends; a missing trio fails instead of being skipped."""
    backend: str = request.param
    return backend


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the session; tests keep apart by using their own channels."""
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client of another make (redis-py), to look at and meddle with the server
    behind the backend's back; its calls are quick and local, so it may block."""
    with redis.Redis.from_url(redis_url) as client:
        yield client


@pytest.fixture
def channel_name(request: pytest.FixtureRequest) -> str:
    """A channel name no other test uses, so tests sharing one Redis never meet."""
    return f"test.{uuid.uuid4().hex}"
