"""The emitter examples of the mtaio.events reference document, run against mtbus.

Each test keeps the example's code as written in the document (only the import changes),
then checks what it printed or did. Every emitter example of the document is here; the
channel examples belong to channels, tested with them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from mtbus import Event, EventEmitError, EventEmitter, EventHandlerError, EventPriority

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.anyio


async def test_basic_usage(capsys: pytest.CaptureFixture[str]) -> None:
    # Create emitter
    emitter = EventEmitter()

    # Define handler
    @emitter.on("user_login")
    async def handle_login(event: Event[Any]) -> None:
        user = event.data
        print(f"User {user['name']} logged in")

    # Emit event
    await emitter.emit("user_login", {"name": "John", "id": "123"})

    assert capsys.readouterr().out == "User John logged in\n"


def test_event_container() -> None:
    event = Event(name="data_event", data={"x": 1})
    assert event.propagate is True
    assert event.metadata == {}


async def test_priority_handling() -> None:
    emitter = EventEmitter()
    order: list[str] = []

    @emitter.on("critical")
    async def handle_later(event: Event[Any]) -> None:
        order.append("normal")

    @emitter.on("critical", priority=EventPriority.HIGHEST)
    async def handle_critical(event: Event[Any]) -> None:
        # Handle critical events first
        order.append("critical")

    await emitter.emit("critical", None)
    assert order == ["critical", "normal"]


async def test_event_filtering(capsys: pytest.CaptureFixture[str]) -> None:
    emitter = EventEmitter()

    # Create filtered emitter
    filtered = emitter.filter(lambda event: event.data.get("priority") == "high")

    @filtered.on("alert")
    async def handle_high_priority_alert(event: Event[Any]) -> None:
        alert = event.data
        print(f"High priority alert: {alert['message']}")

    await emitter.emit("alert", {"priority": "high", "message": "disk full"})
    await emitter.emit("alert", {"priority": "low", "message": "disk at 70%"})

    assert capsys.readouterr().out == "High priority alert: disk full\n"


async def test_event_transformation() -> None:
    emitter = EventEmitter()
    handled: list[dict[str, Any]] = []

    # Create transformed emitter
    transformed = emitter.map(
        lambda event: Event(name=event.name, data={**event.data, "processed": True})
    )

    @transformed.on("data_event")
    async def handle_processed_data(event: Event[Any]) -> None:
        # Handle transformed event
        handled.append(event.data)

    await emitter.emit("data_event", {"value": 1})

    assert handled == [{"value": 1, "processed": True}]


async def test_batch_operations() -> None:
    emitter = EventEmitter()
    data1, data2 = {"n": 1}, {"n": 2}
    per_event: list[str] = []
    batches: list[list[str]] = []
    emitter.on("*", lambda event: per_event.append(event.name))
    emitter.on("*", lambda event: batches.append([e.name for e in event.data]), batched=True)

    async def batch_operations() -> None:
        async with emitter.batch_operations():
            # Events are batched
            await emitter.emit("event1", data1)
            await emitter.emit("event2", data2)
            # Handlers are called once with all events
            assert per_event == []

    await batch_operations()

    assert per_event == ["event1", "event2"]
    assert batches == [["event1", "event2"]]


async def test_performance_event_batching() -> None:
    emitter = EventEmitter()
    items = ["a", "b", "c"]
    received: list[list[str]] = []

    @emitter.on("item.processed", batched=True)
    async def store_all(event: Event[list[Event[str]]]) -> None:
        received.append([item.data for item in event.data])

    async with emitter.batch_operations():
        for item in items:
            await emitter.emit("item.processed", item)

    assert received == [["a", "b", "c"]]


async def test_performance_event_filtering() -> None:
    emitter = EventEmitter()
    important: list[Any] = []

    # Filter events early
    filtered = emitter.filter(lambda e: e.data.get("important"))

    @filtered.on("event")
    async def handle_important_events(event: Event[Any]) -> None:
        important.append(event.data)

    await emitter.emit("event", {"important": True, "id": 1})
    await emitter.emit("event", {"important": False, "id": 2})
    await emitter.emit("event", {"id": 3})

    assert important == [{"important": True, "id": 1}]


@pytest.mark.parametrize("strict", [False, True])
async def test_error_handling(strict: bool) -> None:
    emitter = EventEmitter(strict=strict)
    data = {"n": 1}
    outcome = "no error"

    @emitter.on("event")
    async def broken(event: Event[Any]) -> None:
        raise RuntimeError("handler failed")

    try:
        await emitter.emit("event", data)
    except EventEmitError:
        # Handle emission error
        outcome = "emit error"
    except EventHandlerError:
        # Handle handler error
        outcome = "handler error"

    # Failures are isolated by default; strict mode raises them after the emit.
    assert outcome == ("handler error" if strict else "no error")


async def test_error_events(capsys: pytest.CaptureFixture[str]) -> None:
    emitter = EventEmitter()

    async def process_data() -> None:
        raise ValueError("bad input")

    @emitter.on("error")
    async def handle_error(event: Event[Any]) -> None:
        error = event.data
        print(f"Error occurred: {error}")

    # Emit error event
    try:
        await process_data()
    except Exception as e:
        await emitter.emit("error", e)

    assert capsys.readouterr().out == "Error occurred: bad input\n"


async def test_event_handler_organization() -> None:
    emitter = EventEmitter()
    seen: list[str] = []

    class UserEventHandlers:
        def __init__(self, emitter: EventEmitter):
            self.emitter = emitter
            self.setup_handlers()

        def setup_handlers(self) -> None:
            @self.emitter.on("user.created")
            async def handle_user_created(event: Event[Any]) -> None:
                seen.append(event.name)

            @self.emitter.on("user.updated")
            async def handle_user_updated(event: Event[Any]) -> None:
                seen.append(event.name)

    # Usage
    handlers = UserEventHandlers(emitter)

    await handlers.emitter.emit("user.created", {})
    await emitter.emit("user.updated", {})
    assert seen == ["user.created", "user.updated"]


async def test_resource_management() -> None:
    seen: list[str] = []

    class EventManager:
        def __init__(self) -> None:
            self.emitter = EventEmitter()
            self._handlers: list[tuple[str, Callable[..., Any]]] = []

        def register_handler(self, event: str, handler: Callable[..., Any]) -> None:
            self._handlers.append((event, handler))
            self.emitter.on(event)(handler)

        async def cleanup(self) -> None:
            for event, handler in self._handlers:
                self.emitter.remove_listener(event, handler)

    manager = EventManager()

    async def on_saved(event: Event[Any]) -> None:
        seen.append(event.name)

    manager.register_handler("doc.saved", on_saved)
    manager.register_handler("doc.#", on_saved)
    await manager.emitter.emit("doc.saved")
    await manager.cleanup()
    await manager.emitter.emit("doc.saved")
    assert seen == ["doc.saved", "doc.saved"]
    assert manager.emitter.listener_count() == 0


async def test_event_driven_data_processing() -> None:
    class DataProcessor:
        def __init__(self) -> None:
            self.emitter = EventEmitter()

        async def process(self, data: dict[str, Any]) -> None:
            # Emit preprocessing event
            await self.emitter.emit("process.start", data)

            try:
                result = await self.process_data(data)
                await self.emitter.emit("process.complete", result)
            except Exception as e:
                await self.emitter.emit("process.error", e)

        async def process_data(self, data: dict[str, Any]) -> dict[str, Any]:
            if "value" not in data:
                raise KeyError("value")
            return {"value": data["value"] * 2}

    processor = DataProcessor()
    trail: list[tuple[str, Any]] = []
    processor.emitter.on("process.*", lambda event: trail.append((event.name, event.data)))

    await processor.process({"value": 21})
    await processor.process({})

    assert [name for name, _ in trail] == [
        "process.start",
        "process.complete",
        "process.start",
        "process.error",
    ]
    assert trail[1][1] == {"value": 42}
    assert isinstance(trail[3][1], KeyError)


async def test_event_monitoring(capsys: pytest.CaptureFixture[str]) -> None:
    emitter = EventEmitter()

    class EventMonitor:
        def __init__(self, emitter: EventEmitter):
            @emitter.on("*", priority=EventPriority.MONITOR)
            async def monitor_all(event: Event[Any]) -> None:
                await self.log_event(event)

        async def log_event(self, event: Event[Any]) -> None:
            print(f"Event: {event.name}, Data: {event.data}")

    EventMonitor(emitter)

    @emitter.on("order.placed", priority=EventPriority.HIGHEST)
    def stop_here(event: Event[Any]) -> None:
        event.propagate = False

    await emitter.emit("user.login", "john")
    await emitter.emit("order.placed", 7)

    assert capsys.readouterr().out == (
        "Event: user.login, Data: john\nEvent: order.placed, Data: 7\n"
    )
