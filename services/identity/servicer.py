"""IdentityService over gRPC: translate, authorise, delegate."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import argon2
import grpc

from runtime import logs
from runtime.auth import ANONYMOUS, AUDIENCES, Policy, require_principal
from runtime.errors import NotFound, Unauthenticated
from runtime.service import ServiceRuntime
from services.identity import domain, store
from services.identity.signing import SigningKeys
from smartcity.identity.v1 import identity_pb2, identity_pb2_grpc

log = logs.get(__name__)

SERVICE = identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name
POLICIES = {
    f"/{SERVICE}/Login": ANONYMOUS,
    f"/{SERVICE}/GetJwks": ANONYMOUS,
    f"/{SERVICE}/GetCurrentAccount": Policy(audiences=AUDIENCES),
}

_hasher = argon2.PasswordHasher()  # argon2id with the library's current recommended costs
# Checked when the username is unknown, so that both failures take the same time.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except argon2.exceptions.VerificationError:
        return False
    except argon2.exceptions.InvalidHashError:
        return False


def hash_password(password: str) -> str:
    return _hasher.hash(password)


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, rt: ServiceRuntime, keys: SigningKeys) -> None:
        self._rt = rt
        self._keys = keys

    async def Login(
        self, request: identity_pb2.LoginRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.LoginResponse:
        audience = domain.validate_login(request.username, request.password, request.audience)
        async with self._rt.db.read() as conn:
            found = await store.find_login(conn, request.username)
        password_hash = found[1] if found else _DUMMY_HASH
        # argon2id costs tens of milliseconds of CPU: keep it off the event loop.
        matches = await asyncio.to_thread(_password_matches, password_hash, request.password)
        if found is None or not matches:
            log.info("login_failed")
            raise Unauthenticated("wrong username or password")
        account = found[0]
        claims = domain.access_token_claims(account, audience=audience, now=int(time.time()))
        log.info("login_succeeded", account_id=account.id, audience=audience)
        return identity_pb2.LoginResponse(
            access_token=self._keys.sign(claims),
            token_type="Bearer",  # noqa: S106 - the token scheme, not a secret
            expires_in=domain.TOKEN_TTL_SECONDS,
        )

    async def GetJwks(
        self, request: identity_pb2.GetJwksRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.GetJwksResponse:
        return identity_pb2.GetJwksResponse(jwks_json=await self._keys.jwks_json())

    async def GetCurrentAccount(
        self, request: identity_pb2.GetCurrentAccountRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.GetCurrentAccountResponse:
        principal = require_principal()
        async with self._rt.db.read() as conn:
            account = await store.get_account(conn, principal.subject)
        if account is None:
            raise NotFound("account", principal.subject)
        return identity_pb2.GetCurrentAccountResponse(
            account=identity_pb2.Account(
                id=account.id,
                username=account.username,
                kind=account.kind,
                department=account.department,
                roles=list(account.roles),
            )
        )


def add_to_server(server: Any, servicer: IdentityServicer) -> None:
    identity_pb2_grpc.add_IdentityServiceServicer_to_server(servicer, server)
