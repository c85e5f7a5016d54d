"""The ``mtbus`` command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mtbus._cli import main


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
