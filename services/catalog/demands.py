"""Public demands for open data (Art. 15): the public asks, the Bureau routes, a department
answers by a deadline. Status and answers are public; who asked never is."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from runtime.auth import Principal
from runtime.errors import FieldViolation, InvalidArgument, NotFound
from runtime.service import ServiceRuntime
from runtime.storage import now_us
from runtime.unit_of_work import UnitOfWork
from services.catalog import domain, events, store
from smartcity.catalog.v1 import catalog_pb2 as pb
from smartcity.catalog.v1 import events_pb2


async def create(
    rt: ServiceRuntime, principal: Principal, demand: pb.Demand, *, request_id: str
) -> pb.Demand:
    domain.validate_demand(demand)
    # Scoped to the caller: one person's key never returns another's demand.
    scoped = f"{principal.subject}/{request_id}" if request_id else None
    demand_id = str(uuid.uuid4())
    async with rt.unit_of_work() as uow:
        if scoped and (found := await store.find_demand_by_request_id(uow.conn, scoped)):
            return found
        await store.insert_demand(
            uow.conn,
            id=demand_id,
            title=demand.title.strip(),
            description=demand.description.strip(),
            suggested_department=demand.suggested_department,
            state=pb.DEMAND_STATE_SUBMITTED,
            department="",
            outcome=0,
            answer="",
            resource_id="",
            requester=principal.subject,
            requester_kind="enterprise" if principal.enterprise else "citizen",
            request_id=scoped,
            created_us=now_us(),
        )
        created = await _announce(uow, demand_id, "submitted", principal)
    return created


async def route(
    rt: ServiceRuntime, principal: Principal, request: pb.RouteDemandRequest
) -> pb.Demand:
    domain.authorise_review(principal)
    days = domain.due_days(request.due_days)
    async with rt.unit_of_work() as uow:
        current = await _get(uow.conn, request.id)
        domain.check_route(current, request.department)
        now = now_us()
        await store.update_demand(
            uow.conn,
            request.id,
            state=pb.DEMAND_STATE_ROUTED,
            department=request.department,
            routed_us=now,
            due_us=now + days * domain.DAY_US,
        )
        routed = await _announce(uow, request.id, "routed", principal)
    return routed


async def answer(
    rt: ServiceRuntime, principal: Principal, request: pb.AnswerDemandRequest
) -> pb.Demand:
    async with rt.unit_of_work() as uow:
        current = await _get(uow.conn, request.id)
        domain.check_answer(principal, current, request)
        if request.outcome == pb.DEMAND_OUTCOME_OPENED:
            opened = await store.get_entry(uow.conn, request.resource_id, open_catalog=True)
            if opened is None or opened.provider_department != principal.department:
                raise InvalidArgument(
                    [
                        FieldViolation(
                            "resource_id",
                            "is not a resource of your department in the open catalog",
                            "opened-names-resource",
                        )
                    ]
                )
        await store.update_demand(
            uow.conn,
            request.id,
            state=pb.DEMAND_STATE_ANSWERED,
            outcome=request.outcome,
            answer=request.answer.strip(),
            resource_id=request.resource_id,
            answer_us=now_us(),
        )
        answered = await _announce(uow, request.id, "answered", principal)
    return answered


async def _get(conn: AsyncConnection, demand_id: str) -> pb.Demand:
    found = await store.get_demand(conn, demand_id)
    if found is None:
        raise NotFound("demand", demand_id)
    return found[0]


async def _announce(uow: UnitOfWork, demand_id: str, step: str, principal: Principal) -> pb.Demand:
    demand = await _get(uow.conn, demand_id)
    await uow.publish(
        events.DEMAND_STEPS[step],
        events_pb2.DemandChanged(
            demand_id=demand.id,
            state=demand.state,
            department=demand.department,
            due_time=demand.due_time if demand.HasField("due_time") else None,
            outcome=demand.outcome,
            overdue=demand.overdue,
        ),
        entity_id=demand.id,
    )
    await uow.audit(
        f"catalog.demand.{step}",
        principal=principal,
        resource_type="demand",
        resource_id=demand.id,
    )
    return demand
