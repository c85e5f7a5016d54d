"""Codecs, and what a channel is given to carry its messages: no Redis server needed.

Codecs over a real server (a JSON receiver reading MessagePack, pickled messages refused)
are in ``test_redis.py``.
"""

from __future__ import annotations

import datetime
import warnings
from dataclasses import dataclass, field
from typing import Any

import attrs
import msgspec
import pydantic
import pytest
from redis_server import free_port

from mtbus import Channel
from mtbus._core._typed import as_plain
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
    with pytest.raises(TypeError, match=r"set \{1, 2\} is not a plain value, dataclass"):
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


# -- dataclasses, attrs classes and pydantic models --------------------------------------


@dataclass
class Address:
    city: str
    lines: tuple[str, ...]


@dataclass
class Customer:
    name: str
    address: Address
    tags: list[str] = field(default_factory=list)


@attrs.define
class Payment:
    amount: float
    customer: Customer  # an attrs class holding a dataclass


class Refund(pydantic.BaseModel):
    order_id: int
    reason: str = pydantic.Field(alias="why")
    at: datetime.date


PLAIN_CUSTOMER = {
    "name": "Ada",
    "address": {"city": "Lyon", "lines": ["1 rue Neuve", "2e"]},
    "tags": ["vip"],
}
CUSTOMER = Customer("Ada", Address("Lyon", ("1 rue Neuve", "2e")), ["vip"])


@pytest.mark.parametrize("codec", [JsonCodec(), MsgpackCodec()], ids=["json", "msgpack"])
@pytest.mark.parametrize(
    ("value", "plain"),
    [
        pytest.param(CUSTOMER, PLAIN_CUSTOMER, id="nested-dataclass"),
        pytest.param(
            Payment(9.5, CUSTOMER), {"amount": 9.5, "customer": PLAIN_CUSTOMER}, id="attrs"
        ),
        pytest.param(
            Refund(order_id=1, why="late", at=datetime.date(2024, 5, 1)),
            {"order_id": 1, "why": "late", "at": "2024-05-01"},  # by alias, as JSON has it
            id="pydantic",
        ),
        pytest.param(
            {"batch": [CUSTOMER, {"inner": (Address("Oslo", ()),)}]},
            {"batch": [PLAIN_CUSTOMER, {"inner": [{"city": "Oslo", "lines": []}]}]},
            id="inside-plain-values",
        ),
    ],
)
def test_codecs_carry_instances_as_maps_of_their_fields(
    codec: JsonCodec | MsgpackCodec, value: object, plain: object
) -> None:
    assert codec.decode(codec.encode(value)) == plain


def test_json_writes_instances_as_json_objects() -> None:
    assert (
        JsonCodec().encode(Address("Zürich", ("a",))) == '{"city":"Zürich","lines":["a"]}'.encode()
    )


@pytest.mark.parametrize("codec", [JsonCodec(), MsgpackCodec()], ids=["json", "msgpack"])
def test_codecs_name_what_an_instance_holds_that_they_cannot_carry(
    codec: JsonCodec | MsgpackCodec,
) -> None:
    with pytest.raises(TypeError, match=r"set \{1\} is not a plain value, dataclass"):
        codec.encode(Customer("Ada", Address("Lyon", ()), [{1}]))  # type: ignore[list-item]


def test_msgpack_names_a_bad_map_key_inside_an_instance() -> None:
    @dataclass
    class Counts:
        by_id: dict[int, int]

    with pytest.raises(TypeError, match=r"invalid map key 7 \(int\) in value\['by_id'\]"):
        MsgpackCodec().encode(Counts({7: 1}))


def test_msgspec_structs_travel_as_maps_too() -> None:
    class Point(msgspec.Struct, rename="camel"):
        x_value: int
        y_value: int

    assert JsonCodec().decode(JsonCodec().encode([Point(1, 2)])) == [{"xValue": 1, "yValue": 2}]


# -- as_plain: what the SSE helper sends -------------------------------------------------


def test_as_plain_turns_instances_into_plain_values_at_any_depth() -> None:
    assert as_plain([CUSTOMER, (1, "two")]) == [PLAIN_CUSTOMER, [1, "two"]]
    assert as_plain(Payment(1.5, CUSTOMER)) == {"amount": 1.5, "customer": PLAIN_CUSTOMER}


def test_as_plain_leaves_plain_values_as_they_are() -> None:
    value = {"a": [1, 2.5, "x", None, True], "b": {"c": []}}
    assert as_plain(value) is value
    assert as_plain("text") == "text"
    assert as_plain(None) is None


def test_as_plain_refuses_what_is_not_plain_naming_it() -> None:
    with pytest.raises(TypeError, match=r"datetime datetime\.datetime\(2024, 1, 1, 0, 0\) is not"):
        as_plain({"at": datetime.datetime(2024, 1, 1)})
