"""Events as classes: the event name a class stands for.

A class used as an event (``emitter.on(OrderPlaced)``, ``emitter.emit(OrderPlaced(...))``)
is known everywhere else by a dotted name, so that wildcards, monitors on ``"#"``, channel
topics, Redis and the command line work with typed events as with named ones. The name is
the class's own ``__event_name__`` if it declares one (read from the class itself, not
inherited: a subclass is another event), else derived from the class name: words split
where the case changes, lower-cased, joined with dots (``OrderPlaced`` -> ``order.placed``,
``HTTPRequestFailed`` -> ``http.request.failed``, ``Order2Shipped`` -> ``order2.shipped``;
an underscore separates words too).

Pure functions of the class, computed when a handler is registered or a plan is built,
never per emit.

An event's payload leaves the process as plain values: :func:`as_plain` turns dataclass,
attrs and msgspec instances and pydantic models into dicts of their fields, and
:func:`plain_fields` does one level of that, for encoders that walk the rest themselves
(the JSON and MessagePack codecs). :func:`class_named` finds the class a name stands for
among a class and its subclasses, for receivers that rebuild typed payloads.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ._topics import validate_name

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")

#: The attribute a class declares its event name with.
NAME_ATTRIBUTE = "__event_name__"


def event_name(event_type: type[Any]) -> str:
    """The event name of an event class: its own ``__event_name__``, or derived from its name.

    :raises TypeError: if *event_type* is not a class, or is one that cannot stand for an
        event: a built-in type (``int``, ``dict``...), or a metaclass
    :raises ValueError: if the declared ``__event_name__`` is not a valid event name
    """
    check_event_class(event_type)
    declared = event_type.__dict__.get(NAME_ATTRIBUTE)
    if declared is None:
        return derived_name(event_type.__name__)
    if not isinstance(declared, str):
        raise TypeError(
            f"{event_type.__qualname__}.{NAME_ATTRIBUTE} must be a str, "
            f"not {type(declared).__name__}: {declared!r}"
        )
    return validate_name(declared, f"{event_type.__qualname__}.{NAME_ATTRIBUTE}")


def check_event_class(event_type: object) -> None:
    """Refuse what cannot be an event class, saying what to write instead.

    :raises TypeError: if *event_type* is not a class, is a built-in type, or a metaclass
        (an emit given a class rather than an instance of it gets here)
    """
    if not isinstance(event_type, type):
        raise TypeError(
            f"an event class must be a class, not {type(event_type).__name__}: {event_type!r}"
        )
    if issubclass(event_type, type):
        raise TypeError(
            f"{event_type.__qualname__} is a metaclass, not an event class: "
            f"emit an instance of an event class, not the class itself"
        )
    if event_type.__module__ == "builtins":
        raise TypeError(
            f"{event_type.__name__} is a built-in type, not an event class: name the event "
            f"with a str, or define a class for it"
        )


def check_event_instance(value: object) -> None:
    """Refuse, for a typed emit, what is no instance of an event class.

    :raises TypeError: if *value* is a class (not an instance of it), or an instance of a
        built-in type (not a ``str``: an event name must be one)
    """
    if isinstance(value, type):
        name = value.__qualname__
        raise TypeError(f"emit({name}) is given the class itself: emit an instance, {name}(...)")
    if type(value).__module__ == "builtins":
        raise TypeError(
            f"event name must be a str or an instance of an event class, "
            f"not {type(value).__name__}: {value!r:.80}"
        )


def data_with_instance(instance: object, data: object) -> TypeError:
    """What an emit of an event class's instance says when it is given data as well."""
    return TypeError(
        f"an emit of a {type(instance).__qualname__} instance takes no data (the instance "
        f"is the event's data), got data={data!r:.80}"
    )


def derived_name(class_name: str) -> str:
    """The event name derived from a class name (see the module's doc).

    :raises ValueError: if the class name has no letter or digit to make a name of
    """
    words: list[str] = []
    word = ""
    for index, char in enumerate(class_name):
        if char == "_":
            if word:
                words.append(word)
            word = ""
            continue
        if word and char.isupper():
            previous = class_name[index - 1]
            following = class_name[index + 1 : index + 2]
            # A capital starts a word after a lower-case letter or digit (orderPlaced,
            # Order2Placed), and ends an acronym when a lower-case letter follows (HTTPRequest).
            if not previous.isupper() or following.islower():
                words.append(word)
                word = ""
        word += char
    if word:
        words.append(word)
    if not words:
        raise ValueError(f"cannot derive an event name from the class name {class_name!r}")
    return validate_name(".".join(words).lower(), f"event name derived from {class_name!r}")


def class_named(base: type[T], name: str) -> type[T] | None:
    """The class among *base* and its subclasses (the whole tree, in definition order)
    whose event name is *name*, or ``None``.

    A subclass whose event name cannot be had (a bad ``__event_name__``) is passed over.
    Walks the tree each call: callers cache the answer per name.
    """
    pending: list[type[Any]] = [base]
    seen: set[type[Any]] = set()
    while pending:
        candidate = pending.pop(0)
        if candidate in seen:  # reached twice through multiple inheritance
            continue
        seen.add(candidate)
        try:
            if event_name(candidate) == name:
                return candidate
        except (TypeError, ValueError):
            pass
        pending.extend(candidate.__subclasses__())
    return None


# -- payloads as plain values -------------------------------------------------------------

#: The libraries whose model classes a payload may be an instance of.
ModelKind = Literal["dataclass", "attrs", "pydantic", "msgspec"]

#: The scalars JSON carries as they are (their subclasses too: a str Enum is a str).
_SCALARS = (str, int, float)

#: How each class's instances become a dict of their fields, found once per class.
_field_readers: dict[type[Any], Callable[[Any], dict[str, Any]]] = {}


def plain_fields(value: object) -> dict[str, Any]:
    """One level of :func:`as_plain`: the fields of a dataclass, attrs or msgspec instance,
    or a pydantic model, as a ``dict`` by name.

    A dataclass's or attrs class's field values are left as they are (a codec's encoder
    calls this again for each one it cannot carry); a pydantic model's are plain already
    (``model_dump(mode="json", by_alias=True)``, which ``model_validate`` reads back), as
    are a msgspec ``Struct``'s (``msgspec.to_builtins``). This is the ``default`` hook of
    :class:`~mtbus.backends.JsonCodec` and :class:`~mtbus.backends.MsgpackCodec`.

    :raises TypeError: if *value* is none of these
    """
    kind = type(value)
    try:
        reader = _field_readers[kind]
    except KeyError:
        found = _field_reader(kind)
        if found is None:
            raise TypeError(
                f"{kind.__qualname__} {value!r:.80} is not a plain value, dataclass, "
                f"attrs class, pydantic model or msgspec Struct"
            ) from None
        reader = _field_readers[kind] = found
    return reader(value)


def as_plain(value: object) -> object:
    """*value* as plain JSON-able values: dataclass, attrs and msgspec instances and
    pydantic models become dicts of their fields (see :func:`plain_fields`), at any depth;
    tuples become lists.

    ``dict``, ``list``, ``str``, ``int``, ``float``, ``bool`` and ``None`` are left as they
    are: a container is returned itself when nothing in it had to change, else a new one.

    :raises TypeError: if *value* holds anything else (a ``set``, a ``datetime``...),
        naming it
    """
    if value is None or isinstance(value, _SCALARS):  # bool is an int
        return value
    if isinstance(value, dict):
        changed = False
        items: list[tuple[Any, object]] = []
        for key, inner in value.items():
            plain = as_plain(inner)
            changed = changed or plain is not inner
            items.append((key, plain))
        return dict(items) if changed else value
    if isinstance(value, list | tuple):
        plain_items = [as_plain(inner) for inner in value]
        if isinstance(value, list) and all(
            plain is inner for plain, inner in zip(plain_items, value, strict=True)
        ):
            return value
        return plain_items
    return as_plain(plain_fields(value))


def model_kind(kind: type[Any]) -> ModelKind | None:
    """Which library's model class *kind* is, or ``None`` if it is none of them.

    Recognised by the attributes the libraries set (their modules are not imported for it).
    """
    if is_dataclass(kind):
        return "dataclass"
    if hasattr(kind, "__attrs_attrs__"):
        return "attrs"
    if hasattr(kind, "__pydantic_validator__") and callable(getattr(kind, "model_validate", None)):
        return "pydantic"  # version 2
    if hasattr(kind, "__struct_fields__"):
        return "msgspec"
    return None


def _field_reader(kind: type[Any]) -> Callable[[Any], dict[str, Any]] | None:
    """How to read the fields of *kind*'s instances, or ``None`` if it has no fields to read."""
    found = model_kind(kind)
    if found == "dataclass":
        names = tuple(field.name for field in fields(kind))
    elif found == "attrs":
        names = tuple(attribute.name for attribute in kind.__attrs_attrs__)
    elif found == "pydantic":
        return lambda value: value.model_dump(mode="json", by_alias=True)
    elif found == "msgspec":
        import msgspec  # the class comes from it, so it is there

        return msgspec.to_builtins
    else:
        return None
    return lambda value: {name: getattr(value, name) for name in names}
