"""The gateway's gRPC channels to the services: one long-lived channel each, traced."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from runtime import config, grpcclient
from runtime.config import Settings
from smartcity.catalog.v1 import catalog_pb2_grpc
from smartcity.exchange.v1 import exchange_pb2_grpc
from smartcity.identity.v1 import identity_pb2, identity_pb2_grpc
from smartcity.keys.v1 import keys_pb2_grpc
from smartcity.licences.v1 import licences_pb2_grpc
from smartcity.partners.v1 import partners_pb2_grpc

CALL_TIMEOUT = 5.0
HEALTH_TIMEOUT = 1.0


class CallFailed(grpc.aio.AioRpcError):  # type: ignore[misc]
    """A handler's failed call, with what its problem+json needs: the service called (a 503
    names it, unless the status names another one further on) and the field of the request
    message that carries the JSON body (a violation of `code.expire_time` is the body's
    `expire_time`). Still an `AioRpcError`, for handlers that catch one."""

    def __init__(self, error: grpc.aio.AioRpcError, *, service: str, body_field: str) -> None:
        super().__init__(
            error.code(),
            error.initial_metadata(),
            error.trailing_metadata(),
            error.details(),
            error.debug_error_string(),
        )
        self.service = service
        self.body_field = body_field


@dataclass
class Upstream:
    """Stubs for every service the gateway calls."""

    channels: dict[str, grpc.aio.Channel]
    identity: identity_pb2_grpc.IdentityServiceStub
    catalog: catalog_pb2_grpc.CatalogServiceStub
    exchange: exchange_pb2_grpc.ExchangeServiceStub
    keys: keys_pb2_grpc.KeysServiceStub
    licences: licences_pb2_grpc.LicencesServiceStub
    partners: partners_pb2_grpc.PartnersServiceStub

    @classmethod
    def connect(cls, settings: Settings) -> Upstream:
        channels = {
            name: grpcclient.channel(settings.grpc_target(name)) for name in config.SERVICES
        }
        return cls(
            channels=channels,
            identity=identity_pb2_grpc.IdentityServiceStub(channels["identity"]),
            catalog=catalog_pb2_grpc.CatalogServiceStub(channels["catalog"]),
            exchange=exchange_pb2_grpc.ExchangeServiceStub(channels["exchange"]),
            keys=keys_pb2_grpc.KeysServiceStub(channels["keys"]),
            licences=licences_pb2_grpc.LicencesServiceStub(channels["licences"]),
            partners=partners_pb2_grpc.PartnersServiceStub(channels["partners"]),
        )

    async def fetch_jwks(self) -> str:
        reply = await grpcclient.call(
            self.identity.GetJwks, identity_pb2.GetJwksRequest(), timeout=CALL_TIMEOUT
        )
        return str(reply.jwks_json)

    async def health(self) -> dict[str, str]:
        """Each service's health status; a service that does not answer is `UNREACHABLE`."""

        async def check(name: str, channel: grpc.aio.Channel) -> tuple[str, str]:
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=HEALTH_TIMEOUT
                )
            except grpc.aio.AioRpcError:
                return name, "UNREACHABLE"
            return name, health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

        results = await asyncio.gather(*(check(n, c) for n, c in self.channels.items()))
        return dict(results)

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.channels.values()))
