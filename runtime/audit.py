"""Audit records: every service says what was done, by whom, to what and with what outcome, in
the transaction of the action (through its outbox, so a record is never lost nor made up); the
keys service appends them to a hash chain (SM3) with signed checkpoints (SM2).
Identifiers only: no names, identity numbers or contents."""

from __future__ import annotations

import functools

from sqlalchemy.ext.asyncio import AsyncConnection

from runtime import telemetry
from runtime.auth import Principal
from runtime.bus import contracts
from runtime.bus.events import EventType
from runtime.bus.outbox import enqueue
from runtime.storage import now_us, timestamp
from smartcity.keys.v1 import events_pb2

SUCCEEDED, DENIED, FAILED = "succeeded", "denied", "failed"


@functools.cache
def event_type(service: str) -> EventType[events_pb2.AuditRecord]:
    """Each service's audit records travel on its own stream."""
    return contracts.templated(events_pb2.AuditRecord, service=service)


async def record(
    conn: AsyncConnection,
    *,
    service: str,
    action: str,
    principal: Principal | None,
    resource_type: str,
    resource_id: str,
    outcome: str = SUCCEEDED,
) -> None:
    """Add an audit record to the caller's transaction (`UnitOfWork.audit`, whose commit wakes
    the relay)."""
    await enqueue(
        conn,
        event_type(service),
        events_pb2.AuditRecord(
            service=service,
            action=action,
            actor_id=principal.subject if principal else "",
            actor_type=principal.kind if principal else "system",
            actor_department=principal.department if principal else "",
            resource_type=resource_type,
            resource_id=resource_id,
            outcome=outcome,
            time=timestamp(now_us()),
            trace_id=telemetry.current_trace_id() or "",
        ),
        entity_id=resource_id,
    )
