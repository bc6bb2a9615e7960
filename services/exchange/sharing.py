"""Share requests and grants (共享申请, Art. 13, 14): a consumer (a department, or a partner
system) asks for a resource's fields, with purpose, legal basis and duration; the catalog's
share type decides at once or hands the request to the provider's share approvers, who answer
by a deadline (overdue requests are escalated to the Big Data Bureau). A grant has fields and an
expiry, and can be revoked."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from runtime import logs
from runtime.auth import Principal
from runtime.errors import InvalidArgument, NotFound
from runtime.service import ServiceRuntime
from runtime.storage import now_us, timestamp
from runtime.unit_of_work import UnitOfWork
from services.exchange import domain, events, store
from services.exchange.share_catalog import ShareCatalog
from smartcity.exchange.v1 import events_pb2
from smartcity.exchange.v1 import exchange_pb2 as pb

log = logs.get(__name__)


async def create(
    rt: ServiceRuntime,
    catalog: ShareCatalog,
    principal: Principal,
    request: pb.ShareRequest,
    *,
    request_id: str,
) -> pb.ShareRequest:
    entry = await catalog.entry(request.resource_id)
    domain.authorise_request(principal, entry)
    domain.validate_share_request(request, entry)
    state, reason = domain.automatic_decision(entry)
    scoped = f"{principal.subject}/{request_id}" if request_id else None
    share_id = str(uuid.uuid4())
    now = now_us()
    async with rt.unit_of_work() as uow:
        if scoped and (found := await store.share_request_by_request_id(uow.conn, scoped)):
            return found
        await store.insert_share_request(
            uow.conn,
            id=share_id,
            resource_id=entry.id,
            consumer=domain.consumer_of(principal),
            provider_department=entry.provider_department,
            purpose=request.purpose.strip(),
            legal_basis=request.legal_basis.strip(),
            fields=list(request.fields),
            duration_days=request.duration_days,
            state=pb.SHARE_REQUEST_STATE_PENDING,
            reason="",
            grant_id="",
            requested_by=principal.subject,
            request_id=scoped,
            submitted_us=now,
            due_us=now + domain.DEFAULT_DUE_DAYS * domain.DAY_US,
        )
        submitted = await _get(uow.conn, share_id)
        await uow.publish(
            events.SHARE_REQUEST_SUBMITTED,
            events_pb2.ShareRequestSubmitted(
                share_request_id=share_id,
                resource_id=entry.id,
                provider_department=entry.provider_department,
                consumer=domain.consumer_of(principal),
                submit_time=submitted.submit_time,
                due_time=submitted.due_time,
            ),
            entity_id=share_id,
        )
        await _audit(uow, principal, "submitted", share_id)
        if state != pb.SHARE_REQUEST_STATE_PENDING:
            # decided by the catalog's share type: the automatic check
            fields = list(request.fields) if state == pb.SHARE_REQUEST_STATE_GRANTED else []
            await _decide(
                uow,
                principal,
                submitted,
                state=state,
                reason=reason,
                fields=fields,
                duration_days=request.duration_days,
            )
        created = await _get(uow.conn, share_id)
    log.info("share_request_submitted", share_request_id=share_id, state=created.state)
    return created


async def decide(
    rt: ServiceRuntime, principal: Principal, decision: pb.DecideShareRequestRequest
) -> pb.ShareRequest:
    async with rt.unit_of_work() as uow:
        current = await store.get_share_request(uow.conn, decision.id, for_update=True)
        if current is None or not domain.can_see(
            principal,
            consumer=current.consumer,
            provider_department=current.provider_department,
        ):
            raise NotFound("share request", decision.id)
        fields, days = domain.check_decision(principal, current, decision)
        state = pb.SHARE_REQUEST_STATE_GRANTED if decision.grant else pb.SHARE_REQUEST_STATE_REFUSED
        await _decide(
            uow,
            principal,
            current,
            state=state,
            reason=decision.reason.strip(),
            fields=fields,
            duration_days=days,
        )
        decided = await _get(uow.conn, decision.id)
    return decided


async def _decide(
    uow: UnitOfWork,
    principal: Principal,
    current: pb.ShareRequest,
    *,
    state: int,
    reason: str,
    fields: list[str],
    duration_days: int,
) -> None:
    now = now_us()
    grant_id = ""
    if state == pb.SHARE_REQUEST_STATE_GRANTED:
        grant_id = str(uuid.uuid4())
        await store.insert_grant(
            uow.conn,
            id=grant_id,
            resource_id=current.resource_id,
            consumer=current.consumer,
            provider_department=current.provider_department,
            fields=fields,
            expires_us=now + duration_days * domain.DAY_US,
            revoked=False,
            revoke_reason="",
            share_request_id=current.id,
            created_us=now,
        )
    await store.update_share_request(
        uow.conn, current.id, state=state, reason=reason, grant_id=grant_id, decided_us=now
    )
    submitted_us = current.submit_time.ToMicroseconds()
    due_us = current.due_time.ToMicroseconds()
    await uow.publish(
        events.SHARE_REQUEST_DECIDED,
        events_pb2.ShareRequestDecided(
            share_request_id=current.id,
            resource_id=current.resource_id,
            provider_department=current.provider_department,
            consumer=current.consumer,
            outcome=events_pb2.SHARE_REQUEST_OUTCOME_GRANTED
            if grant_id
            else events_pb2.SHARE_REQUEST_OUTCOME_REFUSED,
            submit_time=timestamp(submitted_us),
            decide_time=timestamp(now),
            late=now > due_us,
            grant_id=grant_id,
            grant_expire_time=timestamp(now + duration_days * domain.DAY_US) if grant_id else None,
        ),
        entity_id=current.id,
    )
    await _audit(uow, principal, "granted" if grant_id else "refused", current.id)


async def get(rt: ServiceRuntime, principal: Principal, share_id: str) -> pb.ShareRequest:
    async with rt.db.read() as conn:
        found = await store.get_share_request(conn, share_id)
    if found is None or not domain.can_see(
        principal,
        consumer=found.consumer,
        provider_department=found.provider_department,
    ):
        raise NotFound("share request", share_id)
    return found


async def revoke(
    rt: ServiceRuntime, principal: Principal, request: pb.RevokeGrantRequest
) -> pb.Grant:
    reason = request.reason.strip()
    async with rt.unit_of_work() as uow:
        grant = await store.get_grant(uow.conn, request.id)
        if grant is None or not domain.can_see(
            principal,
            consumer=grant.consumer,
            provider_department=grant.provider_department,
        ):
            raise NotFound("grant", request.id)
        domain.authorise_revoke(principal, grant)
        if not reason or len(reason) > domain.MAX_TEXT:
            raise InvalidArgument.of("reason", f"is required, at most {domain.MAX_TEXT} characters")
        await store.revoke_grant(uow.conn, grant.id, reason=reason)
        await uow.publish(
            events.GRANT_REVOKED,
            events_pb2.GrantRevoked(
                grant_id=grant.id,
                resource_id=grant.resource_id,
                consumer=grant.consumer,
                provider_department=grant.provider_department,
            ),
            entity_id=grant.id,
        )
        await uow.audit(
            "exchange.grant.revoked",
            principal=principal,
            resource_type="grant",
            resource_id=grant.id,
        )
        revoked = await store.get_grant(uow.conn, grant.id)
    assert revoked is not None
    return revoked


async def _get(conn: AsyncConnection, share_id: str) -> pb.ShareRequest:
    found = await store.get_share_request(conn, share_id)
    if found is None:
        raise NotFound("share request", share_id)
    return found


async def _audit(uow: UnitOfWork, principal: Principal, step: str, share_id: str) -> None:
    await uow.audit(
        f"exchange.share_request.{step}",
        principal=principal,
        resource_type="share_request",
        resource_id=share_id,
    )


def party(principal: Principal) -> store.Party | None:
    """Whose requests and grants a caller lists: None for the Bureau (all of them)."""
    if domain.is_bureau(principal):
        return None
    consumer, department = domain.party_of(principal)
    return store.Party(consumer=consumer, department=department)
