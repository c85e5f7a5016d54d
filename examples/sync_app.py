"""Sync code feeding an async service: a WSGI app and a worker thread.

The shop's service is async: an emitter whose handlers reserve stock and mail confirmations,
and a channel whose subscriber keeps the stock levels. It runs in an event loop of its own,
in a thread started by anyio's blocking portal, inside ``async with emitter:`` and
``async with channel:``. The web app around it is plain sync WSGI code, served by the
standard library's ``wsgiref`` in another thread (Flask or Django would do the same). Its
route calls ``emitter.emit_sync``: the call hops into the service's event loop, waits for
the handlers, and returns the event they filled in (or raises what a strict emit raised).
A worker thread imports a stock file with ``channel.publish_sync``.

Run with ``python examples/sync_app.py`` (add ``trio`` to run the service on trio).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from contextlib import asynccontextmanager
from itertools import count
from typing import TYPE_CHECKING, Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen
from wsgiref.simple_server import WSGIRequestHandler, make_server

import anyio
import anyio.from_thread

from mtbus import Channel, Event, EventEmitter, EventHandlerError, Subscriber

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Iterable
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment


class OutOfStockError(Exception):
    pass


class Shop:
    """The async service: orders through an emitter, stock levels through a channel."""

    def __init__(self) -> None:
        self.orders = EventEmitter(strict=True)  # a failing handler fails the order
        self.stock_updates = Channel[int]("stock")
        self.stock = {"widget": 3}
        self.thread = 0  # the service's thread, once it runs
        self.order_ids = count(1)
        self.orders.on("order.placed", self.reserve, priority=10)
        self.orders.on("order.placed", self.confirm)
        self.orders.add_hook("on_error", self.report)

    def where(self) -> str:
        return "service thread" if threading.get_ident() == self.thread else "ANOTHER thread"

    async def reserve(self, event: Event[dict[str, Any]]) -> None:
        item, quantity = event.data["item"], event.data["quantity"]
        await anyio.sleep(0.001)  # a database round trip
        if self.stock.get(item, 0) < quantity:
            event.propagate = False  # no confirmation
            raise OutOfStockError(f"only {self.stock.get(item, 0)} {item} left, {quantity} wanted")
        self.stock[item] -= quantity
        event.data["id"] = next(self.order_ids)
        print(f"  {self.where()}: reserved {quantity} {item}, {self.stock[item]} left")

    async def confirm(self, event: Event[dict[str, Any]]) -> None:
        await anyio.sleep(0.001)  # an SMTP round trip
        print(f"  {self.where()}: confirmation mailed for order {event.data['id']}")

    def report(self, event: Event[Any], error: Exception, handler: Any) -> None:
        print(f"  {self.where()}: {handler.__name__} failed: {error}")

    async def keep_stock(self, updates: Subscriber[int]) -> None:
        async for update in updates:
            item = update.topic.rpartition(".")[2] if update.topic else "?"
            self.stock[item] = update.data
            print(f"  {self.where()}: {item} stock set to {update.data}")

    @asynccontextmanager
    async def running(self) -> AsyncGenerator[Shop, None]:
        """Run the service until the block ends (in the portal's event loop)."""
        self.thread = threading.get_ident()
        async with self.orders, self.stock_updates, anyio.create_task_group() as tasks:
            tasks.start_soon(self.keep_stock, await self.stock_updates.subscribe("stock.*"))
            yield self
            await self.stock_updates.close()  # the keeper takes what is queued, then ends


def web_app(shop: Shop) -> WSGIApplication:
    """The sync WSGI app: ``POST /orders`` with a JSON body places an order."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        order: dict[str, Any] = json.loads(environ["wsgi.input"].read(size))
        try:
            event = shop.orders.emit_sync("order.placed", order)  # waits for the handlers
        except EventHandlerError as failure:
            status, body = "409 Conflict", f"refused: {failure.errors[0]}"
        else:
            status, body = "201 Created", f"order {event.data['id']} placed"
        start_response(status, [("Content-Type", "text/plain")])
        return [body.encode()]

    return app


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # no access log on stderr
        pass


def post(url: str, order: dict[str, Any]) -> None:
    print(f"POST /orders {json.dumps(order)}")
    request = Request(url, json.dumps(order).encode(), {"Content-Type": "application/json"})
    try:
        with urlopen(request) as response:
            print(f"  -> {response.status} {response.read().decode()}")
    except HTTPError as error:
        print(f"  -> {error.code} {error.read().decode()}")


def import_stock(shop: Shop, lines: list[str]) -> None:
    """A worker thread: publish each ``item,quantity`` line of a stock file."""
    print(f"worker: importing {len(lines)} stock levels")
    for line in lines:
        item, quantity = line.split(",")
        shop.stock_updates.publish_sync(int(quantity), f"stock.{item}")  # returns once queued


def main(backend: str) -> None:
    # The on_error hook reports failures; skip the default traceback log to keep it short.
    logging.getLogger("mtbus").setLevel(logging.CRITICAL)
    shop = Shop()
    with (
        anyio.from_thread.start_blocking_portal(backend) as portal,
        portal.wrap_async_context_manager(shop.running()),
        make_server("127.0.0.1", 0, web_app(shop), handler_class=QuietHandler) as server,
    ):
        web = threading.Thread(target=server.serve_forever)
        web.start()
        url = f"http://127.0.0.1:{server.server_port}/orders"
        post(url, {"item": "widget", "quantity": 2})
        post(url, {"item": "widget", "quantity": 5})
        worker = threading.Thread(target=import_stock, args=(shop, ["widget,10", "gadget,4"]))
        worker.start()
        worker.join()
        server.shutdown()
        web.join()
    print(f"stock after the service stopped: {shop.stock}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "asyncio")
