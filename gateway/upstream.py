"""The gateway's gRPC channels to the services: one long-lived channel each, traced."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import cast

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from runtime import grpcclient, service_registry
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
    """A stub for every registered service (runtime.service_registry), over one long-lived
    channel each; the platform's own by name, typed as the asynchronous stubs `proto/` generates
    (their `*AsyncStub` types exist for type checkers only)."""

    channels: dict[str, grpc.aio.Channel]
    stubs: dict[str, object]

    @classmethod
    def connect(cls, settings: Settings) -> Upstream:
        specs = service_registry.specs()
        channels = {s.name: grpcclient.channel(settings.grpc_target(s.name)) for s in specs}
        return cls(channels=channels, stubs={s.name: s.stub(channels[s.name]) for s in specs})

    def stub(self, service: str) -> object:
        """The stub of a registered service, by name."""
        return self.stubs[service]

    @property
    def identity(self) -> identity_pb2_grpc.IdentityServiceAsyncStub:
        return cast("identity_pb2_grpc.IdentityServiceAsyncStub", self.stubs["identity"])

    @property
    def catalog(self) -> catalog_pb2_grpc.CatalogServiceAsyncStub:
        return cast("catalog_pb2_grpc.CatalogServiceAsyncStub", self.stubs["catalog"])

    @property
    def exchange(self) -> exchange_pb2_grpc.ExchangeServiceAsyncStub:
        return cast("exchange_pb2_grpc.ExchangeServiceAsyncStub", self.stubs["exchange"])

    @property
    def keys(self) -> keys_pb2_grpc.KeysServiceAsyncStub:
        return cast("keys_pb2_grpc.KeysServiceAsyncStub", self.stubs["keys"])

    @property
    def licences(self) -> licences_pb2_grpc.LicencesServiceAsyncStub:
        return cast("licences_pb2_grpc.LicencesServiceAsyncStub", self.stubs["licences"])

    @property
    def partners(self) -> partners_pb2_grpc.PartnersServiceAsyncStub:
        return cast("partners_pb2_grpc.PartnersServiceAsyncStub", self.stubs["partners"])

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
