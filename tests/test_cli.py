"""The ``mtbus`` command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from redis_server import free_port

import mtbus
from mtbus import Message
from mtbus._cli._main import main
from mtbus._cli._remote import describe
from mtbus.backends import RedisBackend


def test_demo_shows_priorities_wildcards_isolation_and_propagation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out.splitlines()
    first_order = out[: out.index("  -> propagate=True")]
    labels = [line.split("]")[0].strip() + "]" for line in first_order if line.startswith("  [")]
    assert labels == [
        "[HIGHEST]",
        "[HIGH]",
        "[NORMAL]",
        "[log]",
        "[on_error]",
        "[LOWEST]",
        "[MONITOR]",
    ]
    assert "  [HIGHEST] stock check: 'gadget' is out of stock, stopping here" in out
    assert "  [MONITOR] audit: 'order.placed' stopped early" in out
    assert "  [LOWEST]  'order.*' dashboard sees 'order.shipped'" in out


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_demo_runs_as_a_module_on_both_backends(backend: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mtbus", "demo", "--backend", backend],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "audit: 'order.shipped' completed" in result.stdout


def test_version_is_the_packages_and_the_distributions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"mtbus {mtbus.__version__}\n"
    assert mtbus.__version__ == version("mtbus")


def test_unknown_command_exits_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["nope"])
    assert exited.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_demo_stops_quietly_when_its_reader_goes_away() -> None:
    """``mtbus demo | head -1`` prints one line and no traceback."""
    result = subprocess.run(
        f"{sys.executable} -m mtbus demo | head -n 1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout == "emit('order.placed') for order 1 (widget):\n"
    assert result.stderr == ""


def test_listen_and_publish_name_their_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["listen", "--count", "0"])
    assert "invalid count '0': expected a whole number >= 1" in capsys.readouterr().err
    assert main(["publish", "a.b", "1", "--metadata", "[1]"]) == 2
    assert "invalid --metadata '[1]': expected a JSON object" in capsys.readouterr().err
    assert main(["publish", "a.b", "1", "--redis", "http://x"]) == 2
    assert "invalid Redis URL 'http://x'" in capsys.readouterr().err


# -- listen and publish, against a real redis-server -------------------------------------

ROOT = Path(__file__).parent.parent


def run_cli(*argv: str, code: str = "") -> subprocess.CompletedProcess[str]:
    """``mtbus *argv`` in a child process (after running *code* there), waited for."""
    program = f"import sys\n{code}\nfrom mtbus._cli._main import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", program, *argv],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=ROOT,
    )


def test_publish_prints_the_new_message_id(
    redis_url: str, channel_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["publish", "order.placed", '{"id": 7}', "--channel", channel_name]
    assert main([*argv, "--redis", redis_url, "--metadata", '{"source": "cli"}']) == 0
    out, err = capsys.readouterr()
    assert err == ""
    [printed] = out.splitlines()
    with redis.Redis.from_url(redis_url) as raw:
        [(stored, _)] = raw.xrange(RedisBackend(redis_url).key(channel_name))
    assert printed == stored.decode()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_listen_says_what_it_listens_to_then_prints_each_message(
    redis_url: str, channel_name: str, backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def publish(topic: str, data: str, *extra: str) -> str:
        argv = ["publish", topic, data, "--channel", channel_name, "--redis", redis_url, *extra]
        assert main([*argv, "--backend", backend]) == 0
        return capsys.readouterr().out.strip()

    kept = publish("order.eu.placed", "hello")
    argv = ["listen", "order.*.placed", "--since", "0", "--count", "2", "--channel", channel_name]
    listener = subprocess.Popen(
        [sys.executable, "-m", "mtbus", *argv, "--redis", redis_url, "--backend", backend],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert listener.stderr is not None
        # Said once it has subscribed: what is published from now on reaches it.
        assert listener.stderr.readline() == (
            f"mtbus listen: listening to 'order.*.placed' of channel {channel_name!r} "
            f"at {redis_url}, since '0'\n"
        )
        publish("order.shipped", "1")  # not matched
        new = publish("order.us.placed", '{"id": 7}', "--metadata", '{"source": "cli"}')
        out, err = listener.communicate(timeout=30)
    finally:
        listener.kill()
        listener.wait()
    assert listener.returncode == 0, err
    assert err == ""
    assert out.splitlines() == [
        f'{kept} order.eu.placed "hello"',
        f'{new} order.us.placed {{"id": 7}} {{"source": "cli"}}',
    ]


def test_listen_without_patterns_says_it_takes_every_topic(
    redis_url: str, channel_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["publish", "a.b", "[1]", "--channel", channel_name, "--redis", redis_url]) == 0
    message_id = capsys.readouterr().out.strip()
    argv = ["listen", "--since", "0", "--count", "1", "--channel", channel_name]
    assert main([*argv, "--redis", redis_url]) == 0
    out, err = capsys.readouterr()
    assert err == (
        f"mtbus listen: listening to every topic of channel {channel_name!r} at {redis_url}, "
        f"since '0'\n"
    )
    assert out == f"{message_id} a.b [1]\n"


@pytest.mark.parametrize("command", ["listen", "publish"])
def test_a_missing_redis_extra_is_one_line_that_says_how_to_install_it(command: str) -> None:
    # Hidden from the child: importing hiredis fails there as if it were not installed.
    hide = "sys.modules['hiredis'] = None"
    argv = ["a.b", "1"] if command == "publish" else []
    result = run_cli(command, *argv, "--redis", "redis://127.0.0.1:1/0", code=hide)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"mtbus {command}: RedisBackend needs the hiredis package. "
        f"Install it with: pip install 'mtbus[redis]'\n"
    )


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("command", ["listen", "publish"])
def test_errors_never_show_the_password(
    command: str, backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"redis://ada:s3cret@127.0.0.1:{free_port()}/0"  # nothing listens there
    argv = ["a.b", "1"] if command == "publish" else []
    assert main([command, *argv, "--redis", url, "--backend", backend]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    [line] = err.splitlines()
    assert line.startswith(f"mtbus {command}: cannot ")
    assert "redis://ada:***@127.0.0.1:" in line
    assert "s3cret" not in line


def test_a_bad_url_is_named_without_its_password(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["listen", "--redis", "redis://ada:s3cret@127.0.0.1:port/0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mtbus listen: invalid Redis URL 'redis://ada:***@127.0.0.1:port/0'")
    assert "s3cret" not in err


# -- describe: one printable line per message, whoever wrote it --------------------------


def json_fields(line: str) -> list[object]:
    """The space-separated JSON values *line* is made of."""
    decoder, fields, at = json.JSONDecoder(), [], 0
    while at < len(line):
        value, at = decoder.raw_decode(line, at)
        fields.append(value)
        at += 1  # the space between two fields
    return fields


def test_a_message_is_one_line_with_its_id_topic_data_and_metadata() -> None:
    message = Message({"id": 7, "who": "Zoë"}, "order.placed", {"source": "cli"}, "1-0")
    assert describe(message) == r'1-0 order.placed {"id": 7, "who": "Zo\u00eb"} {"source": "cli"}'
    # What JSON cannot carry is shown by its repr (here bytes, from MessagePack).
    assert describe(Message(b"\x00", None, {}, "2-0")) == "2-0 (broadcast) " + json.dumps(
        r"b'\x00'"
    )


def test_control_characters_from_a_foreign_writer_never_reach_the_terminal() -> None:
    nasty = "a\nb\x00c\x1b[31md\x7fe\u2028f\u202eg h"
    line = describe(Message(nasty, nasty, {nasty: nasty, "raw": b"\x1b"}, nasty))
    assert line.isprintable(), repr(line)
    # The ID and the topic, not plain words, come as JSON strings too: nothing is lost.
    assert json_fields(line) == [nasty, nasty, nasty, {nasty: nasty, "raw": r"b'\x1b'"}]


def test_keys_json_has_no_form_for_still_give_a_line() -> None:
    # MessagePack carries bytes keys, JSON has no form for them: the value's repr is shown.
    line = describe(Message({b"key": 1}, "a.b", {}, "3-0"))
    assert line == "3-0 a.b " + json.dumps("{b'key': 1}")
