"""Checks of the arguments public entry points share: each error names the bad value."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def check_count(
    value: object, what: str, minimum: int, *, maximum: int | None = None, optional: bool = False
) -> int:
    """Return *value* if it is an ``int`` (not a ``bool``) of at least *minimum*, else raise.

    :param maximum: the largest value allowed, if there is one
    :param optional: the caller also accepts ``None`` (checked by the caller); the type
        error says so
    """
    if isinstance(value, bool) or not isinstance(value, int):
        expected = "an int or None" if optional else "an int"
        raise TypeError(f"{what} must be {expected}, not {type(value).__name__}: {value!r}")
    if value < minimum:
        raise ValueError(f"invalid {what} {value!r}: must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise ValueError(f"invalid {what} {value!r}: must be <= {maximum}")
    return value


def check_seconds(value: object, what: str, *, positive: bool = False) -> float:
    """Return *value* as a float if it is a finite, non-negative number of seconds, else raise.

    :param positive: zero is not allowed either
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f"{what} must be a number of seconds, not {type(value).__name__}: {value!r}"
        )
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"invalid {what} {value!r}: must be a finite number {bound}")
    return float(value)


def check_metadata(metadata: object) -> Mapping[str, Any]:
    """Return *metadata* if it is a mapping, else raise ``TypeError``."""
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a mapping, not {type(metadata).__name__}: {metadata!r}")
    return metadata
