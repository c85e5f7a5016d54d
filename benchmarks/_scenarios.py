"""The scenarios of the suite, in the order they run, and what each one measures."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _emit, _fanout, _routing, _typed

if TYPE_CHECKING:
    from ._harness import Contender
    from ._profile import Profile

#: Scenario name -> what one operation is.
SCENARIOS = {
    "emit-async": "one emit to N async def handlers, awaited until they all ran",
    "emit-sync": "one emit to one plain handler",
    "emit-typed": "one emit of an event class's instance to one plain handler on the class",
    "routing-emitter": "one emit, one matching pattern among S non-matching ones",
    "routing-channel": "one publish and receive, one matching subscriber among S others",
    "fanout": "one message published to every subscriber, each draining in its own task",
    "memory": "bytes per registered handler, per subscription, per queued message",
}


def timed_contenders(profile: Profile) -> list[Contender]:
    """Every contender of the timed scenarios (all but ``memory``), sized by *profile*."""
    return [
        *_emit.contenders(profile),
        *_typed.contenders(profile),
        *_routing.contenders(profile),
        *_fanout.contenders(profile),
    ]
