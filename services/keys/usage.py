"""Key usage: every use of a key, and every refusal, counted and audited without slowing the call.

A call adds one tuple to a list and answers; about every second the list is counted into one
row per key, version, operation, outcome, calling service and actor, with its count and time
window, and the rows and their audit records (action `keys.key.used`, through the outbox: in
the audit chain) commit in one transaction (`runtime.writebehind`). A stop writes what is
pending; a process killed outright loses at most the last second's counts. Identifiers only:
never a message, plaintext, ciphertext or signature.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from runtime import audit
from runtime.bus.outbox import enqueue
from runtime.service import ServiceRuntime
from runtime.storage import SEQUENCE, Migration, Reader, create_tables, now_us, page, timestamp
from runtime.writebehind import WriteBehind
from services.keys.domain import OPERATION_NAMES, KeyCall
from smartcity.keys.v1 import events_pb2

ACTION = "keys.key.used"
SUCCEEDED, DENIED, FAILED = audit.SUCCEEDED, audit.DENIED, audit.FAILED
# How often the counts are written, and how many uses may wait before they are written sooner.
WRITE_SECONDS = 1.0
MAX_WAITING = 100_000

metadata = sa.MetaData()
key_usage = sa.Table(
    "key_usage",
    metadata,
    sa.Column("seq", SEQUENCE, primary_key=True),
    sa.Column("key", sa.String(64), nullable=False, index=True),
    sa.Column("key_version", sa.Integer, nullable=False),
    sa.Column("operation", sa.String(20), nullable=False),
    sa.Column("outcome", sa.String(10), nullable=False),
    sa.Column("denied_by", sa.String(20), nullable=False),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("window_start_us", sa.BigInteger, nullable=False),
    sa.Column("window_end_us", sa.BigInteger, nullable=False),
    sa.Column("service", sa.String(64), nullable=False),
    sa.Column("actor_id", sa.String(64), nullable=False),
    sa.Column("actor_type", sa.String(20), nullable=False),
    sa.Column("actor_department", sa.String(20), nullable=False),
    sa.Column("actor_roles", sa.JSON, nullable=False),
)

MIGRATIONS = [Migration("keys-0006-key-usage", create_tables(key_usage))]

# One use as the hot path records it: key, version, operation, outcome, rule, call, count.
_Use = tuple[str, int, int, str, str, KeyCall, int]
# What a row counts: everything of a use but the count, the call reduced to identifiers.
_Group = tuple[str, int, str, str, str, str, str, str, str, tuple[str, ...]]


def _group(use: _Use) -> _Group:
    key, version, operation, outcome, rule, call, _ = use
    actor = call.actor
    return (
        key,
        version,
        OPERATION_NAMES[operation],
        outcome,
        rule,
        call.service,
        actor.subject,
        actor.kind,
        actor.department,
        tuple(sorted(actor.roles)),
    )


def _usage(group: _Group, count: int, *, start_us: int, end_us: int) -> events_pb2.KeyUsage:
    key, version, operation, outcome, rule, service, actor, kind, department, roles = group
    return events_pb2.KeyUsage(
        key=key,
        key_version=version,
        operation=operation,
        outcome=outcome,
        denied_by=rule,
        count=count,
        window_start_time=timestamp(start_us),
        window_end_time=timestamp(end_us),
        service=service,
        actor_id=actor,
        actor_type=kind,
        actor_department=department,
        actor_roles=roles,
    )


class KeyUsage:
    """The uses counted since the last write, written behind (`run` in the background)."""

    def __init__(self, rt: ServiceRuntime, *, seconds: float = WRITE_SECONDS) -> None:
        self._rt = rt
        self._window_start: int | None = None
        self._waiting: WriteBehind[_Use] = WriteBehind(
            self._write, name="key-usage", seconds=seconds, size=MAX_WAITING
        )

    def used(
        self, key: str, version: int, operation: int, call: KeyCall, *, count: int = 1
    ) -> None:
        self._add((key, version, operation, SUCCEEDED, "", call, count))

    def failed(self, key: str, version: int, operation: int, call: KeyCall) -> None:
        """The key was applied and the operation failed (a tampered ciphertext)."""
        self._add((key, version, operation, FAILED, "", call, 1))

    def denied(self, key: str, operation: int, call: KeyCall, rule: str) -> None:
        self._add((key, 0, operation, DENIED, rule, call, 1))

    def _add(self, use: _Use) -> None:
        if self._window_start is None:
            self._window_start = now_us()
        self._waiting.add(use)

    async def run(self) -> None:
        """Write every second until cancelled (the service stops), then once more."""
        await self._waiting.run()

    async def flush(self) -> None:
        """Write what is waiting now (before a reader lists it)."""
        await self._waiting.flush()

    async def _write(self, uses: list[_Use]) -> None:
        end = now_us()
        # Uses added from here on open the next window (nothing awaited before this line).
        start, self._window_start = self._window_start or end, None
        counts: Counter[_Group] = Counter()
        for use in uses:
            counts[_group(use)] += use[6]
        try:
            async with self._rt.unit_of_work() as uow:
                await _store(uow.conn, counts, start_us=start, end_us=end)
        except BaseException:
            # The uses go back to the writer: their window still starts where it did.
            self._window_start = min(start, self._window_start or start)
            raise


async def _store(
    conn: AsyncConnection, counts: Counter[_Group], *, start_us: int, end_us: int
) -> None:
    """The rows, and the same counts as audit records, in the caller's transaction."""
    rows: list[dict[str, Any]] = []
    for group, count in counts.items():
        usage = _usage(group, count, start_us=start_us, end_us=end_us)
        rows.append(
            {
                "key": usage.key,
                "key_version": usage.key_version,
                "operation": usage.operation,
                "outcome": usage.outcome,
                "denied_by": usage.denied_by,
                "count": count,
                "window_start_us": start_us,
                "window_end_us": end_us,
                "service": usage.service,
                "actor_id": usage.actor_id[:64],
                "actor_type": usage.actor_type[:20],
                "actor_department": usage.actor_department[:20],
                "actor_roles": list(usage.actor_roles),
            }
        )
        await enqueue(
            conn,
            audit.event_type("keys"),
            events_pb2.AuditRecord(
                service="keys",
                action=ACTION,
                actor_id=usage.actor_id,
                actor_type=usage.actor_type,
                actor_department=usage.actor_department,
                resource_type="key",
                resource_id=usage.key,
                outcome=usage.outcome,
                time=timestamp(end_us),
                key_usage=usage,
            ),
            entity_id=usage.key,
        )
    if rows:
        await conn.execute(key_usage.insert(), rows)


def _message(row: sa.Row[Any]) -> events_pb2.KeyUsage:
    m = row._mapping
    return events_pb2.KeyUsage(
        key=m["key"],
        key_version=m["key_version"],
        operation=m["operation"],
        outcome=m["outcome"],
        denied_by=m["denied_by"],
        count=m["count"],
        window_start_time=timestamp(m["window_start_us"]),
        window_end_time=timestamp(m["window_end_us"]),
        service=m["service"],
        actor_id=m["actor_id"],
        actor_type=m["actor_type"],
        actor_department=m["actor_department"],
        actor_roles=list(m["actor_roles"]),
    )


async def list_usage(
    conn: Reader, *, key: str, actor_id: str, after: int, limit: int
) -> tuple[list[events_pb2.KeyUsage], int | None]:
    """A key's counted uses, oldest window first."""
    query = sa.select(key_usage).where(key_usage.c.key == key)
    if actor_id:
        query = query.where(key_usage.c.actor_id == actor_id)
    rows, next_after = await page(conn, query, position=key_usage.c.seq, after=after, limit=limit)
    return [_message(r) for r in rows], next_after
