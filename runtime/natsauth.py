"""NATS identities and what each may do, enforced by the server itself.

Every process of the platform signs in with an NKEY of its own (`SMARTCITY_NATS_SEED`). Its
permissions are derived (`permissions`) from what the event registry (`services/registry.py`)
declares it publishes and consumes: it publishes only the subjects it owns, creates and updates
only its own stream, reads only the durable consumers it declares (created filtered to their
subjects), hears only the core subjects it follows, and gets replies only on its own inbox
prefix (`_INBOX.<name>`). Nobody may delete or purge a stream. A partner signs in with its own
NKEY too, limited to its own consumers (`services/partners/domain.py`).

The embedded mode (`smartcity up`) keeps the users in `users.json` under the data directory's
`nats/` and renders them into the server's `authorization` block (`AUTH_FILE`): the launcher
writes the platform's (`ensure_embedded`, which makes each process's seed the first time, under
`nats/identities/`), the partners service the partners' (`update`), and tells the server to
reload. A deployment's own NATS includes `deploy/nats/users.conf`, rendered from the same
registry with the public keys left to the server's environment (`python -m services.registry`).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import nkeys
import orjson

from runtime import logs
from runtime.bus.events import stream_name

log = logs.get(__name__)

AUTH_FILE = "partners-auth.conf"  # the name the embedded server's configuration includes
USERS_FILE = "users.json"
IDENTITIES_DIR = "identities"
# Any consumer of the participant's own stream (the partners service: its partners' durables,
# webhooks and server-sent events), rather than one named consumer.
ANY_CONSUMER = "*"
_API = "$JS.API"
_HEADER = "# Written by the platform (runtime/natsauth.py): do not edit.\n"


@dataclass(frozen=True)
class Consumes:
    """A JetStream consumer a participant reads: `durable` on `stream`, filtered to `subjects`
    (one subject: the server also checks the filter the consumer is created with)."""

    stream: str
    durable: str
    subjects: tuple[str, ...]


@dataclass(frozen=True)
class Participant:
    """A process on the bus: what it publishes (subjects it owns; its stream is
    `stream_name(name)`), the consumers it reads, and the core subjects it follows."""

    name: str
    publishes: tuple[str, ...] = ()
    consumes: tuple[Consumes, ...] = ()
    follows: tuple[str, ...] = ()


@dataclass(frozen=True)
class User:
    """A NATS user: its NKEY public key (or `$VARIABLE`, read from the server's environment),
    its permissions, and who it is (a comment in the file)."""

    name: str
    nkey: str
    permissions: Mapping[str, Any]


def inbox_prefix(name: str) -> str:
    """A participant's own inbox: replies to its requests (JetStream's acks and pulled messages
    included) reach it alone. Partners' inboxes (`_INBOX_<client>`) never share its first token."""
    return f"_INBOX.{name}"


def ack_subjects(stream: str, consumer: str) -> list[str]:
    """Where a consumer's messages are acknowledged: `$JS.ACK.<stream>.<consumer>...`, and the
    newer form with a domain and an account hash before the stream (ADR-15)."""
    return [f"$JS.ACK.{stream}.{consumer}.>", f"$JS.ACK.*.*.{stream}.{consumer}.>"]


def consumer_rights(stream: str, consumer: str) -> list[str]:
    """Reading a named consumer: its info (lag), pulling from it, acknowledging."""
    return [
        f"{_API}.CONSUMER.INFO.{stream}.{consumer}",
        f"{_API}.CONSUMER.MSG.NEXT.{stream}.{consumer}",
        *ack_subjects(stream, consumer),
    ]


def permissions(participant: Participant) -> dict[str, Any]:
    """The participant's NATS permissions: everything it does not declare is refused."""
    publish: list[str] = list(participant.publishes)
    subscribe: list[str] = [f"{inbox_prefix(participant.name)}.>", *participant.follows]
    if participant.publishes:
        own = stream_name(participant.name)
        publish += [f"{_API}.STREAM.{verb}.{own}" for verb in ("INFO", "CREATE", "UPDATE")]
    for consumer in participant.consumes:
        stream = consumer.stream
        if consumer.durable == ANY_CONSUMER:
            if stream != stream_name(participant.name) or not participant.publishes:
                raise ValueError(f"{participant.name} may manage consumers of its own stream only")
            publish += [
                f"{_API}.CONSUMER.CREATE.{stream}.>",
                f"{_API}.CONSUMER.DURABLE.CREATE.{stream}.*",
                f"{_API}.CONSUMER.DELETE.{stream}.*",
                f"{_API}.CONSUMER.INFO.{stream}.*",
                f"{_API}.CONSUMER.MSG.NEXT.{stream}.*",
                f"$JS.ACK.{stream}.>",
                f"$JS.ACK.*.*.{stream}.>",
            ]
            continue
        create = f"{_API}.CONSUMER.CREATE.{stream}.{consumer.durable}"
        if len(consumer.subjects) == 1:
            create += f".{consumer.subjects[0]}"  # the server checks the filter against it
        # STREAM.INFO: a consumer waits for a stream its owner has not created yet
        publish += [f"{_API}.STREAM.INFO.{stream}", create]
        publish += consumer_rights(stream, consumer.durable)
    return {
        # an empty allow list would allow everything: a participant that publishes nothing is
        # denied everything instead
        "publish": {"allow": _unique(publish)} if publish else {"deny": [">"]},
        "subscribe": {"allow": _unique(subscribe)},
    }


def matches(pattern: str, subject: str) -> bool:
    """Whether a NATS subject pattern (`*` one token, `>` the rest) covers a subject, as the
    server matches permissions; a wildcard in `subject` is matched literally."""
    wanted, given = pattern.split("."), subject.split(".")
    for i, part in enumerate(wanted):
        if part == ">":
            return len(given) > i
        if i >= len(given) or (part != "*" and part != given[i]):
            return False
    return len(given) == len(wanted)


def allowed(rights: Mapping[str, Any], action: str, subject: str) -> bool:
    """Whether a user's NATS permissions let `action` ("publish" or "subscribe") on `subject`:
    allowed by a pattern (or by no allow list at all) and denied by none."""
    rules = rights.get(action, {})
    allow = rules.get("allow")
    granted = allow is None or any(matches(p, subject) for p in allow)
    return granted and not any(matches(p, subject) for p in rules.get("deny", []))


def _unique(subjects: Iterable[str]) -> list[str]:
    return sorted(set(subjects))


# --- tools of the embedded mode (never in deploy/) ----------------------------------------------

# Hears every platform event as it is published (the tests, an SRE at a laptop): publishes
# nothing, reads no consumer, and never hears a partner's deliveries.
OBSERVER = "observer"
# The benchmarks' raw JetStream baseline (bench/partners.py): its own subjects and stream only.
BENCH = "bench"
TOOLS: Mapping[str, Mapping[str, Any]] = {
    OBSERVER: {
        "publish": {"deny": [">"]},
        "subscribe": {
            "allow": ["smartcity.>", f"{inbox_prefix(OBSERVER)}.>"],
            "deny": ["smartcity.partners.delivery.>"],
        },
    },
    BENCH: {
        "publish": {
            "allow": [
                "bench.>",
                f"{_API}.STREAM.*.BENCH",
                f"{_API}.CONSUMER.*.BENCH.>",
                f"{_API}.CONSUMER.MSG.NEXT.BENCH.*",
                "$JS.ACK.BENCH.>",
            ]
        },
        "subscribe": {"allow": [f"{inbox_prefix(BENCH)}.>"]},
    },
}


# --- the users file ------------------------------------------------------------------------------


def users_block(users: Sequence[User], *, indent: str = "") -> str:
    """`users = [...]` of an authorization block, one user a line (deterministic)."""
    lines = [f"{indent}users = ["]
    for user in users:
        nkey = user.nkey if user.nkey.startswith("$") else orjson.dumps(user.nkey).decode()
        permissions = orjson.dumps(user.permissions, option=orjson.OPT_SORT_KEYS).decode()
        lines.append(f"{indent}  # {user.name}")
        lines.append(f"{indent}  {{nkey: {nkey}, permissions: {permissions}}}")
    lines.append(f"{indent}]")
    return "\n".join(lines) + "\n"


def authorization(users: Sequence[User]) -> str:
    """The embedded server's authorization block."""
    return _HEADER + "authorization {\n" + users_block(users, indent="  ") + "}\n"


def _state_path(auth_file: str) -> Path:
    return Path(auth_file).with_name(USERS_FILE)


def load_users(auth_file: str) -> dict[str, list[User]]:
    """The platform's and the partners' users, as `update` keeps them."""
    path = _state_path(auth_file)
    raw: dict[str, Any] = orjson.loads(path.read_bytes()) if path.exists() else {}
    return {part: [User(**u) for u in raw.get(part, [])] for part in ("platform", "partners")}


def update(
    auth_file: str,
    *,
    platform: Sequence[User] | None = None,
    partners: Sequence[User] | None = None,
) -> bool:
    """Replace the platform's or the partners' users (the other part is kept) and render the
    authorization block; False when the block already said the same (no reload needed)."""
    state = load_users(auth_file)
    if platform is not None:
        state["platform"] = list(platform)
    if partners is not None:
        state["partners"] = list(partners)
    # A key twice makes the whole file invalid (the server refuses to reload or start): a
    # partner that registered a platform identity's public key loses it, the platform keeps it.
    taken = {u.nkey for u in state["platform"]}
    for user in state["partners"]:
        if user.nkey in taken:
            log.warning("nats_user_dropped", user=user.name, reason="its key is already a user's")
    state["partners"] = [u for u in state["partners"] if u.nkey not in taken]
    as_json = {part: [u.__dict__ for u in users] for part, users in state.items()}
    _write_private(_state_path(auth_file), orjson.dumps(as_json, option=orjson.OPT_INDENT_2))
    return write(auth_file, authorization([*state["platform"], *state["partners"]]))


def platform_keys(auth_file: str) -> frozenset[str]:
    """The public keys of the platform's own users (its processes and tools)."""
    return frozenset(u.nkey for u in load_users(auth_file)["platform"])


def write(path: str, content: str) -> bool:
    """Replace the file atomically; False when it already says the same (no reload needed)."""
    target = Path(path)
    if target.exists() and target.read_text() == content:
        return False
    _write_private(target, content.encode())
    return True


def _write_private(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_suffix(target.suffix + ".tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(content)
    os.replace(staging, target)


def reload(pid_file: str) -> bool:
    """Ask the server to reload its configuration (SIGHUP); False when it is not ours to tell."""
    try:
        pid = int(Path(pid_file).read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError) as exc:
        log.warning("nats_reload_failed", error=type(exc).__name__)
        return False
    return True


# --- the embedded mode's identities --------------------------------------------------------------


def new_identity() -> tuple[str, str]:
    """A fresh user NKEY: (seed, public key)."""
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    return seed.decode(), public_key(seed.decode())


def public_key(seed: str) -> str:
    return str(nkeys.from_seed(bytearray(seed.encode())).public_key.decode())


def seed(store: Path, name: str) -> str:
    """The seed of an embedded identity ("" before `ensure_embedded` made it)."""
    path = store / IDENTITIES_DIR / f"{name}.nk"
    return path.read_text().strip() if path.exists() else ""


def ensure_embedded(store: Path, participants: Sequence[Participant]) -> None:
    """Each participant's and tool's identity (made once, kept under `store`), and the platform's
    users in the authorization file with the permissions the registry gives them now."""
    users: list[User] = []
    named = [(p.name, permissions(p)) for p in participants] + list(TOOLS.items())
    for name, rights in named:
        found = seed(store, name)
        if not found:
            found, _ = new_identity()
            _write_private(store / IDENTITIES_DIR / f"{name}.nk", found.encode())
        users.append(User(name=name, nkey=public_key(found), permissions=rights))
    update(str(store / AUTH_FILE), platform=users)


def without_credentials(url: str) -> str:
    """A NATS URL fit to print: no user or password."""
    parts = urlsplit(url)
    if not parts.username and not parts.password:
        return url
    host = parts.hostname or ""
    return urlunsplit(parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host))
