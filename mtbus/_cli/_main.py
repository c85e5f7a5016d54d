"""The ``mtbus`` command line."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from typing import TYPE_CHECKING

import anyio

from .._core._exceptions import MtbusError
from .._core._version import __version__
from ..backends import RedisBackend
from ._demo import run_demo
from ._remote import listen, publish

if TYPE_CHECKING:
    from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mtbus", description="mtbus command line")
    parser.add_argument("--version", action="version", version=f"mtbus {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="run a small order pipeline that shows priorities, wildcards and isolation"
    )
    listen = commands.add_parser(
        "listen", help="print the messages of a channel in Redis as they arrive"
    )
    listen.add_argument("patterns", nargs="*", metavar="PATTERN", help="topics (default: all)")
    listen.add_argument("--since", help="also show kept messages after this ID ('0': all kept)")
    listen.add_argument("--count", type=_positive, help="stop after this many messages")
    publish = commands.add_parser("publish", help="publish one message to a channel in Redis")
    publish.add_argument("topic", metavar="TOPIC")
    publish.add_argument("data", metavar="DATA", help="JSON, or plain text")
    publish.add_argument("--metadata", help="a JSON object to send along")
    for command in (listen, publish):
        command.add_argument(
            "--redis",
            default=os.environ.get("MTBUS_REDIS_URL", "redis://localhost:6379/0"),
            metavar="URL",
            help="the server (default: $MTBUS_REDIS_URL or redis://localhost:6379/0)",
        )
        command.add_argument(
            "--channel", default="events", help="the channel's name (default: events)"
        )
    for command in (demo, listen, publish):
        command.add_argument(
            "--backend",
            choices=("asyncio", "trio"),
            default="asyncio",
            help="the async library to run on (default: asyncio)",
        )
    return parser


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: expected a whole number >= 1")
    return number


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with *argv* (default: ``sys.argv``); return the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            anyio.run(run_demo, backend=args.backend)
        elif args.command == "listen":
            watch = functools.partial(
                listen,
                RedisBackend(args.redis),
                args.channel,
                args.patterns,
                since=args.since,
                count=args.count,
                out=sys.stdout,
                err=sys.stderr,
            )
            anyio.run(watch, backend=args.backend)
        else:
            send = functools.partial(
                publish,
                RedisBackend(args.redis),
                args.channel,
                args.topic,
                args.data,
                metadata=args.metadata,
            )
            print(anyio.run(send, backend=args.backend), flush=True)
    # One line each, for the user: a Redis URL in them never shows its password, and a
    # ModuleNotFoundError is a missing extra (hiredis) that says how to install it.
    except (MtbusError, ValueError, TypeError, ModuleNotFoundError) as error:
        print(f"mtbus {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``mtbus demo | head``): stop quietly, as Unix tools do,
        # and keep Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0
