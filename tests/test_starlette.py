"""mtbus.starlette: a channel as server-sent events, and the lifespan pattern in FastAPI.

The ASGI apps are driven by hand (scope, receive, send), on asyncio and on trio: a test
sees every message an app sends as it sends it, and says when the client goes away, which
an HTTP client over a transport that buffers whole responses cannot do.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import MutableMapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import anyio
import pytest
from fastapi import BackgroundTasks, Depends, FastAPI, Request
from starlette.applications import Starlette
from starlette.routing import Route

from mtbus import Channel, Event, EventEmitter, Message
from mtbus.starlette import HEARTBEAT, EventSourceResponse

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Iterator

    from anyio.abc import TaskGroup
    from starlette.types import ASGIApp

pytestmark = pytest.mark.anyio

ASGIMessage = MutableMapping[str, Any]


class Exchange:
    """One request to an ASGI app, played by hand: the client's side of receive and send.

    The app's messages arrive, in order, in :meth:`next`; :meth:`disconnect` is the client
    going away (the server's ``http.disconnect``).
    """

    def __init__(
        self,
        path: str = "/",
        method: str = "GET",
        *,
        state: dict[str, Any] | None = None,
        log: list[str] | None = None,
    ) -> None:
        self.scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        if state is not None:
            self.scope["state"] = dict(state)  # a shallow copy per request, as servers make
        self.body: bytes | None = b""
        self.to_app, self._app_receives = anyio.create_memory_object_stream[ASGIMessage](10)
        self._app_sends, self.from_app = anyio.create_memory_object_stream[ASGIMessage](100)
        #: "response sent" is appended once the last message of the body is sent.
        self.log: list[str] = [] if log is None else log
        self.done = anyio.Event()
        Exchange.opened.append(self)

    #: Every exchange of the running test, closed when it ends (the ``closing`` fixture).
    opened: ClassVar[list[Exchange]] = []

    def close(self) -> None:
        for stream in (self.to_app, self._app_receives, self._app_sends, self.from_app):
            stream.close()

    async def receive(self) -> ASGIMessage:
        if self.body is not None:
            body, self.body = self.body, None
            return {"type": "http.request", "body": body, "more_body": False}
        return await self._app_receives.receive()

    async def send(self, message: ASGIMessage) -> None:
        await self._app_sends.send(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.log.append("response sent")

    def start(self, group: TaskGroup, app: ASGIApp) -> None:
        """Run *app* on this request in *group*; :attr:`done` is set when it returns."""

        async def run() -> None:
            try:
                await app(self.scope, self.receive, self.send)
            finally:
                self.done.set()

        group.start_soon(run)

    async def next(self) -> ASGIMessage:
        with anyio.fail_after(5):
            return await self.from_app.receive()

    async def start_message(self) -> ASGIMessage:
        message = await self.next()
        assert message["type"] == "http.response.start", message
        return message

    async def chunk(self) -> bytes:
        message = await self.next()
        assert message["type"] == "http.response.body", message
        assert message["more_body"], message
        body: bytes = message["body"]
        return body

    async def end(self) -> None:
        """The body's last message (the stream ended), then the app returns."""
        message = await self.next()
        assert message == {"type": "http.response.body", "body": b"", "more_body": False}
        with anyio.fail_after(5):
            await self.done.wait()

    async def disconnect(self) -> None:
        await self.to_app.send({"type": "http.disconnect"})
        with anyio.fail_after(5):
            await self.done.wait()


@pytest.fixture(autouse=True)
def closing() -> Iterator[None]:
    yield
    while Exchange.opened:
        Exchange.opened.pop().close()


@pytest.fixture
async def orders() -> AsyncIterator[Channel[dict[str, Any]]]:
    async with Channel[dict[str, Any]]("orders") as channel:
        yield channel


# -- the event stream ---------------------------------------------------------------------


async def test_streams_the_messages_that_match_as_events(orders: Channel[dict[str, Any]]) -> None:
    exchange = Exchange()
    async with anyio.create_task_group() as group:
        exchange.start(group, EventSourceResponse(orders, "order.*", heartbeat=None))
        start = await exchange.start_message()  # sent once subscribed
        assert start["status"] == 200
        headers = dict(start["headers"])
        assert headers[b"content-type"] == b"text/event-stream; charset=utf-8"
        assert headers[b"cache-control"] == b"no-store"
        assert headers[b"x-accel-buffering"] == b"no"
        assert b"content-length" not in headers
        assert orders.subscriber_count == 1

        await orders.publish({"id": 1, "item": "widget"}, topic="order.placed")
        await orders.publish({"name": "alice"}, topic="user.login")  # no match
        await orders.publish({"id": 1, "note": "été"}, topic="order.shipped")
        await orders.broadcast({"notice": "closing soon"})  # reaches every subscriber
        assert await exchange.chunk() == (
            b'event: order.placed\ndata: {"id":1,"item":"widget"}\n\n'
        )
        assert await exchange.chunk() == (
            b'event: order.shipped\ndata: {"id":1,"note":"\\u00e9t\\u00e9"}\n\n'
        )
        assert await exchange.chunk() == b'data: {"notice":"closing soon"}\n\n'
        await exchange.disconnect()
    assert orders.subscriber_count == 0


async def test_a_message_with_an_id_gives_the_event_its_id() -> None:
    response = EventSourceResponse(Channel[str]("ids"))
    message = Message("hi", "user.login", id="1700000000000-0")
    assert response.frame(message) == b'id: 1700000000000-0\nevent: user.login\ndata: "hi"\n\n'


async def test_a_reconnecting_client_resumes_after_its_last_event_id(
    redis_url: str, channel_name: str
) -> None:
    """Over Redis, ``Last-Event-ID`` picks the stream up after that message: nothing that
    Redis still keeps is lost to a dropped connection."""
    from mtbus.backends import RedisBackend

    async with Channel[int](channel_name, backend=RedisBackend(redis_url)) as numbers:
        async with await numbers.subscribe() as reader:
            for number in (1, 2, 3):
                await numbers.publish(number, topic="n.made")
            ids = [(await reader.receive()).id for _ in range(3)]
        assert all(ids)
        exchange = Exchange()
        exchange.scope["headers"].append((b"last-event-id", str(ids[0]).encode()))
        async with anyio.create_task_group() as group:
            exchange.start(group, EventSourceResponse(numbers, "n.*", heartbeat=None))
            await exchange.start_message()
            assert await exchange.chunk() == f"id: {ids[1]}\nevent: n.made\ndata: 2\n\n".encode()
            assert await exchange.chunk() == f"id: {ids[2]}\nevent: n.made\ndata: 3\n\n".encode()
            await numbers.publish(4, topic="n.made")  # then what is published from now on
            assert (await exchange.chunk()).endswith(b"event: n.made\ndata: 4\n\n")
            await exchange.disconnect()
        assert numbers.subscriber_count == 0


@pytest.mark.parametrize("last_event_id", [b"1700000000000-0", b"not an id", b""])
async def test_a_last_event_id_that_cannot_resume_streams_what_comes_next(
    orders: Channel[dict[str, Any]], last_event_id: bytes
) -> None:
    """In memory (which keeps nothing), or naming no message: the stream starts now."""
    exchange = Exchange()
    exchange.scope["headers"].append((b"last-event-id", last_event_id))
    async with anyio.create_task_group() as group:
        exchange.start(group, EventSourceResponse(orders, heartbeat=None))
        await exchange.start_message()
        assert orders.subscriber_count == 1
        await orders.publish({"id": 5}, topic="order.placed")
        assert await exchange.chunk() == b'event: order.placed\ndata: {"id":5}\n\n'
        await exchange.disconnect()
    assert orders.subscriber_count == 0


async def test_a_response_built_but_never_sent_subscribes_nothing(
    orders: Channel[dict[str, Any]],
) -> None:
    EventSourceResponse(orders, "order.#")
    assert orders.subscriber_count == 0
    assert orders.statistics().subscribers == 0


async def test_the_client_going_away_unsubscribes_at_once(orders: Channel[dict[str, Any]]) -> None:
    other = await orders.subscribe()  # the count must drop by exactly the stream's subscriber
    exchange = Exchange()
    async with anyio.create_task_group() as group:
        exchange.start(group, EventSourceResponse(orders, "order.#"))
        await exchange.start_message()
        assert orders.subscriber_count == 2
        await exchange.disconnect()  # while the stream waits for a message
        assert orders.subscriber_count == 1
    assert not other.closed
    assert await orders.publish({"id": 2}, topic="order.placed") == 1  # only the other one
    assert exchange.from_app.statistics().current_buffer_used == 0  # nothing more was sent


async def test_a_heartbeat_is_sent_while_nothing_is_published(
    orders: Channel[dict[str, Any]],
) -> None:
    exchange = Exchange()
    async with anyio.create_task_group() as group:
        exchange.start(group, EventSourceResponse(orders, heartbeat=0.01))
        await exchange.start_message()
        assert await exchange.chunk() == HEARTBEAT == b": heartbeat\n\n"
        assert await exchange.chunk() == HEARTBEAT
        await orders.publish({"id": 3}, topic="order.placed")
        # The message comes next, whole (a waiting receive cancelled by the heartbeat's
        # timer loses nothing), maybe after one more heartbeat.
        chunk = await exchange.chunk()
        if chunk == HEARTBEAT:
            chunk = await exchange.chunk()
        assert chunk == b'event: order.placed\ndata: {"id":3}\n\n'
        await exchange.disconnect()
    assert orders.subscriber_count == 0


async def test_the_channel_closing_ends_the_stream_after_what_was_queued() -> None:
    channel = Channel[int]("numbers")
    exchange = Exchange()
    async with anyio.create_task_group() as group:
        exchange.start(group, EventSourceResponse(channel, "n.*"))
        await exchange.start_message()
        await channel.publish(1, topic="n.one")
        await channel.publish(2, topic="n.two")
        await channel.close()
        assert await exchange.chunk() == b"event: n.one\ndata: 1\n\n"
        assert await exchange.chunk() == b"event: n.two\ndata: 2\n\n"
        await exchange.end()
    assert channel.subscriber_count == 0


async def test_a_channel_closed_before_the_response_starts_gives_an_empty_stream() -> None:
    channel = Channel[int]("closed")
    await channel.close()
    exchange = Exchange()
    async with anyio.create_task_group() as group:
        exchange.start(group, EventSourceResponse(channel, retry=2.5))
        assert (await exchange.start_message())["status"] == 200
        assert await exchange.chunk() == b"retry: 2500\n\n"
        await exchange.end()


async def test_retry_comes_first() -> None:
    async with Channel[int]("retry") as channel:
        exchange = Exchange()
        async with anyio.create_task_group() as group:
            exchange.start(group, EventSourceResponse(channel, retry=0.25))
            await exchange.start_message()
            await channel.publish(7, topic="n")
            assert await exchange.chunk() == b"retry: 250\n\n"
            assert await exchange.chunk() == b"event: n\ndata: 7\n\n"
            await exchange.disconnect()


async def test_cancelling_the_request_unsubscribes_and_the_cancellation_goes_on(
    orders: Channel[dict[str, Any]],
) -> None:
    exchange = Exchange()
    response = EventSourceResponse(orders)
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as group:
            exchange.start(group, response)
            await exchange.start_message()
            assert orders.subscriber_count == 1
            scope.cancel()  # a server shutting down cancels the request's task
    assert scope.cancelled_caught
    assert exchange.done.is_set()
    assert orders.subscriber_count == 0


async def test_a_write_that_fails_ends_the_stream_quietly(orders: Channel[dict[str, Any]]) -> None:
    """ASGI 2.4: a server's ``send`` raises ``OSError`` once the client is gone."""
    sent: list[ASGIMessage] = []

    async def send(message: ASGIMessage) -> None:
        if message["type"] == "http.response.body":
            raise OSError("the client went away")
        sent.append(message)

    async def receive() -> ASGIMessage:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    ran: list[str] = []

    async def background() -> None:
        ran.append("background")

    from starlette.background import BackgroundTask

    response = EventSourceResponse(orders, heartbeat=0.01, background=BackgroundTask(background))
    scope = Exchange().scope | {"asgi": {"version": "3.0", "spec_version": "2.4"}}
    with anyio.fail_after(5):
        await response(scope, receive, send)
    assert [message["type"] for message in sent] == ["http.response.start"]
    assert orders.subscriber_count == 0
    assert ran == []  # the client is gone: nothing is run for it


async def test_the_background_task_runs_after_the_stream_ended() -> None:
    from starlette.background import BackgroundTask

    channel = Channel[int]("background")
    ran: list[str] = []
    exchange = Exchange()

    async def background() -> None:
        ran.append(f"background, {channel.subscriber_count} subscribers")

    response = EventSourceResponse(channel, background=BackgroundTask(background))
    async with anyio.create_task_group() as group:
        exchange.start(group, response)
        await exchange.start_message()
        await channel.close()
        await exchange.end()
    assert ran == ["background, 0 subscribers"]


async def test_a_payload_that_is_not_json_fails_the_stream_naming_it(
    orders: Channel[dict[str, Any]],
) -> None:
    exchange = Exchange()
    response = EventSourceResponse(orders)

    async def publish_once_subscribed() -> None:
        await exchange.start_message()
        await orders.publish({"when": object()}, topic="order.placed")

    async with anyio.create_task_group() as group:
        group.start_soon(publish_once_subscribed)
        with pytest.raises(
            TypeError, match=r"cannot send the payload of 'order\.placed' as a serv"
        ):
            await response(exchange.scope, exchange.receive, exchange.send)
    assert orders.subscriber_count == 0
    not_a_number = Message({"price": float("nan")}, "order.priced")
    with pytest.raises(TypeError, match=r"of 'order\.priced' .*: Out of range float values"):
        response.frame(not_a_number)


async def test_encode_is_used_and_line_breaks_become_data_lines() -> None:
    channel = Channel[str]("text")
    response = EventSourceResponse(channel, encode=str.upper)
    assert response.frame(Message("one\ntwo\r\nthree\rfour", "t")) == (
        b"event: t\ndata: ONE\ndata: TWO\ndata: THREE\ndata: FOUR\n\n"
    )
    returns_bytes = EventSourceResponse(channel, encode=lambda data: data.encode())
    with pytest.raises(TypeError, match=r"encode must return a str, not bytes: b'x'"):
        returns_bytes.frame(Message("x", "t"))


async def test_a_dataclass_payload_is_sent_as_a_json_object() -> None:
    @dataclasses.dataclass
    class Placed:
        id: int
        items: tuple[str, ...]

    response = EventSourceResponse(Channel[Placed]("typed"))
    assert response.frame(Message(Placed(7, ("widget",)), "order.placed")) == (
        b'event: order.placed\ndata: {"id":7,"items":["widget"]}\n\n'
    )


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"channel": "orders"}, TypeError, r"channel must be a Channel, not str: 'orders'"),
        ({"topics": b"order.*"}, TypeError, r"topics must be a pattern or an iterable"),
        ({"topics": "order..*"}, ValueError, r"invalid topic pattern 'order\.\.\*'"),
        ({"heartbeat": 0}, ValueError, r"invalid heartbeat 0: must be a finite number > 0"),
        ({"heartbeat": "5"}, TypeError, r"heartbeat must be a number of seconds, not str"),
        ({"retry": -1}, ValueError, r"invalid retry -1: must be a finite number >= 0"),
        ({"resume": "yes"}, TypeError, r"resume must be a bool, not str: 'yes'"),
        ({"encode": 42}, TypeError, r"encode must be callable"),
        ({"buffer_size": -1}, ValueError, r"invalid buffer_size -1: must be >= 0"),
        ({"overflow": "later"}, ValueError, r"invalid overflow policy 'later'"),
    ],
)
async def test_bad_arguments_are_refused_before_anything_is_sent(
    arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    arguments = dict(arguments)  # the parameters are shared by the asyncio and trio runs
    channel = arguments.pop("channel", Channel[int]("checked"))
    with pytest.raises(error, match=message):
        EventSourceResponse(channel, **arguments)


def test_without_starlette_the_import_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "mtbus.starlette")
    for name in [name for name in sys.modules if name.split(".")[0] == "starlette"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "starlette", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'mtbus\[web\]'") as caught:
        importlib.import_module("mtbus.starlette")
    assert caught.value.name == "starlette"


# -- in an app: Starlette routes, a FastAPI lifespan, a dependency, background emits --------


async def test_a_starlette_route_streams_a_channel() -> None:
    async with Channel[int]("numbers") as channel:

        async def events(request: Any) -> EventSourceResponse:
            return EventSourceResponse(channel, "n.#")

        app = Starlette(routes=[Route("/events", events)])
        exchange = Exchange("/events")
        async with anyio.create_task_group() as group:
            exchange.start(group, app)
            await exchange.start_message()
            await channel.publish(5, topic="n.five")
            assert await exchange.chunk() == b"event: n.five\ndata: 5\n\n"
            await exchange.disconnect()
        assert channel.subscriber_count == 0


@dataclasses.dataclass(frozen=True)
class Bus:
    """What the app's lifespan owns."""

    emitter: EventEmitter
    orders: Channel[dict[str, Any]]


def bus(request: Request) -> Bus:
    found: Bus = request.state.bus
    return found


BusDep = Annotated[Bus, Depends(bus)]


def order_app(log: list[str]) -> FastAPI:
    """The pattern of docs/web.md: the lifespan owns the emitter and the channel, routes
    reach them through a dependency, and orders are emitted after the response."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncGenerator[dict[str, Bus], None]:
        async with Channel[dict[str, Any]]("orders") as orders, EventEmitter() as emitter:

            @emitter.on("order.placed")
            async def publish(event: Event[dict[str, Any]]) -> None:
                log.append(f"handled order {event.data['id']}")
                await orders.publish(event.data, topic=event.name)

            yield {"bus": Bus(emitter, orders)}
        log.append("lifespan ended")

    app = FastAPI(lifespan=lifespan)

    @app.post("/orders/{number}", status_code=201)
    async def place(number: int, bus: BusDep, background: BackgroundTasks) -> dict[str, int]:
        background.add_task(bus.emitter.emit, "order.placed", {"id": number})
        return {"id": number}

    @app.post("/orders/{number}/soon", status_code=202)
    async def place_soon(number: int, bus: BusDep) -> dict[str, int]:
        bus.emitter.emit_soon("order.placed", {"id": number})
        return {"id": number}

    @app.get("/orders/stream", response_class=EventSourceResponse)
    async def stream(bus: BusDep) -> EventSourceResponse:
        return EventSourceResponse(bus.orders, "order.#")

    return app


@asynccontextmanager
async def lifespan_of(app: ASGIApp) -> AsyncIterator[dict[str, Any]]:
    """Run *app*'s lifespan as a server does; give the state it filled for the requests."""
    state: dict[str, Any] = {}
    to_app, app_receives = anyio.create_memory_object_stream[ASGIMessage](2)
    app_sends, from_app = anyio.create_memory_object_stream[ASGIMessage](2)
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}

    async def run() -> None:
        await app(scope, app_receives.receive, app_sends.send)

    async with to_app, app_receives, app_sends, from_app, anyio.create_task_group() as group:
        group.start_soon(run)
        await to_app.send({"type": "lifespan.startup"})
        with anyio.fail_after(5):
            assert (await from_app.receive())["type"] == "lifespan.startup.complete"
        yield state
        await to_app.send({"type": "lifespan.shutdown"})
        with anyio.fail_after(5):
            assert (await from_app.receive())["type"] == "lifespan.shutdown.complete"


async def request(app: ASGIApp, state: dict[str, Any], path: str, log: list[str]) -> Exchange:
    """One whole POST to *app*; the exchange keeps what the app sent."""
    exchange = Exchange(path, "POST", state=state, log=log)
    async with anyio.create_task_group() as group:
        exchange.start(group, app)
    return exchange


async def test_the_lifespan_owns_the_bus_and_emits_come_after_the_response() -> None:
    log: list[str] = []
    app = order_app(log)
    async with lifespan_of(app) as state:
        stream = Exchange("/orders/stream", state=state)
        async with anyio.create_task_group() as group:
            stream.start(group, app)
            assert (await stream.start_message())["status"] == 200

            placed = await request(app, state, "/orders/1", log)
            assert (await placed.start_message())["status"] == 201
            assert (await placed.next())["body"] == b'{"id":1}'
            # The response was sent, whole, before the handler ran: the background task
            # runs after the last message of the body.
            assert log == ["response sent", "handled order 1"]
            assert await stream.chunk() == b'event: order.placed\ndata: {"id":1}\n\n'
            await stream.disconnect()

        bus_: Bus = state["bus"]
        assert bus_.orders.subscriber_count == 0
    assert log == ["response sent", "handled order 1", "lifespan ended"]
    assert bus_.orders.closed


async def test_emit_soon_in_a_route_finishes_before_the_lifespan_ends() -> None:
    log: list[str] = []
    app = order_app(log)
    async with lifespan_of(app) as state:
        placed = await request(app, state, "/orders/2/soon", log)
        assert (await placed.start_message())["status"] == 202
    # emit_soon ran in the emitter's task group, which the lifespan's `async with` waits for.
    assert log[-1] == "lifespan ended"
    assert sorted(log[:-1]) == ["handled order 2", "response sent"]  # in either order


async def test_a_stream_open_at_shutdown_ends_when_the_channel_closes() -> None:
    log: list[str] = []
    app = order_app(log)
    stream: Exchange | None = None
    async with anyio.create_task_group() as group:
        async with lifespan_of(app) as state:
            stream = Exchange("/orders/stream", state=state)
            stream.start(group, app)
            await stream.start_message()
        await stream.end()  # the lifespan closed the channel: the stream ended by itself
    assert log == ["lifespan ended"]
