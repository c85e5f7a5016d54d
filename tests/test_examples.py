"""Every script in examples/ runs cleanly, on asyncio and on trio where it takes a backend."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import redis

EXAMPLES = Path(__file__).parent.parent / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))


def run(*args: str, redis_url: str | None = None) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    if redis_url is not None:
        environment["MTBUS_REDIS_URL"] = redis_url
    return subprocess.run(
        [sys.executable, *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_there_are_examples() -> None:
    assert len(SCRIPTS) >= 2


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_example_runs_cleanly(script: Path, redis_url: str) -> None:
    result = run(str(script), redis_url=redis_url)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.strip()


def test_decoupled_modules_example_runs_on_trio() -> None:
    result = run(str(EXAMPLES / "decoupled_modules.py"), "trio")
    assert result.returncode == 0, result.stderr
    assert "purchasing: restock widget (only 1 left)" in result.stdout
    assert result.stdout.count("ops: send_newsletter_signup failed") == 2


def test_channel_workers_example_runs_on_trio() -> None:
    result = run(str(EXAMPLES / "channel_workers.py"), "trio")
    assert result.returncode == 0, result.stderr
    assert "billing: charged 50 orders, in order: True" in result.stdout
    assert "billing: delivered 51, dropped 0" in result.stdout


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("composition.py", "warehouse: shipping orders [1, 2]\n"),
        ("batching.py", "  database: one insert of 3 rows\n"),
    ],
)
def test_composition_and_batching_examples_run_on_trio(script: str, expected: str) -> None:
    result = run(str(EXAMPLES / script), "trio")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert expected in result.stdout


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_redis_workers_example_shares_the_work_and_resumes(
    backend: str, redis_url: str, raw: redis.Redis
) -> None:
    before = set(raw.keys("mtbus:*orders-*"))
    result = run(str(EXAMPLES / "redis_workers.py"), backend, redis_url=redis_url)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "billing: 20 orders charged, each once: True" in result.stdout
    assert "audit: saw European orders [1, 3, 5], then stopped" in result.stdout
    assert "audit: resumed with [7, 9, 11]..., 7 more, none missed: True" in result.stdout
    # Every order charged was acknowledged, the last ones too: none is left to charge again.
    (stream,) = set(raw.keys("mtbus:*orders-*")) - before
    assert raw.xpending(stream, "billing")["pending"] == 0


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sync_app_example_reaches_the_service_from_its_threads(backend: str) -> None:
    result = run(str(EXAMPLES / "sync_app.py"), backend)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "  service thread: confirmation mailed for order 1\n  -> 201 order 1 placed\n" in (
        result.stdout
    )
    assert "  -> 409 refused: only 1 widget left, 5 wanted\n" in result.stdout
    assert "ANOTHER thread" not in result.stdout  # every handler ran in the service's thread
    assert "  service thread: gadget stock set to 4\n" in result.stdout
    assert result.stdout.endswith("stock after the service stopped: {'widget': 10, 'gadget': 4}\n")
