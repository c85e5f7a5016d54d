"""What another writer puts in a channel's stream cannot hurt a receiver, or hide from it.

Entries that are not mtbus messages, carry a codec the receiver does not take, a topic
no local publisher could use (control characters, invalid names, bytes that are not
UTF-8), or more bytes than ``max_message_bytes`` are skipped and counted one by one; the
messages around them arrive in order. An entry too large for a reply is measured by Redis
and skipped unread, so a receiver's memory stays bounded whatever the stream holds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING, Any

import pytest
from receiving import receive_until

from mtbus import Channel, ChannelError, MessageDecodeError
from mtbus.backends import RedisBackend

if TYPE_CHECKING:
    import redis

pytestmark = pytest.mark.anyio

LIMIT = 1024  # the receivers' max_message_bytes, so their replies are bounded at 16 MiB


def good(number: int) -> dict[Any, Any]:
    """The fields of an mtbus message carrying *number*, as any writer could store them."""
    return {"c": "json", "d": json.dumps(number), "t": f"n.{number}"}


#: Entries no receiver may deliver, each with the words its reason must hold.
HOSTILE: list[tuple[dict[Any, Any], str]] = [
    ({"payload": "hello"}, "not an mtbus message"),
    ({"c": "yaml", "d": "1"}, "unknown codec 'yaml'"),
    ({"c": "json", "d": "1", "t": "evil\ntopic"}, "invalid topic"),
    ({"c": "json", "d": "1", "t": "evil\x00topic"}, "invalid topic"),
    ({"c": "json", "d": "1", "t": "\x1b[31mred"}, "invalid topic"),
    ({"c": "json", "d": "1", "t": b"\xff\xfe"}, "not UTF-8"),
    ({"c": "json", "d": "1", "t": "a..b"}, "invalid topic"),
    ({"c": "json", "d": "1", "t": "n.*"}, "invalid topic"),
    ({"c": "json", "d": json.dumps("x" * LIMIT)}, "more than max_message_bytes=1024"),
    ({"c": "json", "d": "{not json"}, "json"),
]


def write_mixed(raw: redis.Redis, key: str) -> None:
    """good(0), the hostile entries, good(1)."""
    raw.xadd(key, good(0))
    for fields, _ in HOSTILE:
        raw.xadd(key, fields)
    raw.xadd(key, good(1))


def assert_reported(reported: list[ChannelError], expected: list[str]) -> None:
    assert len(reported) == len(expected)
    for error, words in zip(reported, expected, strict=True):
        assert isinstance(error, MessageDecodeError)
        assert words in error.reason
        assert "\n" not in str(error)  # a hostile topic is shown escaped, never raw
        assert "\x1b" not in str(error)


@pytest.mark.parametrize("reader", ["catch-up", "live"])
async def test_hostile_entries_are_skipped_and_counted_one_by_one(
    redis_url: str, channel_name: str, raw: redis.Redis, reader: str
) -> None:
    reported: list[ChannelError] = []
    backend = RedisBackend(redis_url, max_message_bytes=LIMIT, on_error=reported.append)
    key = backend.key(channel_name)
    async with Channel[Any](channel_name, backend=backend) as channel:
        if reader == "catch-up":
            write_mixed(raw, key)
            subscriber = await channel.subscribe(since="0")
        else:
            subscriber = await channel.subscribe()
            write_mixed(raw, key)
        assert await receive_until(subscriber, 1) == [0, 1]
        assert subscriber.statistics().pending == 0
    assert channel.statistics().undecodable == len(HOSTILE)
    assert_reported(reported, [words for _, words in HOSTILE])


async def test_entries_too_large_for_a_reply_are_skipped_unread(
    redis_url: str, channel_name: str, raw: redis.Redis
) -> None:
    """Three entries of 20 MiB (each beyond the 16 MiB a reply may have) and ten of 3 MiB
    (a reply of all of them would be too large), between good messages."""
    reported: list[ChannelError] = []
    backend = RedisBackend(redis_url, max_message_bytes=LIMIT, on_error=reported.append)
    key = backend.key(channel_name)
    async with Channel[Any](channel_name, backend=backend) as channel:
        live = await channel.subscribe()
        raw.xadd(key, good(0))
        for _ in range(3):
            raw.xadd(key, {"c": "json", "d": b"1" * (20 << 20)})
        raw.xadd(key, good(1))
        for _ in range(10):
            raw.xadd(key, {"c": "json", "d": b"2" * (3 << 20)})
        raw.xadd(key, good(2))
        assert await receive_until(live, 2) == [0, 1, 2]
        caught_up = await channel.subscribe(since="0")
        assert await receive_until(caught_up, 2) == [0, 1, 2]
    # Each entry is reported once (the catch-up leaves what the pump read to the pump).
    assert channel.statistics().undecodable == 13
    reasons = [error.reason for error in reported if isinstance(error, MessageDecodeError)]
    assert sum("skipped unread" in reason for reason in reasons) == 3
    assert sum("more than max_message_bytes" in reason for reason in reasons) == 10


@pytest.mark.parametrize("reads", ["new", "pending"])
async def test_a_group_member_skips_and_acknowledges_entries_too_large_for_a_reply(
    redis_url: str, channel_name: str, raw: redis.Redis, reads: str
) -> None:
    """As above, for a consumer group member: its reads put the entries in its pending list
    before their reply is refused, so it reads them again, fewer at a time, and reports and
    acknowledges the ones too large on their own: nothing stays pending, nothing is silent.
    ``pending``: the entries were already given to this consumer (an earlier run)."""
    reported: list[ChannelError] = []
    backend = RedisBackend(redis_url, max_message_bytes=LIMIT, on_error=reported.append)
    key = backend.key(channel_name)
    raw.xadd(key, good(0))
    for _ in range(2):
        raw.xadd(key, {"c": "json", "d": b"1" * (20 << 20)})
    raw.xadd(key, good(1))
    for _ in range(10):
        raw.xadd(key, {"c": "json", "d": b"2" * (3 << 20)})
    raw.xadd(key, good(2))
    raw.xgroup_create(key, "workers", id="0")
    if reads == "pending":  # an earlier run of this consumer read them all and died
        raw.xreadgroup("workers", "worker-1", {key: ">"}, count=100)
        assert raw.xpending(key, "workers")["pending"] == 15
    async with Channel[Any](channel_name, backend=backend) as channel:
        member = await channel.subscribe(group="workers", consumer="worker-1")
        assert await receive_until(member, 2) == [0, 1, 2]
        await member.acknowledge()
    assert raw.xpending(key, "workers")["pending"] == 0
    assert channel.statistics().undecodable == 12
    reasons = [error.reason for error in reported if isinstance(error, MessageDecodeError)]
    assert sum("skipped unread" in reason for reason in reasons) == 2
    assert sum("more than max_message_bytes" in reason for reason in reasons) == 10


READER = textwrap.dedent(
    """
    import re, sys
    import anyio
    from mtbus import Channel
    from mtbus.backends import RedisBackend

    async def main(url, name):
        backend = RedisBackend(url, max_message_bytes=1024)
        async with Channel(name, backend=backend) as channel:
            subscriber = await channel.subscribe(since="0")
            while (await subscriber.receive()).data != "end":
                pass
        print(channel.statistics().undecodable)
        # The peak resident memory of this process (ru_maxrss would include its parent's,
        # from before the exec).
        with open("/proc/self/status") as status:
            peak = re.search(r"VmHWM:\\s+(\\d+) kB", status.read())
        print(int(peak.group(1)) // 1024)  # MiB

    anyio.run(main, sys.argv[1], sys.argv[2], backend=sys.argv[3])
    """
)


def test_a_receivers_memory_stays_bounded_whatever_the_stream_holds(
    redis_url: str, channel_name: str, raw: redis.Redis
) -> None:
    """240 MiB of foreign entries (eight of 30 MiB): a receiver that read them would need
    more than that; this one stays within its 16 MiB replies (plus the interpreter)."""
    key = RedisBackend(redis_url).key(channel_name)
    for _ in range(8):
        raw.xadd(key, {"c": "json", "d": b"3" * (30 << 20)})
    raw.xadd(key, {"c": "json", "d": json.dumps("end")})
    try:
        for backend in ("asyncio", "trio"):
            finished = subprocess.run(
                [sys.executable, "-c", READER, redis_url, channel_name, backend],
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
            undecodable, peak = (int(line) for line in finished.stdout.split())
            assert undecodable == 8
            assert peak < 100, f"{backend}: the receiver peaked at {peak} MiB"
    finally:
        raw.delete(key)
