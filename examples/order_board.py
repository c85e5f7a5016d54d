"""A live order board: a FastAPI app whose page shows orders as they are placed.

- ``GET /`` is the page: a list that grows as orders arrive (the browser's ``EventSource``
  reads ``GET /orders/stream``), and a form that places one;
- ``POST /orders`` places an order: it answers ``201`` at once, and the order, an
  :class:`OrderPlaced` event (a pydantic model: its event name is ``order.placed``), is
  emitted after the response has been sent (a background task); the emitter's handler
  publishes it to the ``orders`` channel, a typed one;
- ``GET /orders/stream`` streams that channel's ``order.#`` messages as server-sent events
  (:class:`mtbus.starlette.EventSourceResponse`).

The emitter and the channel belong to the app's lifespan (``async with``), and routes reach
them through a FastAPI dependency. In memory by default; give it a Redis URL (``--redis`` or
``$MTBUS_REDIS_URL``) and every process serving the board, or publishing to its channel,
shares the orders: another process's ``mtbus publish`` shows on the page too (its JSON is
rebuilt into an :class:`OrderPlaced` by the typed channel, and refused if it is not one).

    python examples/order_board.py serve [--port 8000] [--redis redis://localhost:6379/0]
    # then open http://127.0.0.1:8000, and from another shell (over Redis):
    mtbus publish order.placed '{"id": 99, "item": "gadget", "quantity": 1, "source": "cli"}' \\
        --channel orders --redis redis://localhost:6379/0

Without ``serve`` it runs a short demo instead and stops (what the test suite runs): it
serves the board on a free port, places an order over HTTP, reads it off the event stream
and, over Redis, has another process publish one.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from contextlib import asynccontextmanager
from dataclasses import dataclass
from itertools import count
from typing import TYPE_CHECKING, Annotated, Any

import anyio
import httpx
import uvicorn
from fastapi import BackgroundTasks, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from mtbus import Channel, Event, EventEmitter
from mtbus.backends import MemoryBackend, RedisBackend
from mtbus.starlette import EventSourceResponse

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence


class OrderPlaced(BaseModel):
    """The event of a placed order, and what the channel carries (JSON over Redis)."""

    id: int
    item: str
    quantity: int
    source: str


class NewOrder(BaseModel):
    """The body of ``POST /orders``; FastAPI answers 422 to anything else."""

    item: str = Field(min_length=1, max_length=40)
    quantity: int = Field(gt=0, le=1000)


@dataclass(frozen=True)
class Board:
    """What the lifespan owns: one per app, reached from routes through :func:`board`."""

    emitter: EventEmitter
    orders: Channel[OrderPlaced]
    ids: Iterator[int]


def create_app(redis_url: str | None = None, channel: str = "orders") -> FastAPI:
    """The board's app, its orders in memory or, given *redis_url*, in Redis."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncGenerator[dict[str, Board], None]:
        backend = MemoryBackend() if redis_url is None else RedisBackend(redis_url)
        # The channel outside the emitter: at shutdown, the emits still running finish
        # (and publish) before the channel closes, which ends the event streams.
        async with (
            Channel(channel, type=OrderPlaced, backend=backend) as orders,
            EventEmitter() as emitter,
        ):

            @emitter.on(OrderPlaced)
            async def show(event: Event[OrderPlaced]) -> None:
                await orders.publish(event.data)  # topic: the class's event name

            yield {"board": Board(emitter, orders, count(1))}

    app = FastAPI(lifespan=lifespan)
    app.get("/", response_class=HTMLResponse)(page)
    app.post("/orders", status_code=201)(place_order)
    app.get("/orders/stream", response_class=EventSourceResponse)(stream_orders)
    return app


def board(request: Request) -> Board:
    """The dependency: the lifespan's :class:`Board`, from the request's state."""
    found: Board = request.state.board
    return found


BoardDep = Annotated[Board, Depends(board)]


async def page() -> str:
    return PAGE


async def place_order(new: NewOrder, board: BoardDep, background: BackgroundTasks) -> OrderPlaced:
    order = OrderPlaced(id=next(board.ids), item=new.item, quantity=new.quantity, source="web")
    # Emitted once the 201 is sent: the client does not wait for the handlers.
    background.add_task(board.emitter.emit, order)
    return order


async def stream_orders(board: BoardDep) -> EventSourceResponse:
    # A bounded queue that drops the oldest orders: a slow browser never holds publishers up.
    return EventSourceResponse(board.orders, "order.#", buffer_size=100, overflow="drop_oldest")


PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Order board</title>
<style>body{font-family:sans-serif;margin:2em}li{margin:.2em 0}#status{color:gray}</style>
</head>
<body>
<h1>Orders <small id="status">connecting</small></h1>
<form id="place"><input name="item" value="widget" required>
<input name="quantity" type="number" value="1" min="1"><button>Place</button></form>
<ul id="orders"></ul>
<script>
const list = document.getElementById("orders");
const status = document.getElementById("status");
const source = new EventSource("/orders/stream");
source.onopen = () => { status.textContent = "live"; };
source.onerror = () => { status.textContent = "reconnecting"; };
// Leaving the page closes the stream at once (a page kept for "back" would keep it open).
addEventListener("pagehide", () => source.close());
source.addEventListener("order.placed", (event) => {
  const order = JSON.parse(event.data);
  const item = document.createElement("li");
  item.textContent = `#${order.id}: ${order.quantity} x ${order.item} (${order.source})`;
  list.prepend(item);
});
document.getElementById("place").onsubmit = async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  await fetch("/orders", {method: "POST", headers: {"content-type": "application/json"},
    body: JSON.stringify({item: form.get("item"), quantity: Number(form.get("quantity"))})});
};
</script>
</body>
</html>
"""


# -- running it ------------------------------------------------------------------------


def listening_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A bound, listening socket (port 0: a free one); connections wait until uvicorn runs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen()
    return sock


def server_for(app: FastAPI, *, quiet: bool = False) -> uvicorn.Server:
    """A uvicorn server for *app*. An event stream never ends by itself, and uvicorn waits
    for open responses before it shuts the lifespan down: after 2 s it cancels them."""
    config = uvicorn.Config(
        app,
        log_level="warning" if quiet else "info",
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config)


async def next_event(lines: AsyncIterator[str]) -> tuple[str, Any]:
    """The next event of an event stream: its type and its data, decoded."""
    kind, data = "message", ""
    async for line in lines:
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif not line and data:
            return kind, json.loads(data)
    raise EOFError("the event stream ended")


async def demo(redis_url: str | None, channel: str) -> None:
    """Serve the board on a free port, place an order, and watch the stream show it."""
    sock = listening_socket()
    host, port = sock.getsockname()
    server = server_for(create_app(redis_url, channel), quiet=True)
    where = "over Redis" if redis_url else "in memory"
    print(f"order board, orders {where}")
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(server.serve, [sock])  # which closes the socket when it stops
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
            page = await client.get("/")
            listens = "new EventSource(" in page.text
            print(f"GET / -> {page.status_code}, a page with an EventSource: {listens}")
            async with client.stream("GET", "/orders/stream") as stream:
                print(f"GET /orders/stream -> {stream.headers['content-type']}")
                lines = stream.aiter_lines()
                placed = await client.post("/orders", json={"item": "widget", "quantity": 2})
                print(f"POST /orders -> {placed.status_code} {placed.json()}")
                print("stream: %s %s" % await next_event(lines))
                if redis_url is not None:
                    order = {"id": 99, "item": "gadget", "quantity": 1, "source": "cli"}
                    command = ["-m", "mtbus", "publish", "order.placed", json.dumps(order)]
                    await anyio.run_process(
                        [sys.executable, *command, "--channel", channel, "--redis", redis_url]
                    )
                    print("another process published with: mtbus publish order.placed ...")
                    print("stream: %s %s" % await next_event(lines))
        server.should_exit = True
    print("server stopped")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A live order board (FastAPI and mtbus).")
    parser.add_argument("command", nargs="?", choices=["serve", "demo"], default="demo")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--redis",
        default=os.environ.get("MTBUS_REDIS_URL"),
        metavar="URL",
        help="share the orders through this Redis (default: $MTBUS_REDIS_URL; none: in memory)",
    )
    parser.add_argument("--channel", default="orders", help="the channel's name")
    args = parser.parse_args(argv)
    if args.command == "serve":
        server = server_for(create_app(args.redis, args.channel))
        server.run([listening_socket(args.host, args.port)])
    else:
        anyio.run(demo, args.redis, args.channel)


if __name__ == "__main__":
    main()
