"""Where a run happened: the machine, the Python, and the version of every library involved."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

#: The distributions a run can involve, mtbus first.
DISTRIBUTIONS = (
    "mtbus",
    "anyio",
    "trio",
    "uvloop",
    "pyee",
    "blinker",
    "pymitter",
    "aiosignal",
    "mtaio",
    "broadcaster",
    "matplotlib",
)


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo where there is one."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def machine() -> dict[str, str]:
    """CPU model, core count, Python and OS of this machine."""
    return {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(),
    }


def commit() -> str | None:
    """The git commit checked out where this suite lives, if it is a git checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def versions(distributions: tuple[str, ...] = DISTRIBUTIONS) -> dict[str, str]:
    """The installed version of every distribution named (default :data:`DISTRIBUTIONS`).

    mtbus's also names the git commit, as its version does not change between commits.
    """
    found = {}
    for name in distributions:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    checkout = commit()
    if checkout is not None:
        found["mtbus"] += f" (git {checkout})"
    return found
