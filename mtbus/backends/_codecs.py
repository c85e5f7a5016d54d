"""How a backend that leaves the process turns payloads into bytes and back."""

from __future__ import annotations

import json
import pickle
from contextlib import suppress
from typing import Any, Protocol


class Codec(Protocol):
    """Turns payloads into bytes and back; its :attr:`name` travels with every message.

    :ivar name: short and unique, stored with each message so receivers pick the right codec
    :ivar safe: whether decoding untrusted bytes is harmless; a receiver only decodes
        messages of an unsafe codec if that codec is its own (it chose it explicitly)
    """

    name: str
    safe: bool

    def encode(self, value: Any, /) -> bytes:
        """The bytes for *value*; raise :exc:`TypeError` or :exc:`ValueError` if it cannot be."""
        ...

    def decode(self, data: bytes, /) -> Any:
        """The value *data* was made from."""
        ...


class JsonCodec:
    """JSON (UTF-8, compact): readable with ``redis-cli``, and by programs in any language.

    Tuples arrive as lists, and only ``dict``/``list``/``str``/numbers/``bool``/``None``
    can be sent; anything else is refused at publish time.
    """

    name = "json"
    safe = True

    def __init__(self) -> None:
        # Built once: json.dumps with options builds a new encoder on every call.
        self._encode = json.JSONEncoder(
            ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode
        self._decode = json.JSONDecoder().decode

    def __repr__(self) -> str:
        return "JsonCodec()"

    def encode(self, value: Any, /) -> bytes:
        """JSON text of *value*, as UTF-8."""
        return self._encode(value).encode()

    def decode(self, data: bytes, /) -> Any:
        """The value of the JSON text *data* (UTF-8, as :meth:`encode` writes it)."""
        return self._decode(data.decode())


class MsgpackCodec:
    """MessagePack: compact, binary, carries ``bytes``; needs ``pip install 'mtbus[msgpack]'``."""

    name = "msgpack"
    safe = True

    def __init__(self) -> None:
        try:
            import msgpack
        except ModuleNotFoundError as error:
            raise ModuleNotFoundError(
                "MsgpackCodec needs the msgpack package. "
                "Install it with: pip install 'mtbus[msgpack]'"
            ) from error
        self._packb = msgpack.packb
        self._unpackb = msgpack.unpackb

    def __repr__(self) -> str:
        return "MsgpackCodec()"

    def encode(self, value: Any, /) -> bytes:
        """The MessagePack bytes of *value*."""
        packed: bytes = self._packb(value)
        return packed

    def decode(self, data: bytes, /) -> Any:
        """The value of the MessagePack bytes *data*."""
        return self._unpackb(data)


class UnsafePickleCodec:
    """pickle: any Python object, and a remote-code-execution hole for untrusted writers.

    Unpickling runs code chosen by whoever wrote the bytes, so anybody able to write to
    the Redis stream could run code in every subscriber. Receivers refuse pickled messages
    unless this codec is their own; use it only on a Redis that only trusted programs
    can write to.
    """

    name = "pickle"
    safe = False

    def __repr__(self) -> str:
        return "UnsafePickleCodec()"

    def encode(self, value: Any, /) -> bytes:
        """The pickle of *value*."""
        try:
            return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, AttributeError) as error:
            raise TypeError(str(error)) from error

    def decode(self, data: bytes, /) -> Any:
        """The object *data* is a pickle of (runs the writer's code: see the class doc)."""
        return pickle.loads(data)


def safe_codecs() -> dict[str, Codec]:
    """The codecs every receiver may decode: JSON, and MessagePack if it is installed."""
    codecs: dict[str, Codec] = {"json": JsonCodec()}
    with suppress(ModuleNotFoundError):
        codecs["msgpack"] = MsgpackCodec()
    return codecs
