"""Where a run happened: the machine, the Python, and the version of every library involved."""

from __future__ import annotations

import importlib.metadata
import os
import platform
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


def versions() -> dict[str, str]:
    """The installed version of every distribution in :data:`DISTRIBUTIONS`."""
    found = {}
    for name in DISTRIBUTIONS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found
