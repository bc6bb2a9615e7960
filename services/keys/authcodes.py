"""Interface authorisation codes (接口授权码, Art. 38): issued by the Big Data Bureau to a consumer
(a department or a partner) for named interface services, with an expiry and a rate limit.

A code is `iac.<id>.<secret>`: the id finds the row, the whole code is compared as an HMAC-SM3
keyed hash, so the database never holds a usable code. Revoking or rotating announces the id on
`smartcity.keys.authorisation_code.revoked`, and every verifier's cache drops it at once.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from runtime import crypto, logs
from runtime.auth import PARTNER, SERVICE, Principal
from runtime.errors import FieldViolation, InvalidArgument, NotFound, PermissionDenied
from runtime.pagination import decode_cursor, encode_cursor, page_size
from runtime.service import ServiceRuntime
from runtime.storage import now_us, timestamp
from runtime.unit_of_work import UnitOfWork
from services.keys import events, store
from smartcity.keys.v1 import events_pb2, keys_pb2

log = logs.get(__name__)

ACTIVE, REVOKED = "active", "revoked"
MAX_VALIDITY_DAYS = 366
# A code issued without an expiry: it still ends, so a forgotten code does not live forever.
DEFAULT_VALIDITY_DAYS = 90
MAX_RATE = 100_000
_CONSUMER = re.compile(r"^(department|partner):[a-z0-9][a-z0-9._-]{1,63}$")
_SERVICE = re.compile(r"^[a-z0-9][a-z0-9._/-]{1,99}$")
_CODE = re.compile(r"^iac\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$")
_HASH_PURPOSE = "authorisation-code"


async def _audit(uow: UnitOfWork, action: str, principal: Principal, code_id: str) -> None:
    await uow.audit(
        action,
        principal=principal,
        resource_type="authorisation_code",
        resource_id=code_id,
    )


# The client id the exchange service signs in with (runtime.config.PLATFORM_CLIENTS).
EXCHANGE_CLIENT = "exchange"


class CodeRefused(PermissionDenied):
    """A code that does not open this interface service for this caller; `reason` says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def consumer_of(principal: Principal) -> str:
    """Who presents a code: a partner by its client id, anyone else by their department."""
    if principal.kind == PARTNER:
        return f"partner:{principal.client}"
    return f"department:{principal.department}"


def _state(row: Any, now: int) -> keys_pb2.AuthorisationCodeState.ValueType:
    if row.state == REVOKED:
        return keys_pb2.AUTHORISATION_CODE_STATE_REVOKED
    if row.expire_us <= now:
        return keys_pb2.AUTHORISATION_CODE_STATE_EXPIRED
    return keys_pb2.AUTHORISATION_CODE_STATE_ACTIVE


def code_message(row: Any) -> keys_pb2.AuthorisationCode:
    message = keys_pb2.AuthorisationCode(
        id=row.id,
        consumer=row.consumer,
        interface_services=list(row.interface_services),
        rate_limit_per_minute=row.rate_limit_per_minute,
        expire_time=timestamp(row.expire_us),
        state=_state(row, now_us()),
        uses=row.uses,
        create_time=timestamp(row.created_us),
        rotations=row.rotations,
    )
    if row.last_use_us:
        message.last_use_time.CopyFrom(timestamp(row.last_use_us))
    return message


def _validate(code: keys_pb2.AuthorisationCode) -> tuple[int, int]:
    """The expiry (µs) and rate limit of a code to issue, or InvalidArgument naming each field."""
    violations: list[FieldViolation] = []
    if not _CONSUMER.match(code.consumer):
        violations.append(
            FieldViolation("code.consumer", "must be department:<code> or partner:<client id>")
        )
    if not code.interface_services:
        violations.append(FieldViolation("code.interface_services", "at least one is required"))
    for i, name in enumerate(code.interface_services):
        if not _SERVICE.match(name):
            violations.append(
                FieldViolation(f"code.interface_services[{i}]", "is not an interface service name")
            )
    rate = code.rate_limit_per_minute or 600
    if not 1 <= rate <= MAX_RATE:
        violations.append(FieldViolation("code.rate_limit_per_minute", f"must be 1 to {MAX_RATE}"))
    now = now_us()
    expire = code.expire_time.seconds * 10**6 + code.expire_time.nanos // 1000
    if not code.HasField("expire_time"):
        expire = now + DEFAULT_VALIDITY_DAYS * 86400 * 10**6
    elif expire <= now:
        violations.append(FieldViolation("code.expire_time", "must be in the future"))
    elif expire > now + MAX_VALIDITY_DAYS * 86400 * 10**6:
        violations.append(
            FieldViolation("code.expire_time", f"must be within {MAX_VALIDITY_DAYS} days")
        )
    if violations:
        raise InvalidArgument(violations)
    return expire, rate


class AuthorisationCodes:
    def __init__(self, rt: ServiceRuntime, *, master_key: bytes) -> None:
        self._rt = rt
        self._master_key = master_key

    def _new_secret(self, code_id: str) -> tuple[str, str]:
        secret = f"iac.{code_id}.{secrets.token_urlsafe(32)}"
        return secret, crypto.keyed_hash(self._master_key, secret, purpose=_HASH_PURPOSE)

    async def issue(
        self, request: keys_pb2.IssueAuthorisationCodeRequest, principal: Principal
    ) -> keys_pb2.IssueAuthorisationCodeResponse:
        expire, rate = _validate(request.code)
        code_id = secrets.token_hex(8)
        secret, secret_hash = self._new_secret(code_id)
        async with self._rt.unit_of_work() as uow:
            await store.add_code(
                uow.conn,
                id=code_id,
                consumer=request.code.consumer,
                interface_services=sorted(set(request.code.interface_services)),
                rate_limit_per_minute=rate,
                expire_us=expire,
                secret_hash=secret_hash,
                state=ACTIVE,
                created_by=principal.subject,
            )
            await _audit(uow, "keys.authorisation_code.issued", principal, code_id)
            row = await store.code_row(uow.conn, code_id)
        log.info("authorisation_code_issued", code_id=code_id, by=principal.subject)
        return keys_pb2.IssueAuthorisationCodeResponse(code=code_message(row), secret=secret)

    async def list(
        self, request: keys_pb2.ListAuthorisationCodesRequest
    ) -> keys_pb2.ListAuthorisationCodesResponse:
        async with self._rt.db.read() as conn:
            rows, after = await store.list_codes(
                conn,
                after_seq=decode_cursor(request.page_token),
                limit=page_size(request.page_size),
                consumer=request.consumer,
            )
        return keys_pb2.ListAuthorisationCodesResponse(
            codes=[code_message(r) for r in rows], next_page_token=encode_cursor(after)
        )

    async def _end(self, code_id: str, principal: Principal, *, rotate: bool) -> tuple[Any, str]:
        """Revoke a code, or give it a new secret; announce that the old one is dead."""
        secret = ""
        async with self._rt.unit_of_work() as uow:
            row = await store.code_row(uow.conn, code_id) if code_id else None
            if row is None:
                raise NotFound("authorisation code", code_id)
            if rotate:
                if row.state == REVOKED:
                    raise CodeRefused("AUTHORISATION_CODE_REVOKED", "a revoked code stays revoked")
                secret, secret_hash = self._new_secret(code_id)
                await store.update_code(
                    uow.conn, code_id, secret_hash=secret_hash, rotations=row.rotations + 1
                )
            else:
                await store.update_code(uow.conn, code_id, state=REVOKED)
            await uow.publish(
                events.AUTHORISATION_CODE_REVOKED,
                events_pb2.AuthorisationCodeRevoked(id=code_id),
                entity_id=code_id,
            )
            action = "rotated" if rotate else "revoked"
            await _audit(uow, f"keys.authorisation_code.{action}", principal, code_id)
            row = await store.code_row(uow.conn, code_id)
        what = "authorisation_code_rotated" if rotate else "authorisation_code_revoked"
        log.warning(what, code_id=code_id, by=principal.subject)
        return row, secret

    async def rotate(
        self, request: keys_pb2.RotateAuthorisationCodeRequest, principal: Principal
    ) -> keys_pb2.RotateAuthorisationCodeResponse:
        row, secret = await self._end(request.id, principal, rotate=True)
        return keys_pb2.RotateAuthorisationCodeResponse(code=code_message(row), secret=secret)

    async def revoke(
        self, request: keys_pb2.RevokeAuthorisationCodeRequest, principal: Principal
    ) -> keys_pb2.RevokeAuthorisationCodeResponse:
        row, _ = await self._end(request.id, principal, rotate=False)
        return keys_pb2.RevokeAuthorisationCodeResponse(code=code_message(row))

    async def verify(
        self, request: keys_pb2.VerifyAuthorisationCodeRequest, principal: Principal
    ) -> keys_pb2.VerifyAuthorisationCodeResponse:
        match = _CODE.match(request.secret)
        if match is None:
            raise CodeRefused("AUTHORISATION_CODE_INVALID", "not an interface authorisation code")
        async with self._rt.db.read() as conn:
            row = await store.code_row(conn, match[1])
        presented = crypto.keyed_hash(self._master_key, request.secret, purpose=_HASH_PURPOSE)
        if row is None or not secrets.compare_digest(presented, row.secret_hash):
            raise CodeRefused("AUTHORISATION_CODE_INVALID", "the authorisation code is not valid")
        state = _state(row, now_us())
        if state == keys_pb2.AUTHORISATION_CODE_STATE_REVOKED:
            raise CodeRefused("AUTHORISATION_CODE_REVOKED", "the authorisation code was revoked")
        if state == keys_pb2.AUTHORISATION_CODE_STATE_EXPIRED:
            raise CodeRefused("AUTHORISATION_CODE_EXPIRED", "the authorisation code has expired")
        if row.consumer != consumer_of(principal):
            raise CodeRefused(
                "AUTHORISATION_CODE_WRONG_CONSUMER", "the code was issued to another consumer"
            )
        if request.interface_service not in row.interface_services:
            raise CodeRefused(
                "AUTHORISATION_CODE_WRONG_SERVICE",
                f"the code does not open interface service {request.interface_service!r:.100}",
            )
        async with self._rt.db.begin() as conn:
            await store.add_uses(conn, {row.id: 1})
        expire = Timestamp(seconds=row.expire_us // 10**6)
        return keys_pb2.VerifyAuthorisationCodeResponse(
            id=row.id, rate_limit_per_minute=row.rate_limit_per_minute, expire_time=expire
        )

    async def report_uses(
        self, request: keys_pb2.ReportAuthorisationCodeUsesRequest, principal: Principal
    ) -> None:
        # Only the exchange counts the uses it checked from its cache: any other service client
        # (a department's licensing system, say) would forge the counts oversight reads.
        if principal.kind != SERVICE or principal.client != EXCHANGE_CLIENT:
            raise PermissionDenied("only the exchange service reports uses of authorisation codes")
        uses = {code_id: n for code_id, n in request.uses.items() if 0 < n <= 10**9}
        if uses:
            async with self._rt.db.begin() as conn:
                await store.add_uses(conn, uses)
