"""The event registry: who publishes and who consumes each subject on the bus.

The subjects a service publishes through its outbox are declared beside their payloads in
proto/ (runtime.bus.contracts); the rest is read from every service's events module:

- what it publishes once per tenant (`TENANT_SUBJECTS`: a department's deliveries from the
  exchange, a partner's from the partners service), besides its audit records;
  and on core NATS without it (`SIGNALS`; identity's announcements that verifiers follow);
- the durable consumers it reads (`SUBSCRIPTIONS`; `CONSUMED` where a consumer is not a
  `Subscription`: the partners' fan-out and the partners' own stream);
- the core subjects it follows live (`FOLLOWED`), besides identity's announcements that every
  token verifier follows (the gateway follows those and nothing else).

Derived from it, and tested against it: the AsyncAPI document (proto/asyncapi.py); each
process's NATS permissions (`runtime.natsauth.permissions`), which `smartcity up` writes for the
embedded server and `python -m services.registry users` renders as deploy/nats/users.conf; and
the owner a consumer expects in an event's `ce-source`, the service its subject names (`check`
proves that every subject a service publishes through its outbox is named after it).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections import defaultdict
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from runtime import audit, config
from runtime.auth import TokenVerifier
from runtime.bus import contracts
from runtime.bus.consumer import Subscription
from runtime.bus.events import EventType, owner, stream_name
from runtime.natsauth import ANY_CONSUMER, Consumes, Participant, User, permissions, users_block

GATEWAY = "gateway"


def _events(service: str) -> ModuleType | None:
    """A service's events module; None for a service without one."""
    module_name = f"services.{service}.events"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # only the events module itself may be missing; a broken import inside it is a bug
        if exc.name not in (module_name, f"services.{service}"):
            raise
        return None


def _declared(service: str, name: str) -> tuple[Any, ...]:
    module = _events(service)
    return tuple(getattr(module, name, ())) if module is not None else ()


def published(service: str) -> tuple[EventType[Any], ...]:
    """The events a service publishes through its outbox, audit records aside: the subjects its
    events.proto declares (runtime.bus.contracts)."""
    return contracts.published(service)


def tenant_subjects(service: str) -> tuple[str, ...]:
    """Subjects a service publishes once per tenant, a wildcard for the tenant's token
    (`TENANT_SUBJECTS`: a department's deliveries, a partner's)."""
    return _declared(service, "TENANT_SUBJECTS")


async def _no_jwks() -> str:
    return '{"keys": []}'


def verifier_signals() -> tuple[str, ...]:
    """What every token verifier follows: the subjects of `TokenVerifier.signal_handlers`."""
    return tuple(sorted(TokenVerifier(_no_jwks, issuer="").signal_handlers()))


def consumes(subscription: Subscription[Any]) -> Consumes:
    et = subscription.event_type
    return Consumes(stream_name(et.service), subscription.durable, (et.subject,))


def signals(service: str) -> tuple[str, ...]:
    """Core subjects a service publishes without its outbox (`SIGNALS`). Identity's include
    whatever every verifier follows that it does not publish through its outbox: its
    announcements are identity's, however they travel."""
    declared: tuple[str, ...] = _declared(service, "SIGNALS")
    if service == "identity":
        outbox = {e.subject for e in published(service)}
        declared += tuple(s for s in verifier_signals() if s not in outbox)
    return declared


def participant(service: str) -> Participant:
    """A service as its events module declares it."""
    outbox = [e.subject for e in published(service)] + [audit.event_type(service).subject]
    subscriptions: tuple[Subscription[Any], ...] = _declared(service, "SUBSCRIPTIONS")
    return Participant(
        name=service,
        publishes=(*outbox, *tenant_subjects(service), *signals(service)),
        consumes=(*(consumes(s) for s in subscriptions), *_declared(service, "CONSUMED")),
        follows=(*verifier_signals(), *_declared(service, "FOLLOWED")),
    )


def participants() -> tuple[Participant, ...]:
    """Every process on the bus: the services, then the gateway."""
    return (
        *(participant(s) for s in config.SERVICES),
        Participant(name=GATEWAY, follows=verifier_signals()),
    )


def check(everyone: Sequence[Participant]) -> list[str]:
    """What does not hold in the declaration, in words (empty: it holds)."""
    publishers: dict[str, list[str]] = defaultdict(list)
    for p in everyone:
        for subject in p.publishes:
            publishers[subject].append(p.name)
    published_by = {s: n[0] for s, n in publishers.items()}
    return [
        *_publishing_problems(everyone, publishers),
        *(problem for p in everyone for problem in _consuming_problems(p, published_by)),
        *_durable_clashes(everyone),
    ]


def _publishing_problems(
    everyone: Sequence[Participant], publishers: dict[str, list[str]]
) -> list[str]:
    """Each subject published by its owner alone (core signals aside)."""
    problems: list[str] = []
    for p in everyone:
        core = set(signals(p.name)) if p.name in config.SERVICES else set()
        for subject in set(p.publishes) - core:
            if owner(subject) != p.name:
                problems.append(f"{p.name} publishes {subject}, which is not its own")
    for subject, names in publishers.items():
        if len(names) > 1:
            problems.append(f"{subject} has more than one publisher: {sorted(names)}")
    return problems


def _consuming_problems(p: Participant, published_by: dict[str, str]) -> list[str]:
    """What one process reads and follows is published, where it reads it."""
    problems: list[str] = []
    for c in p.consumes:
        if c.durable == ANY_CONSUMER:
            if c.stream != stream_name(p.name):
                problems.append(f"{p.name} manages consumers of {c.stream}, not its own")
            continue
        for subject in c.subjects:
            if stream_name(published_by.get(subject, "")) != c.stream:
                problems.append(
                    f"{p.name} consumes {subject} on {c.stream}, where nobody publishes it"
                )
    for subject in p.follows:
        if subject not in published_by:
            problems.append(f"{p.name} follows {subject}, which nobody publishes")
    return problems


def _durable_clashes(everyone: Sequence[Participant]) -> list[str]:
    """A durable consumer's name is one process's alone on its stream."""
    problems: list[str] = []
    durables: dict[tuple[str, str], str] = {}
    for p in everyone:
        for c in p.consumes:
            if c.durable == ANY_CONSUMER:
                continue
            taken = durables.setdefault((c.stream, c.durable), p.name)
            if taken != p.name:
                problems.append(f"{c.stream} consumer {c.durable} is both {taken}'s and {p.name}'s")
    return problems


# --- the deployment's users file ----------------------------------------------------------------


def nkey_variable(name: str) -> str:
    """The NATS server's environment variable holding a process's NKEY public key."""
    return f"{name.upper()}_NKEY"


def seed_variable(name: str) -> str:
    """The variable an operator keeps a process's seed in (set as its SMARTCITY_NATS_SEED)."""
    return f"{name.upper()}_NATS_SEED"


def deployment_users() -> str:
    """deploy/nats/users.conf: every process's permissions, its public key from the server's
    environment (an unset variable stops the server: nobody signs in with a blank key)."""
    users = [User(p.name, f"${nkey_variable(p.name)}", permissions(p)) for p in participants()]
    return (
        "# Generated from the event registry (services/registry.py): do not edit; regenerate with\n"
        "#   python -m services.registry users > deploy/nats/users.conf\n"
        "# and copy it to deploy/nats/cluster/users.conf. Each process signs in with its own NKEY\n"
        "# (SMARTCITY_NATS_SEED); the server reads the public keys from its environment.\n"
        + users_block(users)
    )


def new_keys() -> str:
    """Fresh NKEYs for a deployment, as environment lines: each process's seed (its
    SMARTCITY_NATS_SEED) and the public key the NATS servers read."""
    from runtime.natsauth import new_identity

    lines = ["# NATS identities: keep the seeds secret; the public keys go to the NATS servers."]
    for p in participants():
        seed, public = new_identity()
        lines += [f"{seed_variable(p.name)}={seed}", f"{nkey_variable(p.name)}={public}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.registry",
        description="The bus's users for a deployment's NATS (deploy/README.md).",
    )
    parser.add_argument(
        "what",
        choices=("users", "keys", "check"),
        help="users: the users file (deploy/nats/users.conf); keys: fresh NKEYs for every "
        "process, as environment lines; check: the registry's consistency",
    )
    args = parser.parse_args(argv)
    if args.what == "users":
        sys.stdout.write(deployment_users())
    elif args.what == "keys":
        sys.stdout.write(new_keys())
    else:
        problems = check(participants())
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
