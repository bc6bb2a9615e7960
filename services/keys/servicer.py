"""KeysService over gRPC: translate, authorise, delegate.

Managing keys is for security officers. Using a key is decided by the key's own policy, checked
on every call against the caller's token (a member of staff, or a service acting on its own or,
with `smartcity-subject-token`, for the subject it serves); the `@allow` lines only say that a
signed-in caller is needed at all. Every use and every refusal is counted and audited
(`services.keys.usage`).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import grpc
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from runtime import algorithms, logs
from runtime.auth import (
    ANONYMOUS,
    OFFICE,
    SIGNED_IN,
    Policy,
    Principal,
    allow,
    policies_of,
    require_principal,
)
from runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from runtime.pagination import decode_cursor, encode_cursor, page_size
from runtime.service import ServiceRuntime
from runtime.storage import now_us, page, timestamp
from runtime.unit_of_work import UnitOfWork
from services.keys import assessment, audit, domain, events, store, usage
from services.keys.authcodes import AuthorisationCodes
from services.keys.domain import KeyCall, KeyInfo
from services.keys.incidents import Incidents
from services.keys.keyring import Keyring
from services.keys.usage import KeyUsage
from smartcity.keys.v1 import events_pb2, keys_pb2, keys_pb2_grpc

log = logs.get(__name__)

SERVICE = keys_pb2.DESCRIPTOR.services_by_name["KeysService"].full_name
# Security officers manage keys (Art. 39's cryptographic protection system is theirs) and
# handle incidents (Art. 38); auditors and administrators read.
# Which members of staff may call each method: the role table, runtime/roles.py; the names
# below say whom each method is for.
SECURITY_OFFICERS = OFFICE
# Whoever the key's policy names: staff at the office, or services; checked per key.
USERS = SIGNED_IN.but(audiences=("office", "service"))
# Whom a service may act for (smartcity-subject-token): the same callers.
SUBJECTS = USERS.audiences
# The Big Data Bureau keeps interface authorisation codes (Art. 38).
CODE_KEEPERS = OFFICE
# Consumers present codes: departments' staff and services, and partners.
CODE_PRESENTERS = SIGNED_IN.but(audiences=("office", "partner", "service"))
SERVICES_ONLY = SIGNED_IN.but(audiences=("service",))
AUDITORS = OFFICE


def _check_payload(field: str, data: bytes) -> None:
    if len(data) > domain.MAX_PAYLOAD:
        raise InvalidArgument.of(field, f"is larger than {domain.MAX_PAYLOAD} bytes")


def _subject_token(context: grpc.aio.ServicerContext) -> str:
    for item in context.invocation_metadata() or ():
        if item.key == domain.SUBJECT_TOKEN_METADATA:
            return str(item.value)
    return ""


class KeysServicer(keys_pb2_grpc.KeysServiceServicer):
    def __init__(
        self, rt: ServiceRuntime, keyring: Keyring, codes: AuthorisationCodes, uses: KeyUsage
    ) -> None:
        self._rt = rt
        self._keyring = keyring
        self._codes = codes
        self._uses = uses
        self._incidents = Incidents(rt)

    async def _message(self, key: KeyInfo) -> keys_pb2.Key:
        async with self._rt.db.read() as conn:
            versions = await store.versions(conn, key.name)
        message = keys_pb2.Key(
            name=key.name,
            purpose=domain.PURPOSE_NUMBERS[key.purpose],
            algorithm=key.algorithm,
            national=algorithms.ALGORITHMS[key.algorithm].national,
            latest_version=key.latest_version,
            min_decryption_version=key.min_decryption_version,
            rotation_period_days=key.rotation_period_days,
            state=domain.STATE_NUMBERS[key.state],
            owner_department=key.owner_department,
            versions=[
                keys_pb2.KeyVersion(version=v, create_time=timestamp(at)) for v, at in versions
            ],
            create_time=timestamp(key.created_us),
        )
        message.policy.services.extend(sorted(key.services))
        for grant in key.grants:
            message.policy.grants.add(
                services=sorted(grant.services),
                departments=sorted(grant.departments),
                roles=sorted(grant.roles),
                operations=sorted(grant.operations),
            )
        if key.delete_after_us:
            message.delete_time.CopyFrom(timestamp(key.delete_after_us))
        return message

    async def _fresh(self, name: str) -> keys_pb2.Key:
        self._keyring.forget(name)
        return await self._message(await self._keyring.key(name))

    # --- managing keys -----------------------------------------------------------------------

    @allow(SECURITY_OFFICERS)
    async def CreateKey(
        self, request: keys_pb2.CreateKeyRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.CreateKeyResponse:
        principal = require_principal()
        key = domain.new_key(request.key, owner_department=principal.department)
        if not await create(self._rt, self._keyring, key, by=principal):
            raise AlreadyExists(f"a key named {key.name} exists")
        log.info("key_created", key=key.name, algorithm=key.algorithm, by=principal.subject)
        return keys_pb2.CreateKeyResponse(key=await self._fresh(key.name))

    @allow(AUDITORS)
    async def GetKey(
        self, request: keys_pb2.GetKeyRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.GetKeyResponse:
        return keys_pb2.GetKeyResponse(key=await self._fresh(request.name))

    @allow(AUDITORS)
    async def ListKeys(
        self, request: keys_pb2.ListKeysRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.ListKeysResponse:
        async with self._rt.db.read() as conn:
            found, after = await store.list_keys(
                conn,
                after_seq=decode_cursor(request.page_token),
                limit=page_size(request.page_size),
            )
        return keys_pb2.ListKeysResponse(
            keys=[await self._message(k) for k in found], next_page_token=encode_cursor(after)
        )

    @allow(SECURITY_OFFICERS)
    async def RotateKey(
        self, request: keys_pb2.RotateKeyRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.RotateKeyResponse:
        key = await rotate(self._rt, self._keyring, request.name, by=require_principal())
        log.info(
            "key_rotated", key=key.name, version=key.latest_version, by=require_principal().subject
        )
        return keys_pb2.RotateKeyResponse(key=await self._fresh(key.name))

    @allow(SECURITY_OFFICERS)
    async def UpdateKey(
        self, request: keys_pb2.UpdateKeyRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.UpdateKeyResponse:
        changes = request.key
        key = await self._keyring.key(changes.name)
        paths = set(request.update_mask.paths) or {"min_decryption_version"}
        allowed = {"min_decryption_version", "rotation_period_days", "policy"}
        if unknown := paths - allowed:
            raise InvalidArgument.of(
                "update_mask",
                "only these can change: "
                + ", ".join(sorted(allowed))
                + f"; not {', '.join(sorted(unknown))}",
            )
        values: dict[str, Any] = {}
        if "min_decryption_version" in paths:
            if not 1 <= changes.min_decryption_version <= key.latest_version:
                raise InvalidArgument.of(
                    "key.min_decryption_version", f"must be 1 to {key.latest_version}"
                )
            values["min_decryption_version"] = changes.min_decryption_version
        if "rotation_period_days" in paths:
            if not 0 <= changes.rotation_period_days <= domain.MAX_ROTATION_DAYS:
                raise InvalidArgument.of(
                    "key.rotation_period_days", f"must be 0 to {domain.MAX_ROTATION_DAYS}"
                )
            values["rotation_period_days"] = changes.rotation_period_days
        if "policy" in paths:
            policy = domain.policy_from(changes.policy, purpose=key.purpose, path="key.policy")
            values["grants"], values["services"] = policy.grants, policy.services
        await self._change(key, "updated", **values)
        log.info("key_updated", key=key.name, fields=sorted(paths), by=require_principal().subject)
        return keys_pb2.UpdateKeyResponse(key=await self._fresh(key.name))

    async def _change(self, key: KeyInfo, change: str, **values: Any) -> None:
        await reconfigure(self._rt, self._keyring, key, change, by=require_principal(), **values)

    @allow(SECURITY_OFFICERS)
    async def ScheduleKeyDeletion(
        self, request: keys_pb2.ScheduleKeyDeletionRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.ScheduleKeyDeletionResponse:
        key = await self._keyring.usable(request.name)
        days = domain.pending_days(request.pending_days)
        await self._change(
            key,
            "deletion_scheduled",
            state=domain.PENDING_DELETION,
            delete_after_us=now_us() + days * 86400 * 10**6,
        )
        log.warning(
            "key_deletion_scheduled", key=key.name, days=days, by=require_principal().subject
        )
        return keys_pb2.ScheduleKeyDeletionResponse(key=await self._fresh(key.name))

    @allow(SECURITY_OFFICERS)
    async def CancelKeyDeletion(
        self, request: keys_pb2.CancelKeyDeletionRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.CancelKeyDeletionResponse:
        key = await self._keyring.key(request.name)
        if key.state != domain.PENDING_DELETION:
            raise FailedPrecondition(f"key {key.name} is not pending deletion")
        await self._change(key, "deletion_cancelled", state=domain.ENABLED, delete_after_us=None)
        log.warning("key_deletion_cancelled", key=key.name, by=require_principal().subject)
        return keys_pb2.CancelKeyDeletionResponse(key=await self._fresh(key.name))

    @allow(ANONYMOUS)  # public keys are public: verifiers work offline with them
    async def GetPublicKey(
        self, request: keys_pb2.GetPublicKeyRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.GetPublicKeyResponse:
        key = await self._keyring.key(request.name)
        if key.purpose != domain.SIGN:
            raise FailedPrecondition(f"{key.name} is a {key.purpose} key: it has no public key")
        version = request.version or key.latest_version
        pem = await self._keyring.public_key_pem(key, version)
        return keys_pb2.GetPublicKeyResponse(
            name=key.name, version=version, algorithm=key.algorithm, public_key_pem=pem.decode()
        )

    # --- using keys --------------------------------------------------------------------------

    async def _call(self, context: grpc.aio.ServicerContext) -> KeyCall:
        """The caller, and the subject it acts for when a service names one."""
        caller = require_principal()
        token = _subject_token(context)
        if not token:
            return domain.key_call(caller)
        if not domain.key_call(caller).service:
            return domain.key_call(caller, caller)  # refused by the policy, and counted
        subject = await self._rt.verifier.verify(token, audiences=SUBJECTS)
        USERS.check(subject)
        return domain.key_call(caller, subject)

    async def _for(
        self, name: str, operation: int, context: grpc.aio.ServicerContext
    ) -> tuple[KeyInfo, KeyCall]:
        """The key, if the call may use it for the operation; a refusal is counted."""
        key = await self._keyring.usable(name)
        call = await self._call(context)
        try:
            domain.authorise(key, call, operation)
        except domain.KeyPolicyDenied as denied:
            self._uses.denied(key.name, operation, call, denied.rule)
            raise
        return key, call

    async def _encrypt(self, key: KeyInfo, plaintext: bytes, associated_data: bytes) -> str:
        version = key.latest_version
        material = await self._keyring.material(key, version)
        blob = algorithms.encrypt(
            key.algorithm,
            material,
            plaintext,
            associated_data=domain.associated_data(key.name, version, associated_data),
        )
        return domain.wrap(key.name, version, blob)

    async def _decrypt(
        self, key: KeyInfo, ciphertext: str, associated_data: bytes, *, use: tuple[int, KeyCall]
    ) -> tuple[int, bytes]:
        """The version and plaintext of a ciphertext; a failure is counted against `use`
        (operation, call)."""
        version, blob = domain.unwrap(ciphertext, name=key.name, field_name="ciphertext")
        self._keyring.check_version(key, version, field_name="ciphertext")
        material = await self._keyring.material(key, version)
        try:
            plaintext = algorithms.decrypt(
                key.algorithm,
                material,
                blob,
                associated_data=domain.associated_data(key.name, version, associated_data),
            )
        except algorithms.DecryptionFailed:
            self._uses.failed(key.name, version, *use)
            raise InvalidArgument.of(
                "ciphertext", "does not decrypt: tampered, or other associated data"
            ) from None
        return version, plaintext

    @allow(USERS)
    async def Encrypt(
        self, request: keys_pb2.EncryptRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.EncryptResponse:
        _check_payload("plaintext", request.plaintext)
        operation = keys_pb2.KEY_OPERATION_ENCRYPT
        key, call = await self._for(request.name, operation, context)
        ciphertext = await self._encrypt(key, request.plaintext, request.associated_data)
        self._uses.used(key.name, key.latest_version, operation, call)
        return keys_pb2.EncryptResponse(ciphertext=ciphertext)

    @allow(USERS)
    async def Decrypt(
        self, request: keys_pb2.DecryptRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.DecryptResponse:
        operation = keys_pb2.KEY_OPERATION_DECRYPT
        key, call = await self._for(request.name, operation, context)
        version, plaintext = await self._decrypt(
            key, request.ciphertext, request.associated_data, use=(operation, call)
        )
        self._uses.used(key.name, version, operation, call)
        return keys_pb2.DecryptResponse(plaintext=plaintext)

    @allow(USERS)
    async def Rewrap(
        self, request: keys_pb2.RewrapRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.RewrapResponse:
        operation = keys_pb2.KEY_OPERATION_REWRAP
        key, call = await self._for(request.name, operation, context)
        # The plaintext lives only in this process, between these two lines.
        version, plaintext = await self._decrypt(
            key, request.ciphertext, request.associated_data, use=(operation, call)
        )
        ciphertext = await self._encrypt(key, plaintext, request.associated_data)
        self._uses.used(key.name, version, operation, call)
        return keys_pb2.RewrapResponse(ciphertext=ciphertext)

    @allow(USERS)
    async def GenerateDataKey(
        self, request: keys_pb2.GenerateDataKeyRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.GenerateDataKeyResponse:
        length = request.length or domain.DATA_KEY_LENGTHS[0]
        if length not in domain.DATA_KEY_LENGTHS:
            raise InvalidArgument.of("length", "must be 16 (SM4) or 32 (AES-256)")
        operation = keys_pb2.KEY_OPERATION_GENERATE_DATA_KEY
        key, call = await self._for(request.name, operation, context)
        data_key = os.urandom(length)
        ciphertext = await self._encrypt(key, data_key, request.associated_data)
        self._uses.used(key.name, key.latest_version, operation, call)
        return keys_pb2.GenerateDataKeyResponse(
            plaintext=data_key if request.include_plaintext else b"", ciphertext=ciphertext
        )

    @allow(USERS)
    async def Sign(
        self, request: keys_pb2.SignRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.SignResponse:
        _check_payload("message", request.message)
        operation = keys_pb2.KEY_OPERATION_SIGN
        key, call = await self._for(request.name, operation, context)
        version = key.latest_version
        material = await self._keyring.material(key, version)
        signature = algorithms.sign(key.algorithm, material, request.message)
        self._uses.used(key.name, version, operation, call)
        return keys_pb2.SignResponse(signature=domain.wrap(key.name, version, signature))

    @allow(USERS)
    async def SignBatch(
        self, request: keys_pb2.SignBatchRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.SignBatchResponse:
        if not 1 <= len(request.messages) <= domain.MAX_BATCH:
            raise InvalidArgument.of("messages", f"must hold 1 to {domain.MAX_BATCH} messages")
        if sum(len(m) for m in request.messages) > domain.MAX_BATCH_BYTES:
            raise InvalidArgument.of("messages", f"are over {domain.MAX_BATCH_BYTES} bytes in all")
        operation = keys_pb2.KEY_OPERATION_SIGN
        key, call = await self._for(request.name, operation, context)
        version = key.latest_version
        material = await self._keyring.material(key, version)
        # A batch keeps the loop busy for long: off it, so other calls are answered meanwhile.
        signatures = await asyncio.to_thread(
            lambda: [algorithms.sign(key.algorithm, material, m) for m in request.messages]
        )
        self._uses.used(key.name, version, operation, call, count=len(signatures))
        return keys_pb2.SignBatchResponse(
            signatures=[domain.wrap(key.name, version, s) for s in signatures]
        )

    @allow(USERS)
    async def Verify(
        self, request: keys_pb2.VerifyRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.VerifyResponse:
        _check_payload("message", request.message)
        operation = keys_pb2.KEY_OPERATION_VERIFY
        key, call = await self._for(request.name, operation, context)
        version, signature = domain.unwrap(request.signature, name=key.name, field_name="signature")
        self._keyring.check_version(key, version, field_name="signature")
        pem = await self._keyring.public_key_pem(key, version)
        valid = algorithms.verify(key.algorithm, pem, request.message, signature=signature)
        self._uses.used(key.name, version, operation, call)
        return keys_pb2.VerifyResponse(valid=valid)

    @allow(USERS)
    async def ComputeMac(
        self, request: keys_pb2.ComputeMacRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.ComputeMacResponse:
        _check_payload("message", request.message)
        operation = keys_pb2.KEY_OPERATION_MAC
        key, call = await self._for(request.name, operation, context)
        version = key.latest_version
        material = await self._keyring.material(key, version)
        tag = algorithms.mac(key.algorithm, material, request.message)
        self._uses.used(key.name, version, operation, call)
        return keys_pb2.ComputeMacResponse(mac=domain.wrap(key.name, version, tag))

    @allow(USERS)
    async def VerifyMac(
        self, request: keys_pb2.VerifyMacRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.VerifyMacResponse:
        _check_payload("message", request.message)
        operation = keys_pb2.KEY_OPERATION_VERIFY_MAC
        key, call = await self._for(request.name, operation, context)
        version, tag = domain.unwrap(request.mac, name=key.name, field_name="mac")
        self._keyring.check_version(key, version, field_name="mac")
        material = await self._keyring.material(key, version)
        valid = algorithms.mac_verify(key.algorithm, material, request.message, tag=tag)
        self._uses.used(key.name, version, operation, call)
        return keys_pb2.VerifyMacResponse(valid=valid)

    # --- interface authorisation codes (Art. 38) ------------------------------------------

    @allow(CODE_KEEPERS)
    async def IssueAuthorisationCode(
        self, request: keys_pb2.IssueAuthorisationCodeRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.IssueAuthorisationCodeResponse:
        return await self._codes.issue(request, require_principal())

    @allow(AUDITORS)
    async def ListAuthorisationCodes(
        self, request: keys_pb2.ListAuthorisationCodesRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.ListAuthorisationCodesResponse:
        return await self._codes.list(request)

    @allow(CODE_KEEPERS)
    async def RotateAuthorisationCode(
        self, request: keys_pb2.RotateAuthorisationCodeRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.RotateAuthorisationCodeResponse:
        return await self._codes.rotate(request, require_principal())

    @allow(CODE_KEEPERS)
    async def RevokeAuthorisationCode(
        self, request: keys_pb2.RevokeAuthorisationCodeRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.RevokeAuthorisationCodeResponse:
        return await self._codes.revoke(request, require_principal())

    @allow(CODE_PRESENTERS)
    async def VerifyAuthorisationCode(
        self, request: keys_pb2.VerifyAuthorisationCodeRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.VerifyAuthorisationCodeResponse:
        return await self._codes.verify(request, require_principal())

    @allow(SERVICES_ONLY)
    async def ReportAuthorisationCodeUses(
        self,
        request: keys_pb2.ReportAuthorisationCodeUsesRequest,
        context: grpc.aio.ServicerContext,
    ) -> keys_pb2.ReportAuthorisationCodeUsesResponse:
        await self._codes.report_uses(request, require_principal())
        return keys_pb2.ReportAuthorisationCodeUsesResponse()

    # --- the cryptographic assessment (Art. 39) ----------------------------------------------

    @allow(AUDITORS)
    async def GetCryptoAssessment(
        self, request: keys_pb2.GetCryptoAssessmentRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.GetCryptoAssessmentResponse:
        async with self._rt.db.read() as conn:
            found, versions = await store.every_key(conn)
        return assessment.assess(found, versions, now_us=now_us())

    # --- security incidents (Art. 38) --------------------------------------------------------

    @allow(SECURITY_OFFICERS)
    async def ReportIncident(
        self, request: keys_pb2.ReportIncidentRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.ReportIncidentResponse:
        incident = await self._incidents.report(request.incident, require_principal())
        return keys_pb2.ReportIncidentResponse(incident=incident)

    @allow(AUDITORS)
    async def GetIncident(
        self, request: keys_pb2.GetIncidentRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.GetIncidentResponse:
        return keys_pb2.GetIncidentResponse(incident=await self._incidents.get(request.id))

    @allow(AUDITORS)
    async def ListIncidents(
        self, request: keys_pb2.ListIncidentsRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.ListIncidentsResponse:
        return await self._incidents.list(request)

    @allow(SECURITY_OFFICERS)
    async def AdvanceIncident(
        self, request: keys_pb2.AdvanceIncidentRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.AdvanceIncidentResponse:
        incident = await self._incidents.advance(request, require_principal())
        return keys_pb2.AdvanceIncidentResponse(incident=incident)

    @allow(AUDITORS)
    async def GetIncidentReport(
        self, request: keys_pb2.GetIncidentReportRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.GetIncidentReportResponse:
        return await self._incidents.report_document(request.id)

    # --- the audit chain ---------------------------------------------------------------------

    @allow(AUDITORS)
    async def ListAuditRecords(
        self, request: keys_pb2.ListAuditRecordsRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.ListAuditRecordsResponse:
        query = sa.select(audit.chain)
        if request.actor_id:
            query = query.where(audit.chain.c.actor_id == request.actor_id)
        if request.resource_id:
            query = query.where(audit.chain.c.resource_id == request.resource_id)
        async with self._rt.db.read() as conn:
            rows, after = await page(
                conn,
                query,
                position=audit.chain.c.sequence,
                after=decode_cursor(request.page_token),
                limit=page_size(request.page_size),
            )
        response = keys_pb2.ListAuditRecordsResponse(next_page_token=encode_cursor(after))
        for row in rows:
            chained = response.records.add(
                sequence=row.sequence, hash=row.hash, previous_hash=row.previous_hash
            )
            chained.record.ParseFromString(row.record)
        return response

    @allow(AUDITORS)
    async def VerifyAuditChain(
        self, request: keys_pb2.VerifyAuditChainRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.VerifyAuditChainResponse:
        verdict = await audit.verify_chain(self._rt.db)
        log.info("audit_chain_verified", intact=verdict.intact, by=require_principal().subject)
        return keys_pb2.VerifyAuditChainResponse(
            intact=verdict.intact,
            records=verdict.records,
            checkpoints=verdict.checkpoints,
            first_broken_sequence=verdict.first_broken,
            problem=verdict.problem,
        )

    @allow(AUDITORS)
    async def ListKeyUsage(
        self, request: keys_pb2.ListKeyUsageRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.ListKeyUsageResponse:
        key = await self._keyring.key(request.name)
        await self._uses.flush()  # this replica's latest counts too
        async with self._rt.db.read() as conn:
            found, after = await usage.list_usage(
                conn,
                key=key.name,
                actor_id=request.actor_id,
                after=decode_cursor(request.page_token),
                limit=page_size(request.page_size),
            )
        return keys_pb2.ListKeyUsageResponse(usage=found, next_page_token=encode_cursor(after))


def _public_pem(key: KeyInfo, material: bytes) -> str | None:
    if key.purpose != domain.SIGN:
        return None
    return algorithms.public_key_pem(key.algorithm, material).decode()


async def _audit(
    uow: UnitOfWork, action: str, principal: Principal | None, resource_id: str
) -> None:
    await uow.audit(
        action,
        principal=principal,
        resource_type="key",
        resource_id=resource_id,
    )


async def create(
    rt: ServiceRuntime, keyring: Keyring, key: KeyInfo, *, by: Principal | None
) -> bool:
    """Store a validated new key with its first version, its announcement and its audit record;
    False when the name is taken (`by` None: the service's own or demo keys)."""
    material = await asyncio.to_thread(algorithms.generate, key.algorithm)
    try:
        async with rt.unit_of_work() as uow:
            if await store.name_taken(uow.conn, key.name):
                return False
            await store.add_key(uow.conn, key, created_by=by.subject if by else rt.name)
            await store.add_version(
                uow.conn,
                name=key.name,
                version=1,
                sealed=keyring.seal(key.name, 1, material),
                public_key_pem=_public_pem(key, material),
            )
            await uow.publish(
                events.KEY_CREATED,
                events_pb2.KeyCreated(name=key.name, algorithm=key.algorithm),
                entity_id=key.name,
            )
            await _audit(uow, "keys.key.created", by, key.name)
    except IntegrityError:
        return False  # created concurrently, by another request or replica
    return True


async def reconfigure(
    rt: ServiceRuntime,
    keyring: Keyring,
    key: KeyInfo,
    change: str,
    *,
    by: Principal | None,
    **values: Any,
) -> None:
    """Change a key's stored configuration; its announcement and audit record commit with it
    (`by` None: the service itself)."""
    async with rt.unit_of_work() as uow:
        await store.update_key(uow.conn, key.name, **values)
        await _audit(uow, f"keys.key.{change}", by, key.name)
        await uow.publish(
            events.KEY_CHANGED,
            events_pb2.KeyChanged(name=key.name, latest_version=key.latest_version, change=change),
            entity_id=key.name,
        )
    keyring.forget(key.name)


async def rotate(
    rt: ServiceRuntime, keyring: Keyring, name: str, *, by: Principal | None = None
) -> KeyInfo:
    """Add the next version of a key; the announcement and audit record commit with it."""
    key = await keyring.usable(name)
    version = key.latest_version + 1
    material = await asyncio.to_thread(algorithms.generate, key.algorithm)
    try:
        async with rt.unit_of_work() as uow:
            await store.add_version(
                uow.conn,
                name=key.name,
                version=version,
                sealed=keyring.seal(key.name, version, material),
                public_key_pem=_public_pem(key, material),
            )
            await store.update_key(uow.conn, key.name, latest_version=version)
            await uow.publish(
                events.KEY_CHANGED,
                events_pb2.KeyChanged(name=key.name, latest_version=version, change="rotated"),
                entity_id=key.name,
            )
            await _audit(uow, "keys.key.rotated", by, key.name)
    except IntegrityError:
        raise FailedPrecondition(f"key {key.name} was rotated concurrently; retry") from None
    keyring.forget(key.name)
    return await keyring.key(key.name)


POLICIES: dict[str, Policy] = policies_of(KeysServicer, SERVICE)
