"""The services licences calls: keys (signatures and public keys) and identity (holders).

An issuer's licence is signed by the licences service acting for the issuer: its own token in
`authorization`, the issuer's in `smartcity-subject-token` (keys.proto), so the keys service
checks once more, by the key's own policy, both that the call comes through this service and
that this person may sign with this department's key; the issuer's own token alone cannot use
the key. The platform's signatures (presentations, the status list) are made as the licences
service itself.
"""

from __future__ import annotations

import grpc

from runtime import errors, grpcclient
from runtime.auth import Principal
from runtime.errors import (
    FailedPrecondition,
    InvalidArgument,
    ServiceUnauthenticated,
    UpstreamUnavailable,
)
from runtime.service import ServiceRuntime
from runtime.service_credentials import ServiceCredentials
from smartcity.identity.v1 import identity_pb2, identity_pb2_grpc
from smartcity.keys.v1 import keys_pb2, keys_pb2_grpc

TIMEOUT = 5.0
# Where the keys service reads the subject a service acts for (keys.proto, KeysService).
SUBJECT_TOKEN_METADATA = "smartcity-subject-token"  # noqa: S105 - a name, not a secret
KEYS, IDENTITY = "keys", "identity"


class Upstream:
    def __init__(self, rt: ServiceRuntime) -> None:
        self._rt = rt
        settings = rt.settings
        self._keys = keys_pb2_grpc.KeysServiceStub(grpcclient.channel(settings.grpc_target("keys")))
        self._identity = identity_pb2_grpc.IdentityServiceStub(
            grpcclient.channel(settings.grpc_target("identity"))
        )

    def _own(self) -> ServiceCredentials:
        if self._rt.credentials is None:
            raise ServiceUnauthenticated(
                self._rt.name, cause="it has no client secret (SMARTCITY_SERVICE_SECRET)"
            )
        return self._rt.credentials

    async def sign_as(self, principal: Principal, *, key: str, message: bytes) -> str:
        """Sign with `key` for the caller: the keys service applies its policy to this service
        and to them."""
        request = keys_pb2.SignRequest(name=key, message=message)
        metadata = (*await self._own().metadata(), (SUBJECT_TOKEN_METADATA, principal.token))
        try:
            reply = await grpcclient.call(
                self._keys.Sign, request, timeout=TIMEOUT, metadata=metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise _mapped(exc, service=KEYS, what=f"signing with {key}") from None
        return str(reply.signature)

    async def sign_as_platform(self, *, key: str, message: bytes) -> str:
        request = keys_pb2.SignRequest(name=key, message=message)
        try:
            reply = await self._own().call(self._keys.Sign, request, timeout=TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            raise _mapped(exc, service=KEYS, what=f"signing with {key}") from None
        return str(reply.signature)

    async def public_key(self, name: str, version: int = 0) -> keys_pb2.GetPublicKeyResponse:
        try:
            reply: keys_pb2.GetPublicKeyResponse = await grpcclient.call(
                self._keys.GetPublicKey,
                keys_pb2.GetPublicKeyRequest(name=name, version=version),
                timeout=TIMEOUT,
            )
        except grpc.aio.AioRpcError as exc:
            raise _mapped(exc, service=KEYS, what=f"the public key of {name}") from None
        return reply

    async def resolve_holder(self, *, resident_id_number: str = "", credit_code: str = "") -> str:
        """The account (or enterprise) id a holder's number is registered to."""
        request = identity_pb2.ResolveHolderRequest(
            resident_id_number=resident_id_number, credit_code=credit_code
        )
        try:
            reply = await self._own().call(self._identity.ResolveHolder, request, timeout=TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            raise _mapped(exc, service=IDENTITY, what="the holder's account") from None
        return str(reply.account_id or reply.enterprise_id)


def _mapped(exc: grpc.aio.AioRpcError, *, service: str, what: str) -> Exception:
    """What `service`'s refusal of `what` means to the licences service's caller."""
    if (unavailable := errors.from_upstream(exc, service=service)) is not None:
        return unavailable
    code = exc.code()
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return FailedPrecondition(exc.details() or what)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidArgument.of("fields", exc.details() or what)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return FailedPrecondition(f"{what} was refused: {exc.details()}")
    if code == grpc.StatusCode.NOT_FOUND:
        return FailedPrecondition(f"{what}: {exc.details()}")
    return UpstreamUnavailable(service, cause=f"{what} failed ({code.name})")
