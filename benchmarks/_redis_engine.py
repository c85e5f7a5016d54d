"""The reference: ``redis-benchmark`` sending ``XADD`` to the same server, as fast as it can.

``redis-benchmark`` (Debian's redis-tools) is Redis's own C load generator; the rate it
reaches on a stream key is the most a client can get out of this server on this machine,
so every other rate of ``--scenario redis`` is reported as a share of it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from ._redis_flow import payload

#: The stream the reference appends to, trimmed like an mtbus channel's (about 10,000 kept).
KEY = "bench:engine"
MAXLEN = 10_000
DEBIAN = "/usr/bin/redis-benchmark"


def encode(data: object) -> str:
    """*data* as compact JSON, as mtbus's JSON codec sends it."""
    return json.dumps(data, separators=(",", ":"))


def xadd(key: str, data: str) -> tuple[str | int, ...]:
    """The command every client of the scenario sends: ``XADD`` of one message."""
    return ("XADD", key, "MAXLEN", "~", MAXLEN, "*", "c", "json", "d", data)


def find_benchmark() -> str | None:
    """Debian's ``redis-benchmark`` if it is there, else one on ``PATH``, else None."""
    return DEBIAN if os.access(DEBIAN, os.X_OK) else shutil.which("redis-benchmark")


def engine_seconds(binary: str, port: int, requests: int, clients: int, pipeline: int) -> float:
    """Run ``redis-benchmark``; return how long *requests* ``XADD`` took at its rate.

    :raises RuntimeError: if it fails or prints no rate
    """
    command = [
        binary,
        *("-h", "127.0.0.1", "-p", str(port), "-n", str(requests)),
        *("-c", str(clients), "-P", str(pipeline), "--csv"),
        *map(str, xadd(KEY, encode(payload(1, "P-0")))),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
        # The last line: "test","rps", then six latencies. The test's name (the command)
        # is not escaped, and holds quotes and commas: count from the end.
        rate = float(done.stdout.strip().splitlines()[-1].split(",")[-7].strip('"'))
    except (OSError, subprocess.SubprocessError, LookupError, ValueError) as error:
        raise RuntimeError(f"redis-benchmark failed: {error}: {command}") from error
    return requests / rate
