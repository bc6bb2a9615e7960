"""The embedded NATS server's users: the platform's own processes, and one NKEY user per partner
limited to its own subjects. The partners service writes the file (`write`) and tells the
server to reload it (`reload`); the launcher writes the first one, with no partner.

The platform's processes sign in as the `smartcity` user, whose password the launcher makes
once and passes in `SMARTCITY_NATS_URL`; it must stay the same across reloads, or the server
disconnects every process. A deployment with its own NATS configures accounts or users for the
services, and puts the partners' users where its server reads them (`SMARTCITY_NATS_AUTH_FILE`).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from runtime import logs

log = logs.get(__name__)

AUTH_FILE = "partners-auth.conf"
PLATFORM_USER = "smartcity"
_API = "$JS.API"


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


def authorization(
    partners: Sequence[tuple[str, str, Mapping[str, Any]]], *, platform_password: str = ""
) -> str:
    """The authorization block: (client id, NKEY public key, permissions) per partner. The
    platform user's password must stay the same from one file to the next: a reload that
    changes it disconnects every process bound to that user."""
    password = platform_password or secrets.token_hex(16)
    users = [f"    {{user: {PLATFORM_USER}, password: {orjson.dumps(password).decode()}}}"]
    for client_id, nkey, permissions in partners:
        users.append(f"    # partner {client_id}")
        users.append(
            f"    {{nkey: {orjson.dumps(nkey).decode()}, "
            f"permissions: {orjson.dumps(permissions).decode()}}}"
        )
    return (
        "# Written by the platform (runtime/natsauth.py): do not edit.\n"
        "authorization {\n  users = [\n" + "\n".join(users) + "\n  ]\n}\n"
    )


def platform_password(path: str) -> str:
    """The platform user's password in the current file ("" when there is none)."""
    target = Path(path)
    found = _PASSWORD.search(target.read_text()) if target.exists() else None
    return found.group(1) if found else ""


_PASSWORD = re.compile(rf'user: {PLATFORM_USER}, password: "([0-9a-f]+)"')


def ensure_platform_password(path: str) -> str:
    """The platform user's password, made (with a file of no partners) the first time."""
    found = platform_password(path)
    if not found:
        found = secrets.token_hex(16)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(authorization([], platform_password=found))
    return found


def write(path: str, content: str) -> bool:
    """Replace the file atomically; False when it already says the same (no reload needed)."""
    target = Path(path)
    if target.exists() and target.read_text() == content:
        return False
    staging = target.with_suffix(".tmp")
    staging.write_text(content)
    os.replace(staging, target)
    return True


def reload(pid_file: str) -> bool:
    """Ask the server to reload its configuration (SIGHUP); False when it is not ours to tell."""
    try:
        pid = int(Path(pid_file).read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError) as exc:
        log.warning("nats_reload_failed", error=type(exc).__name__)
        return False
    return True


def without_credentials(url: str) -> str:
    """A NATS URL fit to print: no user or password."""
    parts = urlsplit(url)
    if not parts.username and not parts.password:
        return url
    host = parts.hostname or ""
    return urlunsplit(parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host))
