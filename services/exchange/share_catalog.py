"""The share catalog as the exchange reads it: the listed version of a resource, asked of the
catalog with the exchange's own credentials and kept for a few seconds (each service owns its
data; the exchange never reads the catalog's tables)."""

from __future__ import annotations

import grpc

from runtime import grpcclient
from runtime.errors import (
    NotFound,
    ServiceUnauthenticated,
    UpstreamUnavailable,
    from_upstream,
)
from runtime.service import ServiceRuntime
from runtime.ttlcache import TtlCache
from smartcity.catalog.v1 import catalog_pb2, catalog_pb2_grpc

CACHE_SECONDS = 5.0
CALL_TIMEOUT = 5.0
CATALOG = "catalog"


class ShareCatalog:
    def __init__(self, rt: ServiceRuntime) -> None:
        self._rt = rt
        self._stub = catalog_pb2_grpc.CatalogServiceStub(
            grpcclient.channel(rt.settings.grpc_target("catalog"))
        )
        # A withdrawal or a new version reaches the exchange within these seconds.
        self._entries: TtlCache[str, catalog_pb2.Resource] = TtlCache(
            seconds=CACHE_SECONDS, size=10_000
        )

    async def entry(self, resource_id: str) -> catalog_pb2.Resource:
        """The resource as listed in the share catalog, or NotFound."""
        if (cached := self._entries.get(resource_id)) is not None:
            return cached
        if self._rt.credentials is None:
            raise ServiceUnauthenticated(
                self._rt.name, cause="it has no client secret (SMARTCITY_SERVICE_SECRET)"
            )
        try:
            reply = await self._rt.credentials.call(
                self._stub.GetShareCatalogEntry,
                catalog_pb2.GetShareCatalogEntryRequest(id=resource_id),
                timeout=CALL_TIMEOUT,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound("resource in the share catalog", resource_id) from None
            raise from_upstream(exc, service=CATALOG) or UpstreamUnavailable(
                CATALOG, cause=f"it refused the exchange's call ({exc.code().name})"
            ) from None
        self._entries.put(resource_id, reply.resource)
        return reply.resource  # type: ignore[no-any-return]
