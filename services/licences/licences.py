"""Issuing licences and changing their status: the issuing department's licence issuers.

A licence version is signed once, at issue, with the department's SM2 key (the caller's own
right to that key is checked again by the keys service). Its claims are in the credential only
as salted SM3 digests; the values and their salts are sealed in the row. Every change commits
with its event and its audit record.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from runtime import crypto, logs
from runtime.auth import Principal
from runtime.bus.outbox import enqueue
from runtime.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from runtime.service import ServiceRuntime
from runtime.storage import now_us, timestamp
from services.licences import credential, domain, events, identifier, metadata, store, types
from services.licences.types import LicenceType, Validity
from services.licences.upstream import Upstream
from smartcity.licences.v1 import events_pb2
from smartcity.licences.v1 import licences_pb2 as pb

log = logs.get(__name__)

STATUS_ENUM = {
    domain.VALID: pb.LICENCE_STATUS_VALID,
    domain.SUSPENDED: pb.LICENCE_STATUS_SUSPENDED,
    domain.REVOKED: pb.LICENCE_STATUS_REVOKED,
    domain.SUPERSEDED: pb.LICENCE_STATUS_SUPERSEDED,
    domain.EXPIRED: pb.LICENCE_STATUS_EXPIRED,
}
STATUS_NAMES = {v: k for k, v in STATUS_ENUM.items()}
MAX_REQUEST_ID = 100
# This platform's serials (GB/T 36904 leaves their length and alphabet to the issuer): the
# never-reused counter, zero-padded to 10 digits.
SERIAL_DIGITS = 10


class Contents:
    """A licence's sealed contents: its fields, derived claims, and each claim's disclosure."""

    def __init__(self, master_key: bytes) -> None:
        self._key = master_key

    def seal(
        self, licence_id: str, *, fields: dict[str, str], disclosures: dict[str, str]
    ) -> bytes:
        data = orjson.dumps({"fields": fields, "disclosures": disclosures})
        return crypto.seal(self._key, data, context=f"licence:{licence_id}".encode())

    def digest(self, value: str, *, purpose: str) -> str:
        """A keyed SM3 digest: equal values are found without being stored."""
        return crypto.keyed_hash(self._key, value, purpose=purpose)

    def open(self, row: store.Row) -> dict[str, Any]:
        data = crypto.unseal(self._key, row.contents, context=f"licence:{row.id}".encode())
        opened: dict[str, Any] = orjson.loads(data)
        return opened


def licence_type(key: str, *, field: str = "licence_type") -> LicenceType:
    found = types.TYPES.get(key)
    if found is None:
        raise InvalidArgument.of(field, "must be one of: " + ", ".join(types.TYPES))
    return found


def to_message(row: store.Row, *, contents: dict[str, Any] | None = None) -> pb.Licence:
    """A licence as the contract shows it; its fields only when `contents` is given."""
    status = domain.effective_status(row.status, row.valid_until, on=domain.today())
    message = pb.Licence(
        id=row.id,
        licence_type=row.licence_type,
        issuer_department=row.issuer,
        holder_kind=row.holder.split(":", 1)[0],
        version=row.version,
        status=STATUS_ENUM[status],
        status_reason=row.status_reason,
        valid_from=row.valid_from,
        valid_until=row.valid_until or "",
        credential=row.credential,
        status_index=row.status_index,
        replaces_id=row.replaces or "",
        superseded_by_id=row.superseded_by or "",
        issue_time=timestamp(row.issued_us),
        update_time=timestamp(row.updated_us),
    )
    if contents is not None:
        message.fields.update(contents["fields"])
        message.claim_names.extend(contents["disclosures"])
    return message


class Licences:
    def __init__(self, rt: ServiceRuntime, upstream: Upstream, contents: Contents) -> None:
        self._rt = rt
        self._up = upstream
        self.contents = contents

    # --- reading ---------------------------------------------------------------------------

    async def readable(self, principal: Principal, licence_id: str) -> store.Row:
        """A licence its holder or its issuing department may read; NotFound for anyone else
        (audited), so that nobody learns which licences exist."""
        async with self._rt.db.read() as conn:
            row = await store.licence(conn, licence_id[:100])
        if row is None:
            raise NotFound("licence", licence_id[:100])
        if row.holder in domain.holders_of(principal) or _issued_by(principal, row):
            return row
        await self._rt.audit_denied(
            action="licence.read", principal=principal, resource_type="licence", resource_id=row.id
        )
        raise NotFound("licence", licence_id[:100])

    async def get(self, principal: Principal, licence_id: str) -> pb.Licence:
        row = await self.readable(principal, licence_id)
        if row.holder not in domain.holders_of(principal):
            # staff reading a citizen's licence is an access to personal data: on record
            async with self._rt.unit_of_work() as uow:
                await uow.audit(
                    "licence.read",
                    principal=principal,
                    resource_type="licence",
                    resource_id=row.id,
                )
        return to_message(row, contents=self.contents.open(row))

    def metadata(self, row: store.Row, *, visible: list[str] | None = None) -> pb.LicenceMetadata:
        """The licence's catalogue record (GB/T 36902); with `visible`, only those fields."""
        return metadata.record(
            licence_type(row.licence_type),
            licence_id=row.id,
            fields=self.contents.open(row)["fields"],
            status=domain.effective_status(row.status, row.valid_until, on=domain.today()),
            issued_us=row.issued_us,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            visible=visible,
        )

    async def own_metadata(self, principal: Principal, licence_id: str) -> pb.LicenceMetadata:
        """The caller's own licence's catalogue record; NotFound for anyone but its holder."""
        row = await self.readable(principal, licence_id)
        if row.holder not in domain.holders_of(principal):
            raise NotFound("licence", licence_id[:100])
        return self.metadata(row)

    def claims(self, row: store.Row) -> dict[str, object]:
        """Every claim of a licence by name: its fields and its derived claims."""
        opened = self.contents.open(row)
        return {
            name: credential.parse_disclosure(encoded).value
            for name, encoded in opened["disclosures"].items()
        }

    async def page(
        self, principal: Principal, request: pb.ListLicencesRequest, *, before: int, limit: int
    ) -> tuple[list[pb.Licence], int | None]:
        if request.licence_type:
            licence_type(request.licence_type)
        status = ""
        if request.status:
            status = STATUS_NAMES.get(request.status, "")
            if not status or status == domain.EXPIRED:
                raise InvalidArgument.of(
                    "status", "must be valid, suspended, revoked or superseded"
                )
        holders = domain.holders_of(principal)
        issuer = "" if holders else principal.department
        if not holders and not principal.has_role(domain.ROLE_LICENCE_ISSUER):
            raise PermissionDenied("listing a department's licences needs the licence_issuer role")
        async with self._rt.db.read() as conn:
            rows, after = await store.list_licences(
                conn,
                holders=holders,
                issuer=issuer,
                licence_type=request.licence_type,
                status=status,
                before=before,
                limit=limit,
            )
        # holders see their contents; a department's list shows what it issued, not to whom
        return [
            to_message(r, contents=self.contents.open(r) if holders else None) for r in rows
        ], after

    # --- issuing ---------------------------------------------------------------------------

    async def issue(self, principal: Principal, request: pb.IssueLicenceRequest) -> pb.Licence:
        kind = licence_type(request.licence_type)
        await self._require_issuer(principal, kind, resource_id=kind.key)
        request_key = _request_key(principal, request.request_id)
        if request_key and (found := await self._by_request(request_key)) is not None:
            return found
        fields, validity = types.check(kind, dict(request.fields), today=domain.today())
        domain.require_unexpired(validity, on=domain.today())
        number = fields[kind.holder_field]
        if kind.holder_kind == types.ENTERPRISE:
            holder_id = await self._up.resolve_holder(credit_code=number)
        else:
            holder_id = await self._up.resolve_holder(resident_id_number=number)
        holder = domain.holder(kind.holder_kind, holder_id)
        sole = self._sole_key(kind, holder=holder, fields=fields)
        held, why = None, ""
        if sole is not None:
            async with self._rt.db.read() as conn:
                held = await store.holding(conn, sole)
            if held is not None:
                why = domain.second_issuance(
                    kind,
                    held_id=held.id,
                    held_status=domain.effective_status(
                        held.status, held.valid_until, on=domain.today()
                    ),
                    why=request.reason,
                )
        return await self._sign_and_store(
            principal,
            kind,
            fields=fields,
            validity=validity,
            holder=holder,
            request_key=request_key,
            sole_key=sole,
            replaces=held,
            reason=why,
        )

    async def renew(self, principal: Principal, request: pb.RenewLicenceRequest) -> pb.Licence:
        current = await self._issued_row(principal, request.id, action="licence.renew")
        kind = licence_type(current.licence_type)
        domain.transition("renew", current.status)
        reason = domain.reason(request.reason, required=False)
        request_key = _request_key(principal, request.request_id)
        if request_key and (found := await self._by_request(request_key)) is not None:
            return found
        old_fields: dict[str, str] = self.contents.open(current)["fields"]
        fields, validity = types.check(
            kind, dict(request.fields) or old_fields, today=domain.today()
        )
        domain.require_unexpired(validity, on=domain.today())
        if fields[kind.holder_field] != old_fields[kind.holder_field]:
            raise InvalidArgument.of(
                f"fields.{kind.holder_field}", "a renewal keeps the licence's holder"
            )
        return await self._sign_and_store(
            principal,
            kind,
            fields=fields,
            validity=validity,
            holder=current.holder,
            request_key=request_key,
            sole_key=self._sole_key(kind, holder=current.holder, fields=fields),
            replaces=current,
            reason=reason,
            new_version=True,
        )

    def _sole_key(self, kind: LicenceType, *, holder: str, fields: dict[str, str]) -> str | None:
        # the VIN is keyed, not stored: the row's contents are sealed, and so is what they hold
        vin = fields.get("vin", "")
        digest = self.contents.digest(vin, purpose="licence-vin") if vin else ""
        return domain.sole_key(kind, holder=holder, vin_digest=digest)

    async def _sign_and_store(
        self,
        principal: Principal,
        kind: LicenceType,
        *,
        fields: dict[str, str],
        validity: Validity,
        holder: str,
        request_key: str | None,
        sole_key: str | None,
        replaces: store.Row | None = None,
        reason: str = "",
        new_version: bool = False,
    ) -> pb.Licence:
        """Sign and store a licence; `replaces` is superseded by it, as its next version when
        `new_version` (a renewal), else by a licence of its own serial."""
        claims: dict[str, object] = {
            **fields,
            **types.derived_claims(kind, fields, today=domain.today()),
        }
        disclosures = credential.make_disclosures(claims)
        async with self._rt.db.begin() as conn:
            number = await store.next_number(conn, store.SERIAL)
        if not new_version:
            licence_id = identifier.build(
                type_code=kind.code,
                issuer_code=domain.issuer_code(kind.department),
                serial=f"{number:0{SERIAL_DIGITS}d}",
            )
        else:
            assert replaces is not None
            licence_id = identifier.parse(replaces.id).next_version()
        payload = credential.credential_payload(
            licence_id=str(licence_id),
            licence_type=kind.key,
            issuer=kind.department,
            holder_kind=kind.holder_kind,
            issued_at=int(time.time()),
            valid_from=validity.valid_from,
            valid_until=validity.valid_until,
            status_index=number,
            digests=[d.digest for d in disclosures],
        )
        signature = await self._up.sign_as(
            principal,
            key=domain.licence_key(kind.department),
            message=credential.signing_input(payload),
        )
        ident = str(licence_id)
        try:
            row = await self._store(
                principal,
                kind,
                ident=ident,
                version=licence_id.version,
                number=number,
                fields=fields,
                validity=validity,
                holder=holder,
                request_key=request_key,
                sole_key=sole_key,
                credential_text=f"{credential.b64u(payload)}.{signature}",
                disclosures={d.name: d.encoded for d in disclosures},
                replaces=replaces,
                reason=reason,
                step="issued" if not new_version else "renewed",
            )
        except IntegrityError:
            # another issuance for the same holder (or vehicle) committed first: the unique
            # index refused this one; name the licence that holds
            if sole_key is None:
                raise
            async with self._rt.db.read() as conn:
                held = await store.holding(conn, sole_key)
            if held is None:
                raise
            raise AlreadyExists(
                f"licence {held.id} holds: one {kind.english} at a time was issued meanwhile"
            ) from None
        if isinstance(row, pb.Licence):
            return row
        log.info("licence_issued", licence_id=ident, licence_type=kind.key, step=row[1])
        return to_message(row[0], contents={"fields": fields, "disclosures": claims})

    async def _store(
        self,
        principal: Principal,
        kind: LicenceType,
        *,
        ident: str,
        version: int,
        number: int,
        fields: dict[str, str],
        validity: Validity,
        holder: str,
        request_key: str | None,
        sole_key: str | None,
        credential_text: str,
        disclosures: dict[str, str],
        replaces: store.Row | None,
        reason: str,
        step: str,
    ) -> pb.Licence | tuple[store.Row, str]:
        """The licence, its event and audit record in one transaction; the licence an earlier
        request with the same id issued, if any."""
        now = now_us()
        async with self._rt.unit_of_work() as uow:
            if request_key and (found := await store.licence_by_request(uow.conn, request_key)):
                return to_message(found, contents=self.contents.open(found))
            if replaces is not None and not await store.set_status(
                uow.conn,
                replaces.id,
                expected=replaces.status,
                status=domain.SUPERSEDED,
                reason=reason,
                at_us=now,
                superseded_by=ident,
            ):
                raise FailedPrecondition("the licence changed meanwhile; read it and try again")
            await store.add_licence(
                uow.conn,
                id=ident,
                licence_type=kind.key,
                issuer=kind.department,
                holder=holder,
                version=version,
                status=domain.VALID,
                status_index=number,
                valid_from=validity.valid_from.isoformat(),
                valid_until=validity.valid_until.isoformat() if validity.valid_until else None,
                credential=credential_text,
                contents=self.contents.seal(ident, fields=fields, disclosures=disclosures),
                replaces=replaces.id if replaces is not None else None,
                request_key=request_key,
                sole_key=sole_key,
                issued_us=now,
                updated_us=now,
            )
            row = await store.licence(uow.conn, ident)
            assert row is not None
            await _announce(uow.conn, row, step=step)
            await uow.audit(
                f"licence.{step}",
                principal=principal,
                resource_type="licence",
                resource_id=ident,
            )
        return row, step

    # --- status ----------------------------------------------------------------------------

    async def change(
        self, principal: Principal, licence_id: str, *, action: str, reason: str
    ) -> pb.Licence:
        current = await self._issued_row(principal, licence_id, action=f"licence.{action}")
        target = domain.transition(action, current.status)
        why = domain.reason(reason, required=action in ("suspend", "revoke"))
        async with self._rt.unit_of_work() as uow:
            if not await store.set_status(
                uow.conn,
                current.id,
                expected=current.status,
                status=target,
                reason=why,
                at_us=now_us(),
            ):
                raise FailedPrecondition("the licence changed meanwhile; read it and try again")
            row = await store.licence(uow.conn, current.id)
            assert row is not None
            step = {"suspend": "suspended", "resume": "resumed", "revoke": "revoked"}[action]
            await _announce(uow.conn, row, step=step)
            await uow.audit(
                f"licence.{step}",
                principal=principal,
                resource_type="licence",
                resource_id=row.id,
            )
        log.info("licence_status_changed", licence_id=row.id, status=target)
        # the licence as its issuer reads it (GetLicence): the step's audit record names them
        return to_message(row, contents=self.contents.open(row))

    # --- helpers ---------------------------------------------------------------------------

    async def _require_issuer(
        self, principal: Principal, kind: LicenceType, *, resource_id: str
    ) -> None:
        try:
            domain.require_issuer(principal, kind)
        except PermissionDenied:
            await self._rt.audit_denied(
                action="licence.issue",
                principal=principal,
                resource_type="licence_type",
                resource_id=resource_id,
            )
            raise

    async def _issued_row(self, principal: Principal, licence_id: str, *, action: str) -> store.Row:
        """A licence the caller's department issued, for its licence issuers to change."""
        async with self._rt.db.read() as conn:
            row = await store.licence(conn, licence_id[:100])
        if row is None:
            raise NotFound("licence", licence_id[:100])
        if not _issued_by(principal, row):
            await self._rt.audit_denied(
                action=action, principal=principal, resource_type="licence", resource_id=row.id
            )
            raise NotFound("licence", licence_id[:100])
        return row

    async def _by_request(self, request_key: str) -> pb.Licence | None:
        async with self._rt.db.read() as conn:
            found = await store.licence_by_request(conn, request_key)
        return None if found is None else to_message(found, contents=self.contents.open(found))


def _issued_by(principal: Principal, row: store.Row) -> bool:
    return principal.department == row.issuer and principal.has_role(domain.ROLE_LICENCE_ISSUER)


def _request_key(principal: Principal, request_id: str) -> str | None:
    if len(request_id) > MAX_REQUEST_ID:
        raise InvalidArgument.of("request_id", f"is longer than {MAX_REQUEST_ID} characters")
    return f"{principal.department}:{request_id}" if request_id else None


async def _announce(conn: AsyncConnection, row: store.Row, *, step: str) -> None:
    await enqueue(
        conn,
        events.LICENCE_STEPS[step],
        events_pb2.LicenceChanged(
            licence_id=row.id,
            licence_type=row.licence_type,
            issuer_department=row.issuer,
            version=row.version,
            status=row.status,
            status_index=row.status_index,
            replaces_id=row.replaces or "",
            change_time=timestamp(row.updated_us),
        ),
        entity_id=row.id,
    )
