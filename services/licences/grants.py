"""Use authorisation (用证授权): a holder lets one department or partner read chosen claims of one
licence, for a stated purpose, inside a time window; the holder can withdraw it at once, and sees
every use. A grantee reads the licence only through a grant that is active now, and only the
claims it names; each retrieval is logged for the holder in the same transaction.
"""

from __future__ import annotations

import uuid

from runtime.auth import Principal
from runtime.errors import FailedPrecondition, NotFound, PermissionDenied
from runtime.service import ServiceRuntime
from runtime.storage import now_us, timestamp
from runtime.unit_of_work import UnitOfWork
from services.licences import domain, events, store
from services.licences.licences import STATUS_ENUM, Licences
from smartcity.licences.v1 import events_pb2
from smartcity.licences.v1 import licences_pb2 as pb

STATES = {
    "active": pb.USE_GRANT_STATE_ACTIVE,
    "pending": pb.USE_GRANT_STATE_PENDING,
    "expired": pb.USE_GRANT_STATE_EXPIRED,
    "withdrawn": pb.USE_GRANT_STATE_WITHDRAWN,
}
USE_KINDS = {
    "verified": pb.LICENCE_USE_KIND_VERIFIED,
    "retrieved": pb.LICENCE_USE_KIND_RETRIEVED,
    "exported": pb.LICENCE_USE_KIND_EXPORTED,
}


def to_message(row: store.Row, *, now: int) -> pb.UseGrant:
    state = domain.grant_state(
        not_before_us=row.not_before_us,
        not_after_us=row.not_after_us,
        withdrawn=row.withdrawn_us is not None,
        now_us=now,
    )
    message = pb.UseGrant(
        id=row.id,
        licence_id=row.licence_id,
        grantee=row.grantee,
        purpose=row.purpose,
        claims=list(row.claims),
        not_before=timestamp(row.not_before_us),
        not_after=timestamp(row.not_after_us),
        state=STATES[state],
        licence_type=row.licence_type,
        create_time=timestamp(row.created_us),
    )
    if row.withdrawn_us is not None:
        message.withdraw_time.CopyFrom(timestamp(row.withdrawn_us))
    return message


def use_message(row: store.Row) -> pb.LicenceUse:
    return pb.LicenceUse(
        id=row.id,
        licence_id=row.licence_id,
        licence_type=row.licence_type,
        kind=USE_KINDS[row.kind],
        user=row.user,
        purpose=row.purpose,
        grant_id=row.grant_id,
        claims=list(row.claims),
        use_time=timestamp(row.used_us),
    )


class UseGrants:
    def __init__(self, rt: ServiceRuntime, licences: Licences) -> None:
        self._rt = rt
        self._licences = licences

    async def create(self, principal: Principal, request: pb.UseGrant) -> pb.UseGrant:
        row = await self._licences.readable(principal, request.licence_id)
        if row.holder not in domain.holders_of(principal):
            raise NotFound("licence", request.licence_id[:100])
        status = domain.effective_status(row.status, row.valid_until, on=domain.today())
        if status != domain.VALID:
            raise FailedPrecondition(f"a {status} licence cannot be granted for use")
        available = list(self._licences.contents.open(row)["disclosures"])
        claims = domain.chosen_claims(request.claims, available, field="claims")
        now = now_us()
        window = domain.check_grant(
            grantee=request.grantee,
            purpose=request.purpose,
            not_before_us=request.not_before.ToMicroseconds(),
            not_after_us=request.not_after.ToMicroseconds(),
            now_us=now,
        )
        if not claims:
            raise FailedPrecondition("name at least one claim the grantee may read")
        grant_id = str(uuid.uuid4())
        async with self._rt.unit_of_work() as uow:
            await store.add_use_grant(
                uow.conn,
                id=grant_id,
                licence_id=row.id,
                licence_type=row.licence_type,
                holder=row.holder,
                grantee=request.grantee,
                purpose=request.purpose.strip(),
                claims=claims,
                not_before_us=window.not_before_us,
                not_after_us=window.not_after_us,
                created_us=now,
            )
            created = await store.use_grant(uow.conn, grant_id)
            assert created is not None
            await self._announce(uow, principal, created, step="granted")
        return to_message(created, now=now)

    async def withdraw(self, principal: Principal, grant_id: str) -> pb.UseGrant:
        now = now_us()
        async with self._rt.unit_of_work() as uow:
            row = await store.use_grant(uow.conn, grant_id[:100])
            if row is None or row.holder not in domain.holders_of(principal):
                raise NotFound("use grant", grant_id[:100])
            if not await store.withdraw_use_grant(uow.conn, row.id, at_us=now):
                raise FailedPrecondition("the grant is already withdrawn")
            withdrawn = await store.use_grant(uow.conn, row.id)
            assert withdrawn is not None
            await self._announce(uow, principal, withdrawn, step="withdrawn")
        return to_message(withdrawn, now=now)

    async def page(
        self, principal: Principal, *, before: int, limit: int
    ) -> tuple[list[pb.UseGrant], int | None]:
        holders = domain.holders_of(principal)
        async with self._rt.db.read() as conn:
            rows, after = await store.list_use_grants(
                conn,
                holders=holders,
                grantee="" if holders else domain.grantee_of(principal),
                before=before,
                limit=limit,
            )
        now = now_us()
        return [to_message(r, now=now) for r in rows], after

    async def retrieve(self, principal: Principal, grant_id: str) -> pb.RetrieveLicenceResponse:
        grant, row, grantee, now = await self._granted(principal, grant_id, action="retrieve")
        status = domain.effective_status(row.status, row.valid_until, on=domain.today())
        claims = self._licences.claims(row)
        use_id = await self._record_use(principal, grant, row, grantee, now, kind="retrieved")
        reply = pb.RetrieveLicenceResponse(
            licence_id=row.id,
            licence_type=row.licence_type,
            issuer_department=row.issuer,
            status=STATUS_ENUM[status],
            valid_from=row.valid_from,
            valid_until=row.valid_until or "",
            purpose=grant.purpose,
            use_id=use_id,
        )
        for name in grant.claims:
            if name in claims:
                reply.claims[name] = domain.claim_text(claims[name])
        return reply

    async def export(self, principal: Principal, grant_id: str) -> pb.LicenceMetadata:
        """The licence's catalogue record (GB/T 36902) as far as the grant's claims reach."""
        grant, row, grantee, now = await self._granted(principal, grant_id, action="export")
        await self._record_use(principal, grant, row, grantee, now, kind="exported")
        return self._licences.metadata(row, visible=list(grant.claims))

    async def _granted(
        self, principal: Principal, grant_id: str, *, action: str
    ) -> tuple[store.Row, store.Row, str, int]:
        """The grant to the caller, inside its window, and its licence; refusals audited."""
        grantee = domain.grantee_of(principal)
        now = now_us()
        async with self._rt.db.read() as conn:
            grant = await store.use_grant(conn, grant_id[:100])
            row = None if grant is None else await store.licence(conn, grant.licence_id)
        if grant is None or row is None:
            raise NotFound("use grant", grant_id[:100])
        state = domain.grant_state(
            not_before_us=grant.not_before_us,
            not_after_us=grant.not_after_us,
            withdrawn=grant.withdrawn_us is not None,
            now_us=now,
        )
        refusal = ""
        if grant.grantee != grantee:
            refusal = "the grant was given to another party"
        elif state != "active":
            refusal = {
                "pending": "the grant's window has not opened yet",
                "expired": "the grant's window has closed",
                "withdrawn": "the holder withdrew the grant",
            }[state]
        if refusal:
            await self._rt.audit_denied(
                action=f"licence.{action}",
                principal=principal,
                resource_type="use_grant",
                resource_id=grant.id,
            )
            if grant.grantee != grantee:
                raise NotFound("use grant", grant_id[:100])
            raise PermissionDenied(refusal)
        return grant, row, grantee, now

    async def _record_use(
        self,
        principal: Principal,
        grant: store.Row,
        row: store.Row,
        grantee: str,
        now: int,
        *,
        kind: str,
    ) -> str:
        use_id = str(uuid.uuid4())
        async with self._rt.unit_of_work() as uow:
            await store.add_use(
                uow.conn,
                id=use_id,
                licence_id=row.id,
                licence_type=row.licence_type,
                holder=row.holder,
                kind=kind,
                user=grantee,
                purpose=grant.purpose,
                grant_id=grant.id,
                claims=list(grant.claims),
                used_us=now,
            )
            await uow.audit(
                f"licence.{kind}",
                principal=principal,
                resource_type="use_grant",
                resource_id=grant.id,
            )
        return use_id

    async def uses(
        self, principal: Principal, *, licence_id: str, before: int, limit: int
    ) -> tuple[list[pb.LicenceUse], int | None]:
        async with self._rt.db.read() as conn:
            rows, after = await store.list_uses(
                conn,
                holders=domain.holders_of(principal),
                licence_id=licence_id[:100],
                before=before,
                limit=limit,
            )
        return [use_message(r) for r in rows], after

    async def _announce(
        self, uow: UnitOfWork, principal: Principal, row: store.Row, *, step: str
    ) -> None:
        await uow.publish(
            events.USE_GRANT_STEPS[step],
            events_pb2.UseGrantChanged(
                grant_id=row.id,
                licence_id=row.licence_id,
                grantee=row.grantee,
                not_after=timestamp(row.not_after_us),
                change_time=timestamp(row.withdrawn_us or row.created_us),
            ),
            entity_id=row.id,
        )
        await uow.audit(
            f"use_grant.{step}",
            principal=principal,
            resource_type="use_grant",
            resource_id=row.id,
        )
