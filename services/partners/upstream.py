"""The service partners calls: identity, which alone knows the clients (each service owns its
data). An entitlement names a client id; the Bureau may grant it only to a partner system that
exists, so identity is asked with the caller's own token, and applies its own policy to them.
"""

from __future__ import annotations

import grpc

from runtime import grpcclient
from runtime.auth import PARTNER, Principal
from runtime.errors import NotFound, PermissionDenied, Unauthenticated, Unavailable
from runtime.service import ServiceRuntime
from smartcity.identity.v1 import identity_pb2, identity_pb2_grpc

TIMEOUT = 5.0


class Identity:
    def __init__(self, rt: ServiceRuntime) -> None:
        self._stub = identity_pb2_grpc.IdentityServiceStub(
            grpcclient.channel(rt.settings.grpc_target("identity"))
        )

    async def require_partner(self, principal: Principal, client_id: str) -> None:
        """Return when `client_id` is a partner system's; else NotFound naming it (an unknown
        id, a service client and a member of staff alike: none is a partner client)."""
        try:
            reply: identity_pb2.GetAccountResponse = await grpcclient.call(
                self._stub.GetAccount,
                identity_pb2.GetAccountRequest(username=client_id),
                timeout=TIMEOUT,
                metadata=(("authorization", f"Bearer {principal.token}"),),
            )
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.NOT_FOUND:
                raise NotFound("partner client", client_id) from None
            if code == grpc.StatusCode.PERMISSION_DENIED:
                raise PermissionDenied(exc.details() or "identity refused the lookup") from None
            if code == grpc.StatusCode.UNAUTHENTICATED:
                raise Unauthenticated(exc.details() or "identity refused the token") from None
            raise Unavailable(f"identity does not answer ({code.name}); retry") from None
        if reply.account.kind != PARTNER:
            raise NotFound("partner client", client_id)
