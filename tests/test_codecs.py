"""Codecs, and what a channel is given to carry its messages: no Redis server needed.

Codecs over a real server (a JSON receiver reading MessagePack, pickled messages refused)
are in ``test_redis.py``.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from redis_server import free_port

from mtbus import Channel
from mtbus.backends import (
    JsonCodec,
    MemoryBackend,
    MsgpackCodec,
    RedisBackend,
    UnsafeCodecWarning,
    UnsafePickleCodec,
)

RISK = "unpickling runs code chosen by whoever can write to the Redis stream"


# -- UnsafePickleCodec -------------------------------------------------------------------


def test_unsafe_pickle_codec_warns_at_each_construction_naming_the_risk() -> None:
    with pytest.warns(UnsafeCodecWarning, match=RISK) as caught:
        [UnsafePickleCodec() for _ in range(2)]
    assert len(caught) == 2
    # Reported at the line that made it (stacklevel=2), so filters by module work.
    assert {warning.filename for warning in caught} == {__file__}


def test_the_unsafe_codec_warning_can_be_silenced_alone() -> None:
    assert issubclass(UnsafeCodecWarning, UserWarning)
    assert UnsafeCodecWarning.__module__ == "mtbus.backends"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=UnsafeCodecWarning)
        codec = UnsafePickleCodec()
        with pytest.raises(UserWarning, match="another"):
            warnings.warn("another", UserWarning, stacklevel=1)
    assert codec.decode(codec.encode({1, 2})) == {1, 2}


@pytest.mark.filterwarnings("ignore::mtbus.backends.UnsafeCodecWarning")
def test_unsafe_pickle_codec_refuses_what_pickle_cannot_carry() -> None:
    with pytest.raises(TypeError, match=r"lambda"):
        UnsafePickleCodec().encode(lambda: None)


# -- MsgpackCodec ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        {"blob": b"\x00\xff", "nested": [{"k": 1.5}, None, True]},
        {b"bytes": "keys are fine too"},
        "x" * 10_000,
        [],
    ],
)
def test_msgpack_round_trips_what_it_accepts(value: Any) -> None:
    codec = MsgpackCodec()
    assert codec.decode(codec.encode(value)) == value


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ({1: "one"}, r"invalid map key 1 \(int\) in value: "),
        (
            {"a": [{"ok": 1}, {None: 2}]},
            r"invalid map key None \(NoneType\) in value\['a'\]\[1\]: ",
        ),
        ([{"ok": {(1, 2): 3}}], r"invalid map key \(1, 2\) \(tuple\) in value\[0\]\['ok'\]: "),
        ({"flags": {True: "on"}}, r"invalid map key True \(bool\) in value\['flags'\]: "),
    ],
)
def test_msgpack_refuses_map_keys_receivers_cannot_decode(value: Any, named: str) -> None:
    with pytest.raises(TypeError, match=named + "MessagePack receivers accept only str and bytes"):
        MsgpackCodec().encode(value)


def test_msgpack_refuses_what_it_cannot_carry() -> None:
    with pytest.raises(TypeError, match=r"can not serialize 'set' object"):
        MsgpackCodec().encode({1, 2})


@pytest.mark.anyio
async def test_a_bad_map_key_fails_the_publish_before_anything_is_sent() -> None:
    # Nothing listens on this port: the refusal comes before any connection is tried.
    backend = RedisBackend(f"redis://127.0.0.1:{free_port()}/0", codec=MsgpackCodec())
    with pytest.raises(
        TypeError,
        match=r"cannot encode a message for channel 'orders' with MsgpackCodec\(\): "
        r"invalid map key 7 \(int\) in value\['by_id'\]",
    ):
        await backend.append("orders", {"by_id": {7: "x"}}, "order.placed")
    with pytest.raises(TypeError, match=r"invalid map key 2 \(int\) in value\['k'\]"):
        await backend.append("orders", "fine", "order.placed", metadata={"k": {2: "x"}})


# -- what a channel is given to carry its messages --------------------------------------


@pytest.mark.parametrize(
    ("backend", "shown"),
    [
        ("redis://:s3cret@host:6379/0", r"not str 'redis://:\*\*\*@host:6379/0'"),
        ("redis://ada:s3cret@host/0", r"not str 'redis://ada:\*\*\*@host/0'"),
        (b"redis://:s3cret@host:6379/0", r"not bytes$"),
        (JsonCodec(), r"not JsonCodec JsonCodec\(\)"),
        (RedisBackend, r"not the class RedisBackend itself"),
        (MemoryBackend, r"not the class MemoryBackend itself"),
    ],
)
def test_a_channel_refuses_what_is_not_a_backend_naming_it(backend: Any, shown: str) -> None:
    hint = r"backend must be a Backend such as RedisBackend\(url\) or MemoryBackend\(\), "
    with pytest.raises(TypeError, match=hint + shown) as refused:
        Channel[int]("orders", backend=backend)
    assert "s3cret" not in str(refused.value)
