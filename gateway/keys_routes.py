"""Keys on the entry points: security officers manage keys at /office; anyone fetches a signing
key's public key at /public to verify signatures offline. Cryptography itself (encrypt, sign,
verify) is for services over gRPC, where the key's policy names them."""

from __future__ import annotations

import html
from typing import TypeVar

import orjson
from aiohttp import web
from google.protobuf.message import Message

from gateway import jsonmap
from gateway.endpoints import PAGE_QUERY, Call, QueryParam, Route, message_response
from smartcity.keys.v1 import keys_pb2

BASE = "/office/v1/keys"


_PAGE = ("page_size", "page_token")
_M = TypeVar("_M", bound=Message)


def _name(call: Call) -> str:
    return call.request.match_info["name"]


def _query(call: Call, message_type: type[_M], names: tuple[str, ...] = _PAGE) -> _M:
    """A request message from the query: integers checked against their field's range."""
    request: _M = jsonmap.parse_query(call.request.query, message_type, names=names)
    return request


async def create_key(call: Call) -> web.StreamResponse:
    reply = await call.rpc(call.upstream.keys.CreateKey, keys_pb2.CreateKeyRequest(key=call.body))
    return message_response(reply.key, status=201, headers={"Location": f"{BASE}/{reply.key.name}"})


async def list_keys(call: Call) -> web.StreamResponse:
    reply = await call.rpc(call.upstream.keys.ListKeys, _query(call, keys_pb2.ListKeysRequest))
    return message_response(reply)


async def get_key(call: Call) -> web.StreamResponse:
    reply = await call.rpc(call.upstream.keys.GetKey, keys_pb2.GetKeyRequest(name=_name(call)))
    return message_response(reply.key)


async def rotate_key(call: Call) -> web.StreamResponse:
    reply = await call.rpc(
        call.upstream.keys.RotateKey, keys_pb2.RotateKeyRequest(name=_name(call))
    )
    return message_response(reply.key)


async def update_key(call: Call) -> web.StreamResponse:
    key: keys_pb2.Key = call.body
    key.name = _name(call)
    request = keys_pb2.UpdateKeyRequest(key=key)
    request.update_mask.paths.extend(await call.update_mask())
    reply = await call.rpc(call.upstream.keys.UpdateKey, request)
    return message_response(reply.key)


async def schedule_deletion(call: Call) -> web.StreamResponse:
    request = _query(call, keys_pb2.ScheduleKeyDeletionRequest, ("pending_days",))
    request.name = _name(call)
    reply = await call.rpc(call.upstream.keys.ScheduleKeyDeletion, request)
    return message_response(reply.key)


async def cancel_deletion(call: Call) -> web.StreamResponse:
    reply = await call.rpc(
        call.upstream.keys.CancelKeyDeletion, keys_pb2.CancelKeyDeletionRequest(name=_name(call))
    )
    return message_response(reply.key)


async def public_key(call: Call) -> web.StreamResponse:
    request = _query(call, keys_pb2.GetPublicKeyRequest, ("version",))
    request.name = _name(call)
    reply = await call.rpc(call.upstream.keys.GetPublicKey, request)
    return message_response(reply, headers={"Cache-Control": "public, max-age=300"})


async def key_usage(call: Call) -> web.StreamResponse:
    request = _query(call, keys_pb2.ListKeyUsageRequest, (*_PAGE, "actor_id"))
    request.name = _name(call)
    reply = await call.rpc(call.upstream.keys.ListKeyUsage, request)
    return message_response(reply)


async def issue_code(call: Call) -> web.StreamResponse:
    reply = await call.rpc(
        call.upstream.keys.IssueAuthorisationCode,
        keys_pb2.IssueAuthorisationCodeRequest(code=call.body),
    )
    return message_response(reply, status=201)


async def list_codes(call: Call) -> web.StreamResponse:
    reply = await call.rpc(
        call.upstream.keys.ListAuthorisationCodes,
        _query(call, keys_pb2.ListAuthorisationCodesRequest, (*_PAGE, "consumer")),
    )
    return message_response(reply)


async def rotate_code(call: Call) -> web.StreamResponse:
    reply = await call.rpc(
        call.upstream.keys.RotateAuthorisationCode,
        keys_pb2.RotateAuthorisationCodeRequest(id=call.request.match_info["id"]),
    )
    return message_response(reply)


async def revoke_code(call: Call) -> web.StreamResponse:
    reply = await call.rpc(
        call.upstream.keys.RevokeAuthorisationCode,
        keys_pb2.RevokeAuthorisationCodeRequest(id=call.request.match_info["id"]),
    )
    return message_response(reply.code)


async def audit_records(call: Call) -> web.StreamResponse:
    request = _query(call, keys_pb2.ListAuditRecordsRequest, (*_PAGE, "actor_id", "resource_id"))
    reply = await call.rpc(call.upstream.keys.ListAuditRecords, request)
    return message_response(reply)


async def verify_audit_chain(call: Call) -> web.StreamResponse:
    reply = await call.rpc(call.upstream.keys.VerifyAuditChain, keys_pb2.VerifyAuditChainRequest())
    return message_response(reply)


async def crypto_assessment(call: Call) -> web.StreamResponse:
    """The keys service's assessment, with identity's token signing keys added from its JWKS."""
    report = await call.rpc(
        call.upstream.keys.GetCryptoAssessment, keys_pb2.GetCryptoAssessmentRequest()
    )
    for jwk in orjson.loads(await call.upstream.fetch_jwks()).get("keys", []):
        report.keys.add(
            holder="identity",
            name=str(jwk.get("kid", "")),
            purpose="sign",
            algorithm="ed25519" if jwk.get("crv") == "Ed25519" else str(jwk.get("alg", "")),
            national=False,
            state=keys_pb2.KEY_STATE_ENABLED,
        )
        report.findings.add(
            severity="medium",
            key=f"identity:{jwk.get('kid', '')}",
            finding="access tokens are signed with Ed25519 so that any JWT library verifies "
            "them; they carry identifiers only, never graded data",
        )
    if call.request.query.get("format") == "html":
        return web.Response(
            text=assessment_page(report),
            content_type="text/html",
            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
        )
    return message_response(report)


def assessment_page(report: keys_pb2.GetCryptoAssessmentResponse) -> str:
    """The assessment as a page an assessor can read and print."""
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (
                k.holder,
                k.name,
                k.purpose,
                k.algorithm,
                "yes" if k.national else "no",
                keys_pb2.KeyState.Name(k.state).removeprefix("KEY_STATE_").lower(),
                k.latest_version,
                k.age_days,
                k.rotation_period_days or "on demand",
                "OVERDUE" if k.rotation_overdue else "",
            )
        )
        + "</tr>"
        for k in report.keys
    )
    findings = "".join(
        f"<li><b>{html.escape(f.severity)}</b> {html.escape(f.key)}: {html.escape(f.finding)}</li>"
        for f in report.findings
    )
    when = report.assess_time.ToDatetime().isoformat(timespec="seconds")
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "holder",
            "key",
            "purpose",
            "algorithm",
            "national",
            "state",
            "version",
            "age (days)",
            "rotation period",
            "rotation",
        )
    )
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        "<title>Cryptographic assessment</title>"
        "<style>body{font:14px sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #999;padding:4px 8px;text-align:left}</style>"
        f"<h1>Cryptographic assessment (GB/T 39786)</h1><p>Assessed {when} UTC.</p>"
        f"<h2>Findings</h2><ul>{findings or '<li>none</li>'}</ul>"
        f"<h2>Keys</h2><table><tr>{head}</tr>{rows}</table></html>"
    )


INCIDENTS = "/office/v1/incidents"


async def report_incident(call: Call) -> web.StreamResponse:
    reply = await call.rpc(
        call.upstream.keys.ReportIncident, keys_pb2.ReportIncidentRequest(incident=call.body)
    )
    location = f"{INCIDENTS}/{reply.incident.id}"
    return message_response(reply.incident, status=201, headers={"Location": location})


async def list_incidents(call: Call) -> web.StreamResponse:
    reply = await call.rpc(
        call.upstream.keys.ListIncidents,
        _query(call, keys_pb2.ListIncidentsRequest),
    )
    return message_response(reply)


async def get_incident(call: Call) -> web.StreamResponse:
    reply = await call.rpc(
        call.upstream.keys.GetIncident,
        keys_pb2.GetIncidentRequest(id=call.request.match_info["id"]),
    )
    return message_response(reply.incident)


async def advance_incident(call: Call) -> web.StreamResponse:
    request: keys_pb2.AdvanceIncidentRequest = call.body
    request.id = call.request.match_info["id"]
    reply = await call.rpc(call.upstream.keys.AdvanceIncident, request)
    return message_response(reply.incident)


async def incident_report(call: Call) -> web.StreamResponse:
    reply = await call.rpc(
        call.upstream.keys.GetIncidentReport,
        keys_pb2.GetIncidentReportRequest(id=call.request.match_info["id"]),
    )
    return web.Response(
        text=reply.report,
        content_type="text/markdown",
        headers={"Digest-SM3": reply.sm3},
    )


_MANAGED = (401, 403, 404, 409, 503)
CODES = "/office/v1/authorisation-codes"
ROUTES: tuple[Route, ...] = (
    Route(
        method="POST",
        path=BASE,
        operation_id="createKey",
        summary="Create a named key (security officers): SM2, SM4-GCM or HMAC-SM3 by default.",
        tag="keys",
        handler=create_key,
        audience="office",
        body=keys_pb2.Key,
        read_only=frozenset(
            {"latest_version", "min_decryption_version", "state", "owner_department"}
            | {"versions", "create_time", "delete_time", "national"}
        ),
        response=keys_pb2.Key,
        status=201,
        errors=(400, 401, 403, 409, 415, 422, 503),
    ),
    Route(
        method="GET",
        path=BASE,
        operation_id="listKeys",
        summary="Page through the keys (security officers, administrators, auditors).",
        tag="keys",
        handler=list_keys,
        audience="office",
        response=keys_pb2.ListKeysResponse,
        query=PAGE_QUERY,
        errors=(400, 401, 403, 422, 503),
    ),
    Route(
        method="GET",
        path=f"{BASE}/{{name}}",
        operation_id="getKey",
        summary="A key's configuration, policy and versions; never its material.",
        tag="keys",
        handler=get_key,
        audience="office",
        response=keys_pb2.Key,
        errors=_MANAGED,
    ),
    Route(
        method="PATCH",
        path=f"{BASE}/{{name}}",
        operation_id="updateKey",
        summary="Change min_decryption_version, rotation_period_days or the policy (the fields "
        "sent).",
        tag="keys",
        handler=update_key,
        audience="office",
        body=keys_pb2.Key,
        read_only=frozenset(keys_pb2.Key.DESCRIPTOR.fields_by_name)
        - {"min_decryption_version", "rotation_period_days", "policy"},
        response=keys_pb2.Key,
        errors=(400, *_MANAGED, 415, 422),
    ),
    Route(
        method="POST",
        path=f"{BASE}/{{name}}/rotate",
        operation_id="rotateKey",
        summary="Add a new version; new operations use it, older versions still decrypt.",
        tag="keys",
        handler=rotate_key,
        audience="office",
        response=keys_pb2.Key,
        errors=_MANAGED,
    ),
    Route(
        method="POST",
        path=f"{BASE}/{{name}}/schedule-deletion",
        operation_id="scheduleKeyDeletion",
        summary="Disable the key now and destroy it after 7 to 30 days (30 by default).",
        tag="keys",
        handler=schedule_deletion,
        audience="office",
        response=keys_pb2.Key,
        query=(QueryParam(name="pending_days", description="7 to 30.", type="integer"),),
        errors=(400, *_MANAGED, 422),
    ),
    Route(
        method="POST",
        path=f"{BASE}/{{name}}/cancel-deletion",
        operation_id="cancelKeyDeletion",
        summary="Enable a key whose deletion is pending.",
        tag="keys",
        handler=cancel_deletion,
        audience="office",
        response=keys_pb2.Key,
        errors=_MANAGED,
    ),
    Route(
        method="GET",
        path=f"{BASE}/{{name}}/usage",
        operation_id="listKeyUsage",
        summary="Who used the key, through which service, for what and how often: its counted "
        "uses and refusals, about a second behind (auditors, security officers, administrators).",
        tag="keys",
        handler=key_usage,
        audience="office",
        response=keys_pb2.ListKeyUsageResponse,
        query=(*PAGE_QUERY, QueryParam(name="actor_id", description="Only this actor's.")),
        errors=(400, *_MANAGED, 422),
    ),
    Route(
        method="GET",
        path="/public/v1/keys/{name}/public-key",
        operation_id="getPublicKey",
        summary="A signing key's public key (PEM), to verify its signatures offline.",
        tag="keys",
        handler=public_key,
        anonymous=True,
        response=keys_pb2.GetPublicKeyResponse,
        query=(QueryParam(name="version", description="Default: the newest.", type="integer"),),
        errors=(400, 404, 409, 422, 503),
    ),
    Route(
        method="POST",
        path=CODES,
        operation_id="issueAuthorisationCode",
        summary="Issue an interface authorisation code to a consumer (Big Data Bureau "
        "administrators, security officers); the code is shown once. expire_time defaults to "
        "90 days ahead, rate_limit_per_minute to 600.",
        tag="keys",
        handler=issue_code,
        audience="office",
        body=keys_pb2.AuthorisationCode,
        read_only=frozenset({"id", "state", "uses", "last_use_time", "create_time", "rotations"}),
        response=keys_pb2.IssueAuthorisationCodeResponse,
        status=201,
        errors=(400, 401, 403, 415, 422, 503),
    ),
    Route(
        method="GET",
        path=CODES,
        operation_id="listAuthorisationCodes",
        summary="Page through the authorisation codes with their use counts; never the codes.",
        tag="keys",
        handler=list_codes,
        audience="office",
        response=keys_pb2.ListAuthorisationCodesResponse,
        query=(*PAGE_QUERY, QueryParam(name="consumer", description="Only this consumer's.")),
        errors=(400, 401, 403, 422, 503),
    ),
    Route(
        method="POST",
        path=f"{CODES}/{{id}}/rotate",
        operation_id="rotateAuthorisationCode",
        summary="Replace the code's secret: the old one stops working on every replica at once.",
        tag="keys",
        handler=rotate_code,
        audience="office",
        response=keys_pb2.RotateAuthorisationCodeResponse,
        errors=_MANAGED,
    ),
    Route(
        method="POST",
        path=f"{CODES}/{{id}}/revoke",
        operation_id="revokeAuthorisationCode",
        summary="Revoke the code: every replica refuses it within a second.",
        tag="keys",
        handler=revoke_code,
        audience="office",
        response=keys_pb2.AuthorisationCode,
        errors=_MANAGED,
    ),
    Route(
        method="GET",
        path="/office/v1/audit/records",
        operation_id="listAuditRecords",
        summary="Page through the audit chain (auditors, security officers, administrators).",
        tag="audit",
        handler=audit_records,
        audience="office",
        response=keys_pb2.ListAuditRecordsResponse,
        query=(
            *PAGE_QUERY,
            QueryParam(name="actor_id", description="Only this actor's."),
            QueryParam(name="resource_id", description="Only this resource's."),
        ),
        errors=(400, 401, 403, 422, 503),
    ),
    Route(
        method="POST",
        path="/office/v1/audit/verify",
        operation_id="verifyAuditChain",
        summary="Recompute the whole audit chain and check its signed checkpoints; names the "
        "first record that does not hold.",
        tag="audit",
        handler=verify_audit_chain,
        audience="office",
        response=keys_pb2.VerifyAuditChainResponse,
        errors=(401, 403, 503),
    ),
    Route(
        method="GET",
        path="/office/v1/crypto-assessment",
        operation_id="getCryptoAssessment",
        summary="Every key on the platform with its algorithm, versions, age and rotation state, "
        "and the findings (Art. 39); ?format=html for a readable page.",
        tag="keys",
        handler=crypto_assessment,
        audience="office",
        response=keys_pb2.GetCryptoAssessmentResponse,
        query=(QueryParam(name="format", description="json (default) or html."),),
        errors=(401, 403, 503),
    ),
    Route(
        method="POST",
        path=INCIDENTS,
        operation_id="reportIncident",
        summary="Report a security incident (security officers).",
        tag="incidents",
        handler=report_incident,
        audience="office",
        body=keys_pb2.Incident,
        read_only=frozenset({"id", "stage", "timeline", "create_time"}),
        response=keys_pb2.Incident,
        status=201,
        errors=(400, 401, 403, 415, 422, 503),
    ),
    Route(
        method="GET",
        path=INCIDENTS,
        operation_id="listIncidents",
        summary="Page through the incidents, newest first.",
        tag="incidents",
        handler=list_incidents,
        audience="office",
        response=keys_pb2.ListIncidentsResponse,
        query=PAGE_QUERY,
        errors=(400, 401, 403, 422, 503),
    ),
    Route(
        method="GET",
        path=f"{INCIDENTS}/{{id}}",
        operation_id="getIncident",
        summary="An incident with its timeline.",
        tag="incidents",
        handler=get_incident,
        audience="office",
        response=keys_pb2.Incident,
        errors=(401, 403, 404, 503),
    ),
    Route(
        method="POST",
        path=f"{INCIDENTS}/{{id}}/advance",
        operation_id="advanceIncident",
        summary="Move the incident to its next stage: contained, users_notified, "
        "authority_reported, closed; the note says what was done.",
        tag="incidents",
        handler=advance_incident,
        audience="office",
        body=keys_pb2.AdvanceIncidentRequest,
        read_only=frozenset({"id"}),
        response=keys_pb2.Incident,
        errors=(400, 401, 403, 404, 409, 415, 422, 503),
    ),
    Route(
        method="GET",
        path=f"{INCIDENTS}/{{id}}/report",
        operation_id="getIncidentReport",
        summary="The report to the authority, generated from the timeline (Markdown; its SM3 "
        "digest in the Digest-SM3 header).",
        tag="incidents",
        handler=incident_report,
        audience="office",
        errors=(401, 403, 404, 503),
    ),
)
