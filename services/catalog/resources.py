"""A resource's lifecycle: register, edit or revise, submit, return, confirm, publish, withdraw.

Every step commits the resource, its history, its event and its audit record in one
transaction, so none can exist without the others.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from google.protobuf import field_mask_pb2
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from runtime import logs
from runtime.auth import Principal, current_principal
from runtime.bus.outbox import enqueue
from runtime.errors import AlreadyExists, FieldViolation, InvalidArgument, NotFound
from runtime.service import ServiceRuntime
from runtime.storage import now_us
from runtime.unit_of_work import UnitOfWork
from services.catalog import diff, domain, events, store
from smartcity.catalog.v1 import catalog_pb2 as pb
from smartcity.catalog.v1 import events_pb2

log = logs.get(__name__)

CODE_ATTEMPTS = 5
# action -> the step as its event and audit record name it
STEP_EVENTS = {
    "submit": "submitted",
    "return": "returned",
    "confirm": "confirmed",
    "publish": "published",
    "withdraw": "withdrawn",
}


async def register(
    rt: ServiceRuntime,
    resource: pb.Resource,
    *,
    created_by: str,
    request_id: str | None,
) -> pb.Resource:
    """Store a validated draft with the next code of its classification, and its event, in one
    transaction; a known request id returns the resource it created before."""
    content = domain.content_of(resource)
    for attempt in range(CODE_ATTEMPTS):
        try:
            async with rt.unit_of_work() as uow:
                if request_id and (found := await store.find_by_request_id(uow.conn, request_id)):
                    return found
                created = await store.insert_resource(
                    uow.conn,
                    content,
                    resource_id=str(uuid.uuid4()),
                    code=await store.next_code(uow.conn, content.classification),
                    created_by=created_by,
                    request_id=request_id,
                )
                await uow.publish(
                    events.RESOURCE_CREATED,
                    events_pb2.ResourceCreated(
                        resource_id=created.id,
                        code=created.code,
                        provider_department=created.provider_department,
                        share_type=created.share_type,
                        open_type=created.open_type,
                        data_grade=created.data_grade,
                        version=created.version,
                    ),
                    entity_id=created.id,
                )
                await _audit(uow, "created", created.id)
            break
        except IntegrityError:
            # A concurrent create took the code (retry with the next) or the request id.
            if attempt == CODE_ATTEMPTS - 1:
                raise AlreadyExists("the resource could not get a code; retry") from None
    log.info("resource_created", resource_id=created.id, department=created.provider_department)
    return created


def _merge(
    current: pb.Resource, change: pb.Resource, mask: field_mask_pb2.FieldMask
) -> pb.Resource:
    paths = list(mask.paths) or [f for f in domain.EDITABLE_FIELDS if f != "provider_department"]
    bad = [p for p in paths if p not in domain.EDITABLE_FIELDS or p == "provider_department"]
    if bad:
        raise InvalidArgument(
            [FieldViolation("update_mask", f"{p!r} cannot be changed", "editable") for p in bad]
        )
    merged = domain.content_of(current)
    field_mask_pb2.FieldMask(paths=paths).MergeMessage(
        change, merged, replace_message_field=True, replace_repeated_field=True
    )
    return merged


async def update(
    rt: ServiceRuntime,
    principal: Principal,
    change: pb.Resource,
    mask: field_mask_pb2.FieldMask,
) -> pb.Resource:
    """Edit a draft or returned resource in place; editing a confirmed or published one starts
    the next version as a draft, and the listed version stays in the catalogs meanwhile."""
    async with rt.unit_of_work() as uow:
        current = await _get_for_update(uow.conn, change.id)
        domain.authorise_edit(principal, current.provider_department)
        domain.check_editable(current.state)
        content = _merge(current, change, mask)
        domain.validate_resource(content)
        revising = current.state in domain.REVISABLE
        version = current.version + 1 if revising else current.version
        updated = await store.update_content(
            uow.conn, current.id, content, version=version, state=domain.DRAFT
        )
        if revising:
            await store.add_transition(
                uow.conn,
                current.id,
                version=version,
                from_state=current.state,
                to_state=domain.DRAFT,
                actor_department=principal.department,
                comment=f"revision {version} started",
            )
        await _announce(uow.conn, "updated", updated, previous=current.state)
        await _audit(uow, "updated", updated.id)
    return updated


async def step(
    rt: ServiceRuntime,
    principal: Principal,
    resource_id: str,
    *,
    action: str,
    authorise: Callable[[Principal, pb.Resource], None],
    comment: str = "",
    publication: tuple[bool | None, bool | None] | None = None,
) -> pb.Resource:
    """One lifecycle step: check who and from which state, record it, announce it."""
    async with rt.unit_of_work() as uow:
        current = await _get_for_update(uow.conn, resource_id)
        authorise(principal, current)
        target = domain.next_state(action, current.state, listed=current.published_version > 0)
        if action == "submit":
            # the rules may have tightened since the draft was saved
            domain.validate_resource(current)
        values = _listing(action, current, publication)
        changed = await store.set_state(uow.conn, resource_id, target, **values)
        if action == "publish":
            await store.list_entry(uow.conn, changed, published_us=now_us())
        elif action == "withdraw":
            await store.unlist_entry(uow.conn, await store.resource_seq(uow.conn, resource_id))
        await store.add_transition(
            uow.conn,
            resource_id,
            version=changed.version,
            from_state=current.state,
            to_state=target,
            actor_department=principal.department,
            comment=comment,
        )
        step_name = STEP_EVENTS[action]
        await _announce(uow.conn, step_name, changed, previous=current.state)
        await _audit(uow, step_name, resource_id)
    log.info(
        "resource_step",
        resource_id=resource_id,
        action=action,
        state=domain.state_name(target),
    )
    return changed


def _listing(
    action: str, current: pb.Resource, publication: tuple[bool | None, bool | None] | None
) -> dict[str, object]:
    """How a step changes what the catalogs list."""
    if action == "withdraw":
        return {"in_share": False, "in_open": False, "published_version": 0}
    if action != "publish":
        return {}
    asked_share, asked_open = publication or (None, None)
    share, open_ = domain.publication(current, share=asked_share, open_=asked_open)
    values: dict[str, object] = {
        "in_share": share,
        "in_open": open_,
        "published_version": current.version,
    }
    if not current.HasField("publish_time"):
        values["publish_us"] = now_us()  # 发布日期: the first publication
    return values


async def versions_diff(
    rt: ServiceRuntime, resource_id: str, *, from_version: int, to_version: int
) -> pb.DiffResourceVersionsResponse:
    async with rt.db.read() as conn:
        current = await store.get_resource(conn, resource_id)
        if current is None:
            raise NotFound("resource", resource_id)
        to_version = to_version or current.version
        from_version = from_version or to_version - 1
        if not 1 <= from_version < to_version <= current.version:
            raise InvalidArgument(
                [
                    FieldViolation(
                        "from_version",
                        f"versions must satisfy 1 <= from < to <= {current.version}",
                        "version-range",
                    )
                ]
            )
        before = await store.get_version(conn, resource_id, from_version)
        after = await store.get_version(conn, resource_id, to_version)
    if before is None or after is None:
        raise NotFound("resource version", f"{resource_id}@{from_version}..{to_version}")
    return pb.DiffResourceVersionsResponse(
        from_version=from_version, to_version=to_version, changes=diff.diff(before, after)
    )


async def _get_for_update(conn: AsyncConnection, resource_id: str) -> pb.Resource:
    found = await store.get_resource(conn, resource_id, for_update=True)
    if found is None:
        raise NotFound("resource", resource_id)
    return found


async def _announce(
    conn: AsyncConnection, step_name: str, resource: pb.Resource, *, previous: int
) -> None:
    await enqueue(
        conn,
        events.RESOURCE_STEPS[step_name],
        events_pb2.ResourceChanged(
            resource_id=resource.id,
            code=resource.code,
            provider_department=resource.provider_department,
            share_type=resource.share_type,
            open_type=resource.open_type,
            data_grade=resource.data_grade,
            version=resource.version,
            state=resource.state,
            previous_state=previous,  # type: ignore[arg-type]
            published_version=resource.published_version,
            in_share_catalog=resource.in_share_catalog,
            in_open_catalog=resource.in_open_catalog,
            update_cycle=resource.update_cycle,
        ),
        entity_id=resource.id,
    )


async def _audit(uow: UnitOfWork, step_name: str, resource_id: str) -> None:
    await uow.audit(
        f"catalog.resource.{step_name}",
        principal=current_principal(),
        resource_type="resource",
        resource_id=resource_id,
    )
