"""LicencesService over gRPC: translate, authorise, delegate.

The `@allow` lines say who may call at all; `licences`, `verification` and `grants` decide what
each caller may do with which licence (its holder, its issuing department's licence issuers, the
grantee of an active use grant).
"""

from __future__ import annotations

from typing import TypeAlias

import grpc
import orjson

from runtime import crypto
from runtime.auth import (
    ANONYMOUS,
    CITIZEN,
    ENTERPRISE_AGENT,
    PUBLIC,
    Policy,
    allow,
    current_principal,
    policies_of,
    require_principal,
)
from runtime.errors import FieldViolation, InvalidArgument
from runtime.pagination import decode_cursor, encode_cursor, page_size
from runtime.service import ServiceRuntime
from services.licences import domain, external, identifier, types
from services.licences.grants import UseGrants
from services.licences.licences import Contents, Licences
from services.licences.upstream import Upstream
from services.licences.verification import Presentations, TrustSource
from smartcity.licences.v1 import licences_pb2 as pb
from smartcity.licences.v1 import licences_pb2_grpc

SERVICE = pb.DESCRIPTOR.services_by_name["LicencesService"].full_name
# A department's licence issuers, and its own system (a service client holding the role).
ISSUERS = Policy(audiences=("office", "service"), roles=(domain.ROLE_LICENCE_ISSUER,))
HOLDERS = PUBLIC.but(kinds=(CITIZEN, ENTERPRISE_AGENT))
HOLDERS_AND_ISSUERS = Policy(audiences=("public", "office"))
GRANTEES = Policy(audiences=("office", "partner"))
# a holder's own licence (public), or a use grant's party (office, partner)
METADATA_READERS = Policy(audiences=("public", "office", "partner"))
MAX_PRESENTATION = 8192
Context: TypeAlias = grpc.aio.ServicerContext


def _licence_id(value: str, *, field: str = "id") -> str:
    """A licence identifier in its national form, its check character right."""
    try:
        return str(identifier.parse(value))
    except identifier.IdentifierPartError as exc:
        # the description names the identifier's field that is wrong, the rule names it too
        rule = f"licence-identifier-{exc.part.replace('_', '-')}"
        raise InvalidArgument([FieldViolation(field, exc.reason, rule)]) from None


def _type_message(kind: types.LicenceType) -> pb.LicenceType:
    return pb.LicenceType(
        key=kind.key,
        code=kind.code,
        name=kind.name,
        english_name=kind.english,
        issuer_department=kind.department,
        holder_kind=kind.holder_kind,
        fields=[
            pb.FieldSpec(
                name=f.name,
                label=f.label,
                kind=f.kind,
                required=f.required,
                choices=list(f.choices),
                max_length=f.max_length,
            )
            for f in kind.fields
        ],
        derived_claims=list(kind.derived),
        defining_authority=kind.authority.name,
        defining_authority_code=kind.authority.credit_code,
    )


class LicencesServicer(licences_pb2_grpc.LicencesServiceServicer):
    def __init__(self, rt: ServiceRuntime) -> None:
        upstream = Upstream(rt)
        self._licences = Licences(rt, upstream, Contents(crypto.master_key(rt.settings)))
        # other platforms' issuers: a bad file stops the service here, naming the entry
        trusted = external.load(
            rt.settings.licence_trusted_issuers,
            own_departments={t.department for t in types.TYPES.values()},
        )
        trust = TrustSource(upstream, external=trusted)
        self.presentations = Presentations(rt, upstream, self._licences, trust)
        self._grants = UseGrants(rt, self._licences)
        self._types = pb.ListLicenceTypesResponse(
            licence_types=[_type_message(t) for t in types.TYPES.values()]
        )

    @allow(ANONYMOUS)
    async def ListLicenceTypes(
        self, request: pb.ListLicenceTypesRequest, context: Context
    ) -> pb.ListLicenceTypesResponse:
        return self._types

    # --- issuers -----------------------------------------------------------------------------

    @allow(ISSUERS)
    async def IssueLicence(
        self, request: pb.IssueLicenceRequest, context: Context
    ) -> pb.IssueLicenceResponse:
        licence = await self._licences.issue(require_principal(), request)
        return pb.IssueLicenceResponse(licence=licence)

    @allow(HOLDERS_AND_ISSUERS)
    async def GetLicence(
        self, request: pb.GetLicenceRequest, context: Context
    ) -> pb.GetLicenceResponse:
        return pb.GetLicenceResponse(
            licence=await self._licences.get(require_principal(), _licence_id(request.id))
        )

    @allow(HOLDERS_AND_ISSUERS)
    async def ListLicences(
        self, request: pb.ListLicencesRequest, context: Context
    ) -> pb.ListLicencesResponse:
        found, before = await self._licences.page(
            require_principal(),
            request,
            before=decode_cursor(request.page_token),
            limit=page_size(request.page_size),
        )
        return pb.ListLicencesResponse(licences=found, next_page_token=encode_cursor(before))

    @allow(ISSUERS)
    async def SuspendLicence(
        self, request: pb.SuspendLicenceRequest, context: Context
    ) -> pb.SuspendLicenceResponse:
        changed = await self._licences.change(
            require_principal(), _licence_id(request.id), action="suspend", reason=request.reason
        )
        return pb.SuspendLicenceResponse(licence=changed)

    @allow(ISSUERS)
    async def ResumeLicence(
        self, request: pb.ResumeLicenceRequest, context: Context
    ) -> pb.ResumeLicenceResponse:
        changed = await self._licences.change(
            require_principal(), _licence_id(request.id), action="resume", reason=request.reason
        )
        return pb.ResumeLicenceResponse(licence=changed)

    @allow(ISSUERS)
    async def RevokeLicence(
        self, request: pb.RevokeLicenceRequest, context: Context
    ) -> pb.RevokeLicenceResponse:
        changed = await self._licences.change(
            require_principal(), _licence_id(request.id), action="revoke", reason=request.reason
        )
        return pb.RevokeLicenceResponse(licence=changed)

    @allow(ISSUERS)
    async def RenewLicence(
        self, request: pb.RenewLicenceRequest, context: Context
    ) -> pb.RenewLicenceResponse:
        request.id = _licence_id(request.id)
        return pb.RenewLicenceResponse(
            licence=await self._licences.renew(require_principal(), request)
        )

    # --- holders and verifiers ---------------------------------------------------------------

    @allow(HOLDERS)
    async def CreatePresentation(
        self, request: pb.CreatePresentationRequest, context: Context
    ) -> pb.CreatePresentationResponse:
        request.licence_id = _licence_id(request.licence_id, field="licence_id")
        return await self.presentations.create(require_principal(), request)

    @allow(ANONYMOUS)
    async def VerifyPresentation(
        self, request: pb.VerifyPresentationRequest, context: Context
    ) -> pb.VerifyPresentationResponse:
        if len(request.presentation) > MAX_PRESENTATION:
            raise InvalidArgument.of(
                "presentation", f"is longer than {MAX_PRESENTATION} characters"
            )
        return await self.presentations.verify(current_principal(), request.presentation)

    @allow(ANONYMOUS)
    async def GetTrustList(
        self, request: pb.GetTrustListRequest, context: Context
    ) -> pb.GetTrustListResponse:
        trust = await self.presentations.trust_list()
        return pb.GetTrustListResponse(trust_list_json=orjson.dumps(trust.to_json()).decode())

    @allow(ANONYMOUS)
    async def GetStatusList(
        self, request: pb.GetStatusListRequest, context: Context
    ) -> pb.GetStatusListResponse:
        text, sequence = await self.presentations.status_list()
        return pb.GetStatusListResponse(status_list=text, sequence=sequence)

    # --- use authorisation -------------------------------------------------------------------

    @allow(HOLDERS)
    async def CreateUseGrant(
        self, request: pb.CreateUseGrantRequest, context: Context
    ) -> pb.CreateUseGrantResponse:
        request.use_grant.licence_id = _licence_id(
            request.use_grant.licence_id, field="use_grant.licence_id"
        )
        created = await self._grants.create(require_principal(), request.use_grant)
        return pb.CreateUseGrantResponse(use_grant=created)

    @allow(Policy(audiences=("public", "office", "partner")))
    async def ListUseGrants(
        self, request: pb.ListUseGrantsRequest, context: Context
    ) -> pb.ListUseGrantsResponse:
        found, before = await self._grants.page(
            require_principal(),
            before=decode_cursor(request.page_token),
            limit=page_size(request.page_size),
        )
        return pb.ListUseGrantsResponse(use_grants=found, next_page_token=encode_cursor(before))

    @allow(HOLDERS)
    async def WithdrawUseGrant(
        self, request: pb.WithdrawUseGrantRequest, context: Context
    ) -> pb.WithdrawUseGrantResponse:
        withdrawn = await self._grants.withdraw(require_principal(), request.id)
        return pb.WithdrawUseGrantResponse(use_grant=withdrawn)

    @allow(GRANTEES)
    async def RetrieveLicence(
        self, request: pb.RetrieveLicenceRequest, context: Context
    ) -> pb.RetrieveLicenceResponse:
        return await self._grants.retrieve(require_principal(), request.grant_id)

    @allow(METADATA_READERS)
    async def ExportLicenceMetadata(
        self, request: pb.ExportLicenceMetadataRequest, context: Context
    ) -> pb.ExportLicenceMetadataResponse:
        principal = require_principal()
        if request.id:
            record = await self._licences.own_metadata(principal, _licence_id(request.id))
        elif request.grant_id and principal.audience in ("office", "partner"):
            record = await self._grants.export(principal, request.grant_id)
        else:
            raise InvalidArgument.of("id", "name the caller's licence, or a use grant (grant_id)")
        return pb.ExportLicenceMetadataResponse(metadata=record)

    @allow(HOLDERS)
    async def ListLicenceUses(
        self, request: pb.ListLicenceUsesRequest, context: Context
    ) -> pb.ListLicenceUsesResponse:
        await self.presentations.flush_uses()  # the caller's latest verifications too
        found, before = await self._grants.uses(
            require_principal(),
            licence_id=request.licence_id,
            before=decode_cursor(request.page_token),
            limit=page_size(request.page_size),
        )
        return pb.ListLicenceUsesResponse(uses=found, next_page_token=encode_cursor(before))


POLICIES = policies_of(LicencesServicer, SERVICE)


def create_servicer(rt: ServiceRuntime) -> LicencesServicer:
    """The servicer, with the background work it starts."""
    servicer = LicencesServicer(rt)
    rt.background(servicer.presentations.purge(), name="licences-presentation-purge")
    rt.background(servicer.presentations.run_uses(), name="licences-uses")
    return servicer
