"""The event registry holds (`python -m services.registry check`): each subject has its owner as
its one publisher, what is consumed or followed is published where it is read, and a durable
consumer's name is one process's alone."""

from __future__ import annotations

from runtime.bus.events import stream_name
from runtime.natsauth import Consumes, Participant
from services import registry

UPDATED = "smartcity.exchange.dataset.updated"


def test_the_platforms_declaration_holds() -> None:
    assert registry.check(registry.participants()) == []


def test_each_broken_rule_is_named() -> None:
    stream = stream_name("exchange")
    everyone = [
        Participant(name="exchange", publishes=(UPDATED,)),
        Participant(name="catalog", publishes=(UPDATED,)),
        Participant(
            name="keys",
            consumes=(Consumes(stream, "audit", (UPDATED,)),),
            follows=("smartcity.identity.nobody.said",),
        ),
        Participant(name="licences", consumes=(Consumes(stream, "audit", (UPDATED,)),)),
    ]
    problems = registry.check(everyone)
    assert f"catalog publishes {UPDATED}, which is not its own" in problems
    assert f"{UPDATED} has more than one publisher: ['catalog', 'exchange']" in problems
    assert "keys follows smartcity.identity.nobody.said, which nobody publishes" in problems
    assert f"{stream} consumer audit is both keys's and licences's" in problems
