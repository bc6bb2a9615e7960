"""A unit of work: a service's change, the events announcing it and its audit records commit in
one transaction, and the outbox relay is woken once they have (not before: it would find
nothing; not never: the events would wait for its next poll).

    async with rt.unit_of_work() as uow:
        await store.save(uow.conn, ...)
        await uow.publish(events.SAVED, payload, entity_id=...)
        await uow.audit("catalog.resource.saved", principal=..., resource_type=..., resource_id=...)

A failure inside the block rolls all three back together, and wakes nobody.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncConnection

from runtime import audit
from runtime.auth import Principal
from runtime.bus.events import EventType
from runtime.bus.outbox import enqueue
from runtime.storage import Database

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class UnitOfWork:
    """One transaction of one service: `conn` for its tables, `publish` and `audit` for what
    commits with them."""

    conn: AsyncConnection
    service: str

    async def publish(self, event_type: EventType[M], payload: M, *, entity_id: str) -> str:
        """Announce the change through the outbox; return the event's id."""
        return await enqueue(self.conn, event_type, payload, entity_id=entity_id)

    async def audit(
        self,
        action: str,
        *,
        principal: Principal | None,
        resource_type: str,
        resource_id: str,
        outcome: str = audit.SUCCEEDED,
    ) -> None:
        """Record who did what to which resource, with the change (runtime.audit)."""
        await audit.record(
            self.conn,
            service=self.service,
            action=action,
            principal=principal,
            resource_type=resource_type,
            resource_id=resource_id,
            outcome=outcome,
        )


# What opens units of work: `ServiceRuntime.unit_of_work`, or `unit_of_work` bound to a database.
UnitsOfWork = Callable[[], AbstractAsyncContextManager[UnitOfWork]]


@asynccontextmanager
async def unit_of_work(
    db: Database, *, service: str, committed: Callable[[], None] | None = None
) -> AsyncIterator[UnitOfWork]:
    """A transaction on `db`; `committed` runs after it commits (the relay's wake-up; a one-off
    command has no relay: the service's own finds the rows on its next poll)."""
    async with db.begin() as conn:
        yield UnitOfWork(conn, service)
    if committed is not None:
        committed()
