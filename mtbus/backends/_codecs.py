"""How a backend that leaves the process turns payloads into bytes and back."""

from __future__ import annotations

import json
import pickle
import warnings
from contextlib import suppress
from typing import Any, Protocol


class UnsafeCodecWarning(UserWarning):
    """A codec was made whose decoding runs code chosen by whoever wrote the bytes.

    :class:`UnsafePickleCodec` warns with it each time one is made. Silence it alone once
    the choice is deliberate: ``warnings.filterwarnings("ignore",
    category=UnsafeCodecWarning)`` (pytest: ``ignore::mtbus.backends.UnsafeCodecWarning``).
    """


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
    """MessagePack: compact, binary, carries ``bytes``; needs ``pip install 'mtbus[msgpack]'``.

    Only what every receiver can decode is sent: map keys must be ``str`` or ``bytes``
    (MessagePack's decoder refuses others), anything else is refused at publish time.
    """

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
        """The MessagePack bytes of *value*.

        :raises TypeError: if receivers could not decode them (a map key that is not a
            ``str`` or ``bytes``, named with where it is), or *value* holds what
            MessagePack cannot carry
        """
        packed: bytes = self._packb(value)
        # Decoding it again as receivers will is the exact test, and in C it costs less than
        # walking the value in Python; only a failure walks it, to name the key. raw=True
        # skips decoding the strings (packb wrote valid UTF-8), so it refuses the same keys
        # in about half the time.
        try:
            self._unpackb(packed, raw=True)
        except (ValueError, TypeError) as error:
            raise TypeError(_undecodable(value, error)) from error
        return packed

    def decode(self, data: bytes, /) -> Any:
        """The value of the MessagePack bytes *data*."""
        return self._unpackb(data)


def _undecodable(value: Any, error: Exception) -> str:
    """Why MessagePack receivers could not decode *value*: a bad map key, and where it is."""
    pending: list[tuple[Any, str]] = [(value, "value")]
    while pending:
        item, where = pending.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str | bytes):
                    return (
                        f"invalid map key {key!r} ({type(key).__name__}) in {where}: "
                        f"MessagePack receivers accept only str and bytes keys"
                    )
                pending.append((inner, f"{where}[{key!r}]"))
        elif isinstance(item, list | tuple):
            pending.extend((inner, f"{where}[{index}]") for index, inner in enumerate(item))
    return f"{value!r:.80} would not decode: {error}"


class UnsafePickleCodec:
    """pickle: any Python object, and a remote-code-execution hole for untrusted writers.

    Unpickling runs code chosen by whoever wrote the bytes, so anybody able to write to
    the Redis stream could run code in every subscriber. Receivers refuse pickled messages
    unless this codec is their own; use it only on a Redis that only trusted programs
    can write to. Making one warns (:class:`UnsafeCodecWarning`) each time.
    """

    name = "pickle"
    safe = False

    def __init__(self) -> None:
        warnings.warn(
            "UnsafePickleCodec: unpickling runs code chosen by whoever can write to the Redis "
            "stream, so anybody who can XADD to it can run code in every process that decodes "
            "with this codec; use it only on a Redis that only trusted programs can write to",
            UnsafeCodecWarning,
            stacklevel=2,
        )

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
