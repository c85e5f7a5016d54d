"""Every ```python block in docs/ runs, on asyncio and on trio, and prints what the page shows.

A block may use top-level ``await``. When a ```text block follows it directly (or after a
line saying "Output:"), that is the exact output the block must print.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pytest

if TYPE_CHECKING:
    from redis_server import RedisServer

DOCS = Path(__file__).parent.parent / "docs"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.DOTALL | re.MULTILINE)

# Runs one block on the backend named in argv[1]; anyio.run calls in the block use it too.
RUNNER = """
import ast, functools, inspect, sys
import anyio

backend = sys.argv[1]
anyio.run = functools.partial(anyio.run, backend=backend)
code = compile(sys.stdin.read(), "<doc>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
namespace = {"__name__": "__main__"}
if code.co_flags & inspect.CO_COROUTINE:
    async def main():
        await eval(code, namespace)
    anyio.run(main)
else:
    exec(code, namespace)
"""


class DocBlock(NamedTuple):
    """One ```python block of a docs page and the output it must print (None: not shown)."""

    where: str
    source: str
    expected: str | None


def doc_blocks() -> list[DocBlock]:
    blocks_found = []
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text()
        blocks = list(FENCE.finditer(text))
        for index, block in enumerate(blocks):
            if block.group(1) != "python":
                continue
            following = blocks[index + 1] if index + 1 < len(blocks) else None
            shows_output = (
                following is not None
                and following.group(1) == "text"
                and text[block.end() : following.start()].strip() in ("", "Output:")
            )
            expected = following.group(2) if following is not None and shows_output else None
            line = text.count("\n", 0, block.start()) + 1
            blocks_found.append(DocBlock(f"{page.name}:{line}", block.group(2), expected))
    return blocks_found


BLOCKS = doc_blocks()


def test_the_docs_have_runnable_examples() -> None:
    assert len(BLOCKS) >= 10


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("block", BLOCKS, ids=[block.where for block in BLOCKS])
def test_doc_example_runs(block: DocBlock, backend: str, request: pytest.FixtureRequest) -> None:
    source, expected = block.source, block.expected
    environment = dict(os.environ)
    if "MTBUS_REDIS_URL" in source:  # an example of the Redis backend: give it a fresh server
        server: RedisServer = request.getfixturevalue("redis_server")
        server.flush_all()
        environment["MTBUS_REDIS_URL"] = server.url
    result = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", RUNNER, backend],
        input=source,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    if expected is not None:
        assert result.stdout == expected
