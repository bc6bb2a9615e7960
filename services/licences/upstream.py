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

from runtime import grpcclient
from runtime.auth import Principal
from runtime.errors import FailedPrecondition, InvalidArgument, Unavailable
from runtime.service import ServiceRuntime
from smartcity.identity.v1 import identity_pb2, identity_pb2_grpc
from smartcity.keys.v1 import keys_pb2, keys_pb2_grpc

TIMEOUT = 5.0
# Where the keys service reads the subject a service acts for (keys.proto, KeysService).
SUBJECT_TOKEN_METADATA = "smartcity-subject-token"  # noqa: S105 - a name, not a secret
# Answers that mean "not now" rather than "no": the caller may retry.
_TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class Upstream:
    def __init__(self, rt: ServiceRuntime) -> None:
        self._rt = rt
        settings = rt.settings
        self._keys = keys_pb2_grpc.KeysServiceStub(grpcclient.channel(settings.grpc_target("keys")))
        self._identity = identity_pb2_grpc.IdentityServiceStub(
            grpcclient.channel(settings.grpc_target("identity"))
        )

    async def _own(self) -> tuple[tuple[str, str], ...]:
        if self._rt.credentials is None:
            raise Unavailable("the licences service has no credentials (SMARTCITY_SERVICE_SECRET)")
        return await self._rt.credentials.metadata()

    async def sign_as(self, principal: Principal, *, key: str, message: bytes) -> str:
        """Sign with `key` for the caller: the keys service applies its policy to this service
        and to them."""
        metadata = (*await self._own(), (SUBJECT_TOKEN_METADATA, principal.token))
        return await self._sign(key, message, metadata)

    async def sign_as_platform(self, *, key: str, message: bytes) -> str:
        return await self._sign(key, message, await self._own())

    async def _sign(self, key: str, message: bytes, metadata: tuple[tuple[str, str], ...]) -> str:
        try:
            reply = await grpcclient.call(
                self._keys.Sign,
                keys_pb2.SignRequest(name=key, message=message),
                timeout=TIMEOUT,
                metadata=metadata,
            )
        except grpc.aio.AioRpcError as exc:
            raise _mapped(exc, what=f"signing with {key}") from None
        return str(reply.signature)

    async def public_key(self, name: str, version: int = 0) -> keys_pb2.GetPublicKeyResponse:
        try:
            reply: keys_pb2.GetPublicKeyResponse = await grpcclient.call(
                self._keys.GetPublicKey,
                keys_pb2.GetPublicKeyRequest(name=name, version=version),
                timeout=TIMEOUT,
            )
        except grpc.aio.AioRpcError as exc:
            raise _mapped(exc, what=f"the public key of {name}") from None
        return reply

    async def resolve_holder(self, *, resident_id_number: str = "", credit_code: str = "") -> str:
        """The account (or enterprise) id a holder's number is registered to."""
        request = identity_pb2.ResolveHolderRequest(
            resident_id_number=resident_id_number, credit_code=credit_code
        )
        try:
            reply = await grpcclient.call(
                self._identity.ResolveHolder, request, timeout=TIMEOUT, metadata=await self._own()
            )
        except grpc.aio.AioRpcError as exc:
            raise _mapped(exc, what="the holder's account") from None
        return str(reply.account_id or reply.enterprise_id)


def _mapped(exc: grpc.aio.AioRpcError, *, what: str) -> Exception:
    code = exc.code()
    if code in _TRANSIENT:
        return Unavailable(f"{what}: the service does not answer; retry")
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return FailedPrecondition(exc.details() or what)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidArgument.of("fields", exc.details() or what)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return FailedPrecondition(f"{what} was refused: {exc.details()}")
    if code == grpc.StatusCode.NOT_FOUND:
        return FailedPrecondition(f"{what}: {exc.details()}")
    return Unavailable(f"{what} failed ({code.name})")
