"""The README's quickstart, every script in examples/ and the typed-events contract pass
``mypy --strict`` and strict pyright.

What users copy should type-check as cleanly as the package. Each checker runs once for this
module, over the README's code and all the examples together; each test then reads the
problems reported in its own file. The README's ```python blocks are found as
tests/test_docs.py finds them, and written to a file where each block's lines keep their
line numbers in README.md.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

if TYPE_CHECKING:
    from collections.abc import Sequence

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.DOTALL | re.MULTILINE)  # as in test_docs.py
#: What type checkers must conclude about typed events, mistakes included (see the file).
CONTRACT = ROOT / "tests" / "typed_events_contract.py"
TARGETS = [
    "README.md",
    *(f"examples/{script.name}" for script in EXAMPLES),
    "tests/typed_events_contract.py",
]

# Strict, for the oldest Python mtbus supports; mtbus itself is imported from this checkout.
# An ignore comment that silences nothing is an error: the contract's mistakes rely on it.
PYRIGHT_CONFIG = {
    "typeCheckingMode": "strict",
    "pythonVersion": "3.11",
    "extraPaths": [str(ROOT)],
    "reportUnnecessaryTypeIgnoreComment": "error",
}


class Problem(NamedTuple):
    target: str  # "README.md" or "examples/NAME.py"
    line: int  # 1-based, in the target
    text: str


class Report(NamedTuple):
    """What one checker said about all the targets."""

    tool: str
    problems: list[Problem]
    output: str

    def check(self, target: str) -> None:
        found = [problem for problem in self.problems if problem.target == target]
        listed = "\n".join(f"{target}:{problem.line}: {problem.text}" for problem in found)
        assert not found, f"{self.tool} found problems in {target}:\n{listed}\n\n{self.output}"


def readme_code() -> str:
    """The README's ```python blocks, each at the line numbers it has in README.md."""
    text = README.read_text()
    code = ""
    for block in FENCE.finditer(text):
        if block.group(1) == "python":
            first_line = text.count("\n", 0, block.start()) + 2  # the line after the fence
            code += "\n" * (first_line - 1 - code.count("\n")) + block.group(2)
    return code


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, str]:
    """The files to check, each with the target it stands for."""
    quickstart = tmp_path_factory.mktemp("readme") / "readme_quickstart.py"
    quickstart.write_text(readme_code())
    examples = {script: f"examples/{script.name}" for script in EXAMPLES}
    return {quickstart: "README.md"} | examples | {CONTRACT: "tests/typed_events_contract.py"}


def run(tool: str, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", tool, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Both exit with 1 when they found problems, and with more when they could not check.
    assert result.returncode in (0, 1), f"{tool} failed:\n{result.stdout}\n{result.stderr}"
    return result


def target_of(files: dict[Path, str], path: str) -> str:
    return files.get(Path(path).resolve(), path)


@pytest.fixture(scope="module")
def mypy(files: dict[Path, str]) -> Report:
    """``mypy --strict`` (and the project's mypy settings) over every file, once."""
    result = run("mypy", ["--strict", "--output", "json", "--show-absolute-path", *map(str, files)])
    problems = []
    for line in filter(None, result.stdout.splitlines()):
        found: dict[str, Any] = json.loads(line)
        if found["severity"] == "error":
            text = f"{found['message']}  [{found['code']}]"
            problems.append(Problem(target_of(files, found["file"]), found["line"], text))
    assert problems or result.returncode == 0, result.stdout + result.stderr
    return Report("mypy --strict", problems, result.stdout + result.stderr)


@pytest.fixture(scope="module")
def pyright(files: dict[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Report:
    """pyright in strict mode over every file, once."""
    config = tmp_path_factory.mktemp("pyright") / "pyrightconfig.json"
    config.write_text(json.dumps(PYRIGHT_CONFIG))
    args = [
        "--outputjson",
        "--project",
        str(config),
        "--pythonpath",
        sys.executable,
        *map(str, files),
    ]
    result = run("pyright", args)
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["summary"]["filesAnalyzed"] >= len(files), result.stdout
    problems = [
        Problem(
            target_of(files, found["file"]),
            found["range"]["start"]["line"] + 1,
            f"{found['severity']}: {found['message']}  [{found.get('rule', '')}]",
        )
        for found in report["generalDiagnostics"]
        if found["severity"] in ("error", "warning")
    ]
    output = "\n".join(f"{problem.target}:{problem.line}: {problem.text}" for problem in problems)
    return Report("pyright (strict)", problems, output or result.stdout)


def test_the_readme_has_a_quickstart_to_check() -> None:
    assert "EventEmitter()" in readme_code()


@pytest.mark.parametrize("target", TARGETS)
def test_mypy_strict_passes(target: str, mypy: Report) -> None:
    mypy.check(target)


@pytest.mark.parametrize("target", TARGETS)
def test_pyright_strict_passes(target: str, pyright: Report) -> None:
    pyright.check(target)


def test_every_public_name_is_fully_typed() -> None:
    """``pyright --verifytypes``: what users see of mtbus has no unknown or ambiguous type."""
    result = run("pyright", ["--verifytypes", "mtbus", "--ignoreexternal", "--outputjson"])
    report = json.loads(result.stdout)["typeCompleteness"]
    incomplete = [
        f"{symbol['name']}: {diagnostic['message']}"
        for symbol in report["symbols"]
        for diagnostic in symbol.get("diagnostics", ())
    ]
    assert report["completenessScore"] == 1, "\n".join(incomplete)
    assert incomplete == []
