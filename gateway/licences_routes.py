"""Electronic licences on the entry points (Art. 28).

- /public: holders list their licences, make presentations for a QR code (亮证), grant their use
  to a department or partner (用证授权) and see every use; anyone verifies a presentation (验证)
  and downloads the trust list and status list for offline verification.
- /office: each department's licence issuers issue, suspend, resume, revoke and renew; staff
  verify presentations and retrieve licences under the grants their department holds.
- /partner: partner systems verify presentations and retrieve licences under their grants.
"""

from __future__ import annotations

import dataclasses
import functools
from urllib.parse import quote

from aiohttp import web

from gateway import jsonmap
from gateway.endpoints import PAGE_QUERY, Call, Handler, QueryParam, Route, message_response
from smartcity.licences.v1 import licences_pb2 as pb

PUBLIC = "/public/v1/licences"
OFFICE = "/office/v1/licences"
PARTNER = "/partner/v1/licences"
_PAGE = ("page_size", "page_token")
_WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422, 503)
_READ_ERRORS = (401, 403, 404, 503)
_LIST_ERRORS = (401, 403, 422, 503)
_ID_ONLY = frozenset({"id"})
LIST_QUERY = (
    QueryParam(name="licence_type", description="Only this type, e.g. driving_licence."),
    QueryParam(name="status", description="valid, suspended, revoked or superseded."),
    *PAGE_QUERY,
)
_GRANT_OUTPUT_ONLY = frozenset({"id", "state", "licence_type", "create_time", "withdraw_time"})


def _path(call: Call, name: str) -> str:
    return call.request.match_info[name]


async def list_types(call: Call) -> web.StreamResponse:
    reply = await call.rpc(call.upstream.licences.ListLicenceTypes, pb.ListLicenceTypesRequest())
    return message_response(reply, headers={"Cache-Control": "public, max-age=300"})


async def issue(call: Call) -> web.StreamResponse:
    request: pb.IssueLicenceRequest = call.body
    request.request_id = call.request.headers.get("Idempotency-Key", "")
    reply = await call.rpc(call.upstream.licences.IssueLicence, request)
    location = f"{OFFICE}/{quote(reply.licence.id, safe='')}"
    return message_response(reply.licence, status=201, headers={"Location": location})


async def list_licences(call: Call) -> web.StreamResponse:
    request = jsonmap.parse_query(
        call.request.query, pb.ListLicencesRequest, names=("licence_type", "status", *_PAGE)
    )
    return message_response(await call.rpc(call.upstream.licences.ListLicences, request))


async def get_licence(call: Call) -> web.StreamResponse:
    request = pb.GetLicenceRequest(id=_path(call, "id"))
    return message_response((await call.rpc(call.upstream.licences.GetLicence, request)).licence)


def _status_action(method: str) -> Handler:
    async def act(call: Call) -> web.StreamResponse:
        request = call.body
        request.id = _path(call, "id")
        if method == "RenewLicence":
            request.request_id = call.request.headers.get("Idempotency-Key", "")
        reply = await call.rpc(getattr(call.upstream.licences, method), request)
        return message_response(reply.licence, status=201 if method == "RenewLicence" else 200)

    return act


async def create_presentation(call: Call) -> web.StreamResponse:
    request: pb.CreatePresentationRequest = call.body
    request.licence_id = _path(call, "id")
    reply = await call.rpc(call.upstream.licences.CreatePresentation, request)
    # a presentation is a bearer credential for minutes: no cache anywhere may keep it
    return message_response(reply, status=201, headers={"Cache-Control": "no-store"})


async def verify(call: Call) -> web.StreamResponse:
    reply = await call.rpc(call.upstream.licences.VerifyPresentation, call.body)
    return message_response(reply, headers={"Cache-Control": "no-store"})


async def trust_list(call: Call) -> web.StreamResponse:
    reply = await call.rpc(call.upstream.licences.GetTrustList, pb.GetTrustListRequest())
    return web.Response(
        text=reply.trust_list_json,
        content_type="application/json",
        headers={"Cache-Control": "public, max-age=300"},
    )


async def status_list(call: Call) -> web.StreamResponse:
    reply = await call.rpc(call.upstream.licences.GetStatusList, pb.GetStatusListRequest())
    # fresh on every fetch: a revocation is in the list the moment it commits
    return web.Response(
        text=reply.status_list,
        content_type="text/plain",
        headers={"Cache-Control": "no-cache", "ETag": f'"{reply.sequence}"'},
    )


async def create_grant(call: Call) -> web.StreamResponse:
    reply = await call.rpc(
        call.upstream.licences.CreateUseGrant, pb.CreateUseGrantRequest(use_grant=call.body)
    )
    location = f"{PUBLIC}/grants/{quote(reply.use_grant.id, safe='')}"
    return message_response(reply.use_grant, status=201, headers={"Location": location})


async def list_grants(call: Call) -> web.StreamResponse:
    request = jsonmap.parse_query(call.request.query, pb.ListUseGrantsRequest, names=_PAGE)
    return message_response(await call.rpc(call.upstream.licences.ListUseGrants, request))


async def withdraw_grant(call: Call) -> web.StreamResponse:
    request = pb.WithdrawUseGrantRequest(id=_path(call, "id"))
    reply = await call.rpc(call.upstream.licences.WithdrawUseGrant, request)
    return message_response(reply.use_grant)


async def retrieve(call: Call) -> web.StreamResponse:
    request = pb.RetrieveLicenceRequest(grant_id=_path(call, "id"))
    reply = await call.rpc(call.upstream.licences.RetrieveLicence, request)
    return message_response(reply, headers={"Cache-Control": "no-store"})


async def own_metadata(call: Call) -> web.StreamResponse:
    request = pb.ExportLicenceMetadataRequest(id=_path(call, "id"))
    reply = await call.rpc(call.upstream.licences.ExportLicenceMetadata, request)
    return message_response(reply.metadata, headers={"Cache-Control": "no-store"})


async def granted_metadata(call: Call) -> web.StreamResponse:
    request = pb.ExportLicenceMetadataRequest(grant_id=_path(call, "id"))
    reply = await call.rpc(call.upstream.licences.ExportLicenceMetadata, request)
    return message_response(reply.metadata, headers={"Cache-Control": "no-store"})


async def list_uses(call: Call) -> web.StreamResponse:
    request = jsonmap.parse_query(
        call.request.query, pb.ListLicenceUsesRequest, names=("licence_id", *_PAGE)
    )
    return message_response(await call.rpc(call.upstream.licences.ListLicenceUses, request))


_route = functools.partial(Route, tag="licences")


_VERIFY = _route(
    method="POST",
    path=f"{PUBLIC}/verify",
    operation_id="verifyLicencePresentation",
    summary="Verify a presentation (the QR code's text): valid, suspended, revoked, superseded, "
    "expired, forged, expired or replayed presentation, with the revealed claims. No sign-in.",
    handler=verify,
    anonymous=True,
    body=pb.VerifyPresentationRequest,
    response=pb.VerifyPresentationResponse,
    errors=(400, 413, 415, 422, 503),
)
_RETRIEVE = _route(
    method="GET",
    path=f"{OFFICE}/grants/{{id}}/licence",
    operation_id="retrieveGrantedLicence",
    summary="The claims of a licence that a use grant to the caller's department names, inside "
    "its window; the use is logged for the holder.",
    handler=retrieve,
    audience="office",
    response=pb.RetrieveLicenceResponse,
    errors=_READ_ERRORS,
)
_GRANTED_METADATA = _route(
    method="GET",
    path=f"{OFFICE}/grants/{{id}}/metadata",
    operation_id="exportGrantedLicenceMetadata",
    summary="The catalogue information (GB/T 36902: licence name, number and identifier, holder "
    "and their identifier type and number, issuing organisation and its code, issue date, "
    "validity, status, surface information) of the licence a use grant to the caller's "
    "department names, inside its window, as far as the grant's claims reach; logged for the "
    "holder.",
    handler=granted_metadata,
    audience="office",
    response=pb.LicenceMetadata,
    errors=(401, 403, 404, 422, 503),
)
_GRANTS_RECEIVED = _route(
    method="GET",
    path=f"{OFFICE}/grants",
    operation_id="listReceivedUseGrants",
    summary="The use grants holders gave the caller's department, newest first.",
    handler=list_grants,
    audience="office",
    response=pb.ListUseGrantsResponse,
    query=PAGE_QUERY,
    errors=_LIST_ERRORS,
)

ROUTES: tuple[Route, ...] = (
    _route(
        method="GET",
        path=f"{PUBLIC}/types",
        operation_id="listLicenceTypes",
        summary="The five licence types: their fields, issuing department and holder kind.",
        handler=list_types,
        anonymous=True,
        response=pb.ListLicenceTypesResponse,
        errors=(503,),
    ),
    _route(
        method="GET",
        path=f"{PUBLIC}/mine",
        operation_id="listMyLicences",
        summary="The caller's licences (an agent's: also their enterprise's), newest first.",
        handler=list_licences,
        audience="public",
        response=pb.ListLicencesResponse,
        query=LIST_QUERY,
        errors=_LIST_ERRORS,
    ),
    _route(
        method="GET",
        path=f"{PUBLIC}/mine/{{id}}",
        operation_id="getMyLicence",
        summary="One of the caller's licences, with its fields and signed credential.",
        handler=get_licence,
        audience="public",
        response=pb.Licence,
        errors=_READ_ERRORS,
    ),
    _route(
        method="POST",
        path=f"{PUBLIC}/mine/{{id}}/presentations",
        operation_id="createLicencePresentation",
        summary="A presentation for a QR code, revealing only the chosen claims (disclose), "
        "living 30 to 300 seconds (ttl_seconds, default 120).",
        handler=create_presentation,
        audience="public",
        body=pb.CreatePresentationRequest,
        read_only=frozenset({"licence_id"}),
        response=pb.CreatePresentationResponse,
        status=201,
        errors=_WRITE_ERRORS,
    ),
    _route(
        method="GET",
        path=f"{PUBLIC}/mine/{{id}}/metadata",
        operation_id="exportMyLicenceMetadata",
        summary="One of the caller's licences as catalogue information (GB/T 36902), for "
        "another platform: licence name, number and identifier, holder and their identifier "
        "type and number, issuing organisation and its code, issue date, validity, status and "
        "the surface information.",
        handler=own_metadata,
        audience="public",
        response=pb.LicenceMetadata,
        errors=(401, 403, 404, 422, 503),
    ),
    _VERIFY,
    _route(
        method="GET",
        path=f"{PUBLIC}/trust-list",
        operation_id="getLicenceTrustList",
        summary="The issuers' and the platform's public keys, for offline verification.",
        handler=trust_list,
        anonymous=True,
        errors=(503,),
    ),
    _route(
        method="GET",
        path=f"{PUBLIC}/status-list",
        operation_id="getLicenceStatusList",
        summary="The signed 2-bit status list of every licence (valid, revoked, suspended, "
        "superseded), for offline verification.",
        handler=status_list,
        anonymous=True,
        errors=(503,),
    ),
    _route(
        method="POST",
        path=f"{PUBLIC}/grants",
        operation_id="createUseGrant",
        summary="Let a department or partner (grantee) read chosen claims of one of the "
        "caller's licences, for a purpose, from not_before (default: now) until not_after "
        "(default: 30 days later; at most 90).",
        handler=create_grant,
        audience="public",
        body=pb.UseGrant,
        read_only=_GRANT_OUTPUT_ONLY,
        response=pb.UseGrant,
        status=201,
        errors=_WRITE_ERRORS,
    ),
    _route(
        method="GET",
        path=f"{PUBLIC}/grants",
        operation_id="listMyUseGrants",
        summary="The use grants the caller gave, newest first.",
        handler=list_grants,
        audience="public",
        response=pb.ListUseGrantsResponse,
        query=PAGE_QUERY,
        errors=_LIST_ERRORS,
    ),
    _route(
        method="POST",
        path=f"{PUBLIC}/grants/{{id}}/withdraw",
        operation_id="withdrawUseGrant",
        summary="Withdraw one of the caller's use grants, at once.",
        handler=withdraw_grant,
        audience="public",
        errors=_WRITE_ERRORS,
        response=pb.UseGrant,
    ),
    _route(
        method="GET",
        path=f"{PUBLIC}/uses",
        operation_id="listLicenceUses",
        summary="Who verified or retrieved the caller's licences, when, and what they saw.",
        handler=list_uses,
        audience="public",
        response=pb.ListLicenceUsesResponse,
        query=(
            QueryParam(name="licence_id", description="Only the uses of this licence."),
            *PAGE_QUERY,
        ),
        errors=_LIST_ERRORS,
    ),
    _route(
        method="POST",
        path=OFFICE,
        operation_id="issueLicence",
        summary="Issue a licence of the caller's department's types to its holder, signed with "
        "the department's SM2 key (its licence issuers).",
        handler=issue,
        audience="office",
        body=pb.IssueLicenceRequest,
        read_only=frozenset({"request_id"}),
        response=pb.Licence,
        status=201,
        idempotency_key=True,
        errors=_WRITE_ERRORS,
    ),
    _route(
        method="GET",
        path=OFFICE,
        operation_id="listIssuedLicences",
        summary="The licences the caller's department issued (without their fields), newest first.",
        handler=list_licences,
        audience="office",
        response=pb.ListLicencesResponse,
        query=LIST_QUERY,
        errors=_LIST_ERRORS,
    ),
    _GRANTS_RECEIVED,  # before {id}: "grants" is not a licence
    _route(
        method="GET",
        path=f"{OFFICE}/{{id}}",
        operation_id="getIssuedLicence",
        summary="One licence the caller's department issued, with its fields.",
        handler=get_licence,
        audience="office",
        response=pb.Licence,
        errors=_READ_ERRORS,
    ),
    *(
        _route(
            method="POST",
            path=f"{OFFICE}/{{id}}/{action}",
            operation_id=f"{action}Licence",
            summary=summary,
            handler=_status_action(method),
            audience="office",
            body=body,
            read_only=_ID_ONLY | ({"request_id"} if action == "renew" else frozenset()),
            response=pb.Licence,
            status=201 if action == "renew" else 200,
            idempotency_key=action == "renew",
            errors=_WRITE_ERRORS,
        )
        for action, method, body, summary in (
            (
                "suspend",
                "SuspendLicence",
                pb.SuspendLicenceRequest,
                "Suspend a valid licence, with the reason.",
            ),
            (
                "resume",
                "ResumeLicence",
                pb.ResumeLicenceRequest,
                "Make a suspended licence valid again.",
            ),
            (
                "revoke",
                "RevokeLicence",
                pb.RevokeLicenceRequest,
                "Revoke a licence for good, with the reason: verifiers see it at once.",
            ),
            (
                "renew",
                "RenewLicence",
                pb.RenewLicenceRequest,
                "Issue the next version (new "
                "fields, or none for a replacement); the old one is superseded.",
            ),
        )
    ),
    dataclasses.replace(
        _VERIFY,
        path=f"{OFFICE}/verify",
        operation_id="verifyLicencePresentationAsStaff",
        summary="Verify a presentation as the caller's department (named in the holder's log).",
        anonymous=False,
        audience="office",
        errors=(400, 401, 413, 415, 422, 503),
    ),
    _RETRIEVE,
    _GRANTED_METADATA,
    dataclasses.replace(
        _VERIFY,
        path=f"{PARTNER}/verify",
        operation_id="verifyLicencePresentationAsPartner",
        summary="Verify a presentation as the calling partner (named in the holder's log).",
        anonymous=False,
        audience="partner",
        errors=(400, 401, 413, 415, 422, 503),
    ),
    dataclasses.replace(
        _GRANTS_RECEIVED,
        path=f"{PARTNER}/grants",
        operation_id="listReceivedUseGrantsAsPartner",
        summary="The use grants holders gave the calling partner, newest first.",
        audience="partner",
    ),
    dataclasses.replace(
        _RETRIEVE,
        path=f"{PARTNER}/grants/{{id}}/licence",
        operation_id="retrieveGrantedLicenceAsPartner",
        audience="partner",
    ),
    dataclasses.replace(
        _GRANTED_METADATA,
        path=f"{PARTNER}/grants/{{id}}/metadata",
        operation_id="exportGrantedLicenceMetadataAsPartner",
        audience="partner",
    ),
)
