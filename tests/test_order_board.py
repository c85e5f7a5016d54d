"""examples/order_board.py, served by a real uvicorn on a free loopback port, used with httpx.

On asyncio only: uvicorn runs on asyncio. The browser's side of the board is in
tests/test_order_board_browser.py (``-m browser``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest

from examples.order_board import Board, create_app, listening_socket, next_event, server_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import uvicorn
    from fastapi import FastAPI

pytestmark = pytest.mark.anyio

EXAMPLE = Path(__file__).parent.parent / "examples" / "order_board.py"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # uvicorn's


class Served:
    """The board's app served by uvicorn, and a client of it."""

    def __init__(self, server: uvicorn.Server, client: httpx.AsyncClient) -> None:
        self.server = server
        self.client = client

    @property
    def board(self) -> Board:
        """What the app's lifespan owns (it has started once a request was answered)."""
        found: Board = self.server.lifespan.state["board"]
        return found


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[Served]:
    """Serve *app* on a free loopback port until the block ends."""
    sock = listening_socket()
    host, port = sock.getsockname()
    server = server_for(app, quiet=True)
    with sock:
        async with anyio.create_task_group() as group:
            group.start_soon(server.serve, [sock])
            try:
                url = f"http://{host}:{port}"
                async with httpx.AsyncClient(base_url=url, timeout=10) as client:
                    assert (await client.get("/")).status_code == 200  # the lifespan has started
                    yield Served(server, client)
            finally:
                server.should_exit = True


async def test_the_page_listens_to_the_stream() -> None:
    async with serving(create_app()) as served:
        page = await served.client.get("/")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert 'new EventSource("/orders/stream")' in page.text
    assert 'addEventListener("order.placed"' in page.text
    assert ".textContent = " in page.text  # what others published is never read as markup
    assert "innerHTML" not in page.text


async def test_an_order_placed_shows_on_the_stream() -> None:
    async with (
        serving(create_app()) as served,
        served.client.stream("GET", "/orders/stream") as stream,
    ):
        assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
        lines = stream.aiter_lines()
        placed = await served.client.post("/orders", json={"item": "widget", "quantity": 2})
        assert placed.status_code == 201
        order = {"id": 1, "item": "widget", "quantity": 2, "source": "web"}
        assert placed.json() == order
        with anyio.fail_after(5):
            assert await next_event(lines) == ("order.placed", order)


async def test_a_bad_order_is_refused_and_not_shown() -> None:
    async with serving(create_app()) as served:
        subscriber = await served.board.orders.subscribe()
        refused = await served.client.post("/orders", json={"item": "", "quantity": 0})
        assert refused.status_code == 422
        placed = await served.client.post("/orders", json={"item": "nut", "quantity": 1})
        assert placed.status_code == 201
        with anyio.fail_after(5):
            assert (await subscriber.receive()).data.item == "nut"  # the first one shown


async def test_a_client_going_away_unsubscribes_its_stream() -> None:
    async with serving(create_app()) as served:
        orders = served.board.orders
        async with served.client.stream("GET", "/orders/stream") as stream:
            assert stream.status_code == 200
            assert orders.subscriber_count == 1
        gone = time.perf_counter()
        # uvicorn reports the closed connection to the response, which unsubscribes at
        # once, not at the next heartbeat (15 s away). No event says so: the count is polled.
        with anyio.fail_after(2):
            while orders.subscriber_count:  # noqa: ASYNC110
                await anyio.sleep(0.001)
        print(f"unsubscribed {1000 * (time.perf_counter() - gone):.1f} ms after the client left")
        assert orders.statistics().subscribers == 0


async def test_shutting_down_with_a_stream_open_ends_it_and_unsubscribes() -> None:
    """uvicorn waits for open responses before the lifespan's shutdown: an event stream never
    ends by itself, so the board's server cancels it after its graceful timeout (2 s)."""
    async with serving(create_app()) as served:
        orders = served.board.orders
        stream = await served.client.send(
            served.client.build_request("GET", "/orders/stream"), stream=True
        )
        assert orders.subscriber_count == 1
        stopping = time.perf_counter()
        served.server.should_exit = True
        with anyio.fail_after(10):
            while not orders.closed:  # noqa: ASYNC110 (polled: no event says so)
                await anyio.sleep(0.01)
        assert orders.subscriber_count == 0
        assert time.perf_counter() - stopping < 5
        await stream.aclose()


async def test_over_redis_an_order_published_by_another_process_shows(redis_url: str) -> None:
    channel = f"orders-{uuid.uuid4().hex}"
    async with (
        serving(create_app(redis_url, channel)) as served,
        served.client.stream("GET", "/orders/stream") as stream,
    ):
        lines = stream.aiter_lines()
        order = {"id": 99, "item": "gadget", "quantity": 1, "source": "cli"}
        publish = [sys.executable, "-m", "mtbus", "publish", "order.placed", json.dumps(order)]
        result = await anyio.run_process([*publish, "--channel", channel, "--redis", redis_url])
        entry_id = result.stdout.decode().strip()
        with anyio.fail_after(5):
            assert await next_event(lines) == ("order.placed", order)
        # And from this process, through the page's form, over the same Redis stream.
        placed = await served.client.post("/orders", json={"item": "bolt", "quantity": 3})
        with anyio.fail_after(5):
            assert await next_event(lines) == ("order.placed", placed.json())
    assert entry_id  # the stream entry's ID, which is also the event's id: on the page


async def test_over_redis_events_carry_the_stream_entry_id(redis_url: str) -> None:
    channel = f"orders-{uuid.uuid4().hex}"
    async with (
        serving(create_app(redis_url, channel)) as served,
        served.client.stream("GET", "/orders/stream") as stream,
    ):
        placed = await served.client.post("/orders", json={"item": "bolt", "quantity": 3})
        fields: dict[str, Any] = {}
        with anyio.fail_after(5):
            async for line in stream.aiter_lines():
                if not line:
                    break
                name, _, value = line.partition(": ")
                fields[name] = value
    assert fields.keys() == {"id", "event", "data"}
    assert fields["event"] == "order.placed"
    assert json.loads(fields["data"]) == placed.json()
    milliseconds, _, sequence = fields["id"].partition("-")
    assert milliseconds.isdigit()
    assert sequence.isdigit()


def run_demo(*args: str, environment: dict[str, str] | None = None) -> str:
    """Run the example's demo in a process of its own; return what it printed."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def test_the_demo_runs_in_memory() -> None:
    environment = {name: value for name, value in os.environ.items() if name != "MTBUS_REDIS_URL"}
    assert run_demo(environment=environment) == (
        "order board, orders in memory\n"
        "GET / -> 200, a page with an EventSource: True\n"
        "GET /orders/stream -> text/event-stream; charset=utf-8\n"
        "POST /orders -> 201 {'id': 1, 'item': 'widget', 'quantity': 2, 'source': 'web'}\n"
        "stream: order.placed {'id': 1, 'item': 'widget', 'quantity': 2, 'source': 'web'}\n"
        "server stopped\n"
    )


def test_the_demo_runs_over_redis(redis_url: str) -> None:
    channel = f"orders-{uuid.uuid4().hex}"
    assert run_demo("--redis", redis_url, "--channel", channel).endswith(
        "another process published with: mtbus publish order.placed ...\n"
        "stream: order.placed {'id': 99, 'item': 'gadget', 'quantity': 1, 'source': 'cli'}\n"
        "server stopped\n"
    )
