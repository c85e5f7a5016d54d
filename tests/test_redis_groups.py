"""Consumer groups over a real ``redis-server``: each message to one member, at least once.

A member acknowledges a message once it is processed (the consumer asks for the next one,
calls ``acknowledge()``, or leaves ``async with subscriber:`` normally), so a member that
fails or dies mid-job leaves the job to another. Redis itself is looked at with redis-py.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from receiving import receive

from mtbus import Channel, ChannelError, ChannelGapError, Message, Subscriber
from mtbus.backends import RedisBackend

if TYPE_CHECKING:
    import redis

pytestmark = pytest.mark.anyio


def pending(raw: redis.Redis, key: str, group: str) -> list[tuple[str, str, int]]:
    """The entries *group* delivered and nobody acknowledged: ID, consumer, deliveries."""
    entries = raw.xpending_range(key, group, min="-", max="+", count=1000)
    return [
        (text(entry["message_id"]), text(entry["consumer"]), int(entry["times_delivered"]))
        for entry in entries
    ]


def pending_ids(raw: redis.Redis, key: str, group: str) -> list[str]:
    return [entry_id for entry_id, _, _ in pending(raw, key, group)]


def stream_ids(raw: redis.Redis, key: str) -> list[str]:
    return [text(entry_id) for entry_id, _ in raw.xrange(key) or []]


def text(value: object) -> str:
    assert isinstance(value, bytes), value
    return value.decode()


def id_key(entry_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence)


# -- sharing the work ----------------------------------------------------------------------


@pytest.mark.parametrize("names", [("one", "two"), (None, None)], ids=["named", "unnamed"])
async def test_group_members_share_the_messages_each_exactly_once(
    redis_url: str, channel_name: str, raw: redis.Redis, names: tuple[str | None, str | None]
) -> None:
    """Unnamed members get names of their own, even two in one process (two channels)."""
    backend = RedisBackend(redis_url)
    async with (
        Channel[int](channel_name, backend=backend) as first,
        Channel[int](channel_name, backend=backend) as second,
    ):
        one = await first.subscribe(group="workers", consumer=names[0], buffer_size=5)
        two = await second.subscribe(group="workers", consumer=names[1], buffer_size=5)
        got: list[int] = []

        async def work(member: Subscriber[int]) -> None:
            async for message in member:
                got.append(message.data)
                if len(got) == 200:
                    one.unsubscribe()
                    two.unsubscribe()

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(work, one)
                tasks.start_soon(work, two)
                for number in range(200):
                    await first.publish(number)
    assert sorted(got) == list(range(200))
    # Each `async for` asked for a next message after its last one, which acknowledged it.
    assert pending_ids(raw, backend.key(channel_name), "workers") == []
    assert len(raw.xinfo_consumers(backend.key(channel_name), "workers")) == 2


async def test_group_subscribers_need_a_group_and_take_any_overflow_policy(
    redis_url: str, channel_name: str
) -> None:
    async with Channel[int](channel_name, backend=RedisBackend(redis_url)) as channel:
        with pytest.raises(ValueError, match=r"consumer='c' needs a group"):
            await channel.subscribe(consumer="c")
        with pytest.raises(ValueError, match=r"group must not be empty"):
            await channel.subscribe(group="")
        with pytest.raises(ValueError, match=r"consumer must not be empty"):
            await channel.subscribe(group="g", consumer="")
        # A member reads only what fits in its queue, so its policy never has to drop.
        member = await channel.subscribe(group="g", overflow="drop_oldest", buffer_size=1)
        for number in range(5):
            await channel.publish(number)
        assert await receive(member, 5) == [0, 1, 2, 3, 4]
        assert member.statistics().dropped == 0


async def test_a_group_starts_where_since_says_when_it_is_new(
    redis_url: str, channel_name: str
) -> None:
    async with Channel[int](channel_name, backend=RedisBackend(redis_url)) as channel:
        for number in range(3):
            await channel.publish(number)
        backlog = await channel.subscribe(group="from-the-start", since="0")
        fresh = await channel.subscribe(group="only-new")
        await channel.publish(3)
        assert await receive(backlog, 4) == [0, 1, 2, 3]
        assert await receive(fresh, 1) == [3]


# -- acknowledging what was processed ----------------------------------------------------------


async def test_asking_for_the_next_message_acknowledges_the_one_before(
    redis_url: str, channel_name: str, raw: redis.Redis
) -> None:
    key = RedisBackend(redis_url).key(channel_name)
    async with Channel[int](channel_name, backend=RedisBackend(redis_url)) as channel:
        await channel.publish(1)
        member = await channel.subscribe(group="g", since="0")
        first = await member.receive()
        assert pending_ids(raw, key, "g") == [first.id]  # in hand: not processed yet
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(member.receive)  # the consumer is done with it: it waits for more
            with anyio.fail_after(5):
                # Redis has no event to wait on: poll until the acknowledgement is there.
                while pending_ids(raw, key, "g"):  # noqa: ASYNC110
                    await anyio.sleep(0.001)
            tasks.cancel_scope.cancel()


async def test_acknowledge_acknowledges_what_was_received_and_it_never_comes_back(
    redis_url: str, channel_name: str, raw: redis.Redis
) -> None:
    backend = RedisBackend(redis_url)
    key = backend.key(channel_name)
    async with Channel[int](channel_name, backend=backend) as channel:
        for number in range(3):
            await channel.publish(number)
        member = await channel.subscribe(group="g", consumer="c", since="0")
        plain = await channel.subscribe()
        await plain.acknowledge()  # outside a group: nothing to do
        received = [await member.receive() for _ in range(2)]
        await member.acknowledge()
        assert pending_ids(raw, key, "g") == stream_ids(raw, key)[2:]  # queued, never received
    # The same consumer, restarted, gets its unacknowledged message, and only that one.
    async with Channel[int](channel_name, backend=backend) as channel:
        member = await channel.subscribe(group="g", consumer="c")
        await channel.publish(3)
        assert await receive(member, 2) == [2, 3]
    assert [message.data for message in received] == [0, 1]


async def test_leaving_async_with_normally_acknowledges_the_message_in_hand(
    redis_url: str, channel_name: str, raw: redis.Redis
) -> None:
    key = RedisBackend(redis_url).key(channel_name)
    async with Channel[int](channel_name, backend=RedisBackend(redis_url)) as channel:
        await channel.publish(1)
        await channel.publish(2)
        member = await channel.subscribe(group="g", since="0")  # reads both at once
        async with member:
            assert (await member.receive()).data == 1
        # Leaving acknowledged message 1; message 2 was still queued, so it stays pending
        # (another member claims it after claim_idle).
        assert pending_ids(raw, key, "g") == stream_ids(raw, key)[1:]
        assert member.closed


async def test_a_message_whose_processing_raised_is_delivered_again(
    redis_url: str, channel_name: str, raw: redis.Redis
) -> None:
    backend = RedisBackend(redis_url, claim_idle=0.5)
    key = backend.key(channel_name)
    async with Channel[int](channel_name, backend=backend) as channel:
        flaky = await channel.subscribe(group="g", consumer="flaky", buffer_size=1)
        await channel.publish(7)
        with pytest.raises(RuntimeError, match=r"cannot do job 7"):
            await _fail_at_the_first_job(flaky)
        [(entry_id, consumer, deliveries)] = pending(raw, key, "g")
        assert (consumer, deliveries) == ("flaky", 1)
        patient = await channel.subscribe(group="g", consumer="patient")
        async with patient:
            with anyio.fail_after(10):
                again = await patient.receive()  # claimed after claim_idle
        assert (again.data, again.id) == (7, entry_id)
        assert pending_ids(raw, key, "g") == []


async def _fail_at_the_first_job(member: Subscriber[int]) -> None:
    async with member:
        async for message in member:
            raise RuntimeError(f"cannot do job {message.data}")


async def test_a_restarted_member_gets_its_own_unacknowledged_messages_first(
    redis_url: str, channel_name: str
) -> None:
    backend = RedisBackend(redis_url)
    async with Channel[int](channel_name, backend=backend) as channel:
        member = await channel.subscribe(group="g", consumer="stable", buffer_size=10)
        for number in range(6):
            await channel.publish(number)
        assert await receive(member, 2) == [0, 1]
    # 0 was processed (the consumer asked for 1 after it); 1 was in hand, never finished.
    async with Channel[int](channel_name, backend=backend) as channel:
        member = await channel.subscribe(group="g", consumer="stable")
        await channel.publish(6)
        assert await receive(member, 6) == [1, 2, 3, 4, 5, 6]


async def test_a_dead_members_messages_are_claimed_by_another(
    redis_url: str, channel_name: str
) -> None:
    backend = RedisBackend(redis_url, claim_idle=0.2)
    async with Channel[int](channel_name, backend=backend) as channel:
        doomed = await channel.subscribe(group="workers", consumer="doomed", buffer_size=10)
        for number in range(10):
            await channel.publish(number)
        # publish returns once Redis has each message: wait for the member to read all ten.
        with anyio.fail_after(10):
            while doomed.statistics().pending < 10:  # noqa: ASYNC110 - filled by a network read
                await anyio.sleep(0.001)
    # "doomed" took all ten into its queue and went away without receiving them.
    async with Channel[int](channel_name, backend=backend) as channel:
        survivor = await channel.subscribe(group="workers", consumer="survivor")
        assert await receive(survivor, 10) == list(range(10))


DOOMED_WORKER = """
import sys, anyio
from mtbus import Channel
from mtbus.backends import RedisBackend

async def main():
    url, channel_name, fatal_job, backend = sys.argv[1:]
    async with Channel(channel_name, backend=RedisBackend(url)) as channel:
        member = await channel.subscribe(group="workers", consumer="doomed", buffer_size=1)
        print("ready", flush=True)
        async with member:
            async for message in member:
                print(f"working on {message.data}", flush=True)
                if message.data == int(fatal_job):
                    await anyio.sleep_forever()  # the job it is killed in
                await member.acknowledge()  # so that a job done is never done again
                print(f"done {message.data}", flush=True)

anyio.run(main, backend=sys.argv[4])
"""


async def test_a_member_killed_mid_job_leaves_the_job_to_a_survivor(
    redis_url: str, channel_name: str, anyio_backend: str, raw: redis.Redis
) -> None:
    backend = RedisBackend(redis_url, claim_idle=0.5)
    command = [sys.executable, "-c", DOOMED_WORKER, redis_url, channel_name, "3", anyio_backend]
    done_there: list[int] = []
    async with Channel[int](channel_name, backend=backend) as channel:
        async with await anyio.open_process(command, stderr=subprocess.STDOUT) as worker:
            assert worker.stdout is not None
            output = BufferedByteReceiveStream(worker.stdout)
            try:
                with anyio.fail_after(30):
                    assert await output.receive_until(b"\n", 10_000) == b"ready"
                    for job in range(10):
                        await channel.publish(job)
                    while (line := (await output.receive_until(b"\n", 10_000)).decode()) != (
                        "working on 3"
                    ):
                        if done := re.fullmatch(r"done (\d+)", line):
                            done_there.append(int(done[1]))
                        else:
                            assert re.fullmatch(r"working on \d+", line), line
            finally:
                worker.send_signal(signal.SIGKILL)  # mid-job (or at once, if anything failed)
            assert await worker.wait() == -signal.SIGKILL
        # It had the group to itself: it did jobs 0 to 2, and died in job 3.
        assert done_there == [0, 1, 2]
        survivor = await channel.subscribe(group="workers", consumer="survivor")
        async with survivor:
            done_here = await receive(survivor, 7)  # 3 (and 4, if it was queued there) claimed
    assert sorted(done_here) == [3, 4, 5, 6, 7, 8, 9]
    assert sorted(done_there + done_here) == list(range(10))  # each job exactly once
    assert pending_ids(raw, backend.key(channel_name), "workers") == []


# -- messages gone before they were processed ---------------------------------------------------


async def test_messages_trimmed_before_the_group_read_them_are_reported(
    redis_url: str, channel_name: str, raw: redis.Redis
) -> None:
    reported: list[ChannelError] = []
    backend = RedisBackend(redis_url, maxlen=10, on_error=reported.append)
    async with Channel[int](channel_name, backend=backend) as channel:
        first = await channel.subscribe(group="g", buffer_size=1)
        await channel.publish(-1)
        with anyio.fail_after(10):
            last_read = await first.receive()
        first.unsubscribe()  # the group reads nothing more until the next member comes
        for number in range(500):  # "MAXLEN ~ 10" trims whole nodes of 100 entries
            await channel.publish(number)
        late = await channel.subscribe(group="g")
        kept: list[Message[int]] = []
        with anyio.fail_after(10):
            while not kept or kept[-1].data != 499:
                kept.append(await late.receive())
    numbers = [message.data for message in kept]
    assert 1 < len(numbers) < 500
    assert numbers == list(range(numbers[0], 500))  # the newest ones, in order, none twice
    assert channel.statistics().gaps == 1
    [gap] = reported
    assert isinstance(gap, ChannelGapError)
    assert (gap.after, gap.resumed_at) == (last_read.id, kept[0].id)
    version = int(str(raw.info("server")["redis_version"]).split(".")[0])
    assert gap.lost == (500 - len(numbers) if version >= 7 else None)  # Redis 7 counts them
    assert gap.reason == "trimmed (by a MAXLEN or XTRIM) before any member of group 'g' read them"


@pytest.mark.parametrize("heir", ["another", "doomed"])
async def test_unacknowledged_messages_trimmed_meanwhile_are_reported_one_by_one(
    redis_url: str, channel_name: str, raw: redis.Redis, heir: str
) -> None:
    """Another member claims them (``heir="another"``), or the same one restarted reads them.

    Two of three are deleted: the last one read stays, so that nothing else looks like a gap.
    """
    reported: list[ChannelError] = []
    all_reported = anyio.Event()

    def report(error: ChannelError) -> None:
        reported.append(error)
        if len(reported) == 2:
            all_reported.set()

    key = RedisBackend(redis_url).key(channel_name)
    async with Channel[int](channel_name, backend=RedisBackend(redis_url)) as channel:
        for number in range(3):
            await channel.publish(number)
        doomed = await channel.subscribe(group="g", consumer="doomed", since="0")
        assert await receive(doomed, 1) == [0]  # one read took all three
        ids = pending_ids(raw, key, "g")
    raw.xdel(key, *ids[:2])
    backend = RedisBackend(redis_url, claim_idle=0.2, on_error=report)
    async with Channel[int](channel_name, backend=backend) as channel:
        member = await channel.subscribe(group="g", consumer=heir)
        await channel.publish(3)
        async with member:
            assert sorted(await receive(member, 2)) == [2, 3]
        with anyio.fail_after(10):
            await all_reported.wait()
        assert channel.statistics().gaps == channel.statistics().lost == 2
    assert len(ids) == 3
    for gap, gone in zip(reported, ids[:2], strict=True):
        assert isinstance(gap, ChannelGapError)
        assert (gap.lost, gap.resumed_at) == (1, None)
        assert id_key(gap.after) < id_key(gone)  # the one message right after `after`
        assert "given to a member of group 'g' and trimmed (or deleted)" in gap.reason
    assert pending_ids(raw, key, "g") == []  # acknowledged: never reported again
