"""How a backend that leaves the process turns payloads into bytes and back.

The safe codecs carry plain values (what JSON has, and ``bytes`` for MessagePack), and
dataclass, attrs and msgspec instances and pydantic models as maps of their fields, so any
receiver, in any language, can read them. A typed channel's receivers get instances back:
:class:`TypedPayloads` rebuilds them from the decoded maps, whatever codec carried them.
"""

from __future__ import annotations

import json
import pickle
import warnings
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Protocol

from .._core._typed import class_named, model_kind, plain_fields
from ._streams import TOPICS_REMEMBERED

if TYPE_CHECKING:
    from collections.abc import Callable


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

    Carries ``dict``/``list``/``str``/numbers/``bool``/``None``, and dataclass, attrs and
    msgspec instances and pydantic models as objects of their fields, at any depth;
    anything else is refused at publish time. Tuples arrive as lists, and the instances as
    dicts (a typed channel rebuilds them).
    """

    name = "json"
    safe = True

    def __init__(self) -> None:
        # Built once: json.dumps with options builds a new encoder on every call.
        # plain_fields is called only for what JSON has no type for: plain values cost
        # nothing more.
        self._encode = json.JSONEncoder(
            ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=plain_fields
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

    Carries what :class:`JsonCodec` does, and ``bytes``. Only what every receiver can
    decode is sent: map keys must be ``str`` or ``bytes`` (MessagePack's decoder refuses
    others), anything else is refused at publish time.
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
        packed: bytes = self._packb(value, default=plain_fields)
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
        else:
            with suppress(TypeError):  # a dataclass, say: its fields are a map
                pending.append((plain_fields(item), where))
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


class TypedPayloads:
    """Rebuilds a typed channel's payloads from the plain values its codec decoded.

    A message becomes an instance of the class among *base* and its subclasses whose event
    name is the message's topic (see :func:`~mtbus.event_name`), else of *base* itself: the
    class is found once per topic. Dataclasses, attrs classes and msgspec ``Struct`` types
    are rebuilt by ``msgspec.convert`` (nested ones too, every field's type checked, unknown
    fields ignored); pydantic models by their ``model_validate``, nested in a dataclass too.

    Called with ``(topic, value)``; raises :exc:`ValueError` naming the class when *value*
    is not one of its instances' fields (a backend counts the message as undecodable).

    :param base: the channel's type
    :raises TypeError: if *base* is not one of the kinds above
    :raises ModuleNotFoundError: if *base* needs msgspec (it is no pydantic model) and it
        is not installed
    """

    __slots__ = ("_base", "_by_class", "_by_topic")

    def __init__(self, base: type[Any]) -> None:
        self._base = base
        self._by_class: dict[type[Any], Callable[[Any], Any]] = {base: _rebuilder(base)}
        self._by_topic: dict[str | None, Callable[[Any], Any]] = {}

    def __repr__(self) -> str:
        return f"TypedPayloads({self._base.__qualname__})"

    def __call__(self, topic: str | None, value: Any) -> Any:
        """An instance of the class *topic* names (or the base class) made of *value*."""
        try:
            rebuild = self._by_topic[topic]
        except KeyError:
            rebuild = self._find(topic)
        return rebuild(value)

    def _find(self, topic: str | None) -> Callable[[Any], Any]:
        found = None if topic is None else class_named(self._base, topic)
        kind = self._base if found is None else found
        rebuild = self._by_class.get(kind)
        if rebuild is None:
            try:
                rebuild = self._by_class[kind] = _rebuilder(kind)
            except (TypeError, ModuleNotFoundError):  # a subclass of another make: the base
                rebuild = self._by_class[self._base]
        by_topic = self._by_topic
        if len(by_topic) >= TOPICS_REMEMBERED:  # topics come from the stream: bounded
            by_topic.clear()
        by_topic[topic] = rebuild
        return rebuild


def _rebuilder(kind: type[Any]) -> Callable[[Any], Any]:
    """How to make an instance of *kind* of the plain values of its fields."""
    name = kind.__qualname__
    found = model_kind(kind)
    if found == "pydantic":
        validate = kind.model_validate

        def rebuild_model(value: Any) -> Any:
            try:
                return validate(value)
            except Exception as error:  # a ValidationError, or a validator's own
                raise ValueError(f"payload is not a valid {name}: {error}") from error

        return rebuild_model
    if found is None:
        raise TypeError(
            f"{name} cannot be rebuilt from a message: a typed channel over a server carries "
            f"a dataclass, an attrs class, a pydantic model or a msgspec Struct"
        )
    try:
        import msgspec
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            f"a typed channel over a server needs the msgspec package to rebuild {name} "
            f"from its messages. Install it with: pip install 'mtbus[msgspec]'"
        ) from error
    convert = msgspec.convert

    def rebuild(value: Any) -> Any:
        try:
            return convert(value, kind, dec_hook=_nested_model)
        except Exception as error:  # a ValidationError, or a nested model's, or __post_init__'s
            raise ValueError(f"payload is not a valid {name}: {error}") from error

    return rebuild


def _nested_model(kind: type[Any], value: Any) -> Any:
    """msgspec's hook for the types it does not know: pydantic models (in a dataclass, say)."""
    if model_kind(kind) == "pydantic":
        return kind.model_validate(value)
    raise NotImplementedError(f"cannot rebuild a {kind.__qualname__}")
