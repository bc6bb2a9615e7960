"""ExchangeService over gRPC: translate, authorise, delegate."""

from __future__ import annotations

from typing import Any

import grpc

from runtime.auth import Policy
from runtime.pagination import decode_cursor, encode_cursor, page_size
from runtime.service import ServiceRuntime
from services.exchange import store
from smartcity.exchange.v1 import exchange_pb2, exchange_pb2_grpc

SERVICE = exchange_pb2.DESCRIPTOR.services_by_name["ExchangeService"].full_name
POLICIES = {f"/{SERVICE}/ListResources": Policy(audiences=("office",))}


class ExchangeServicer(exchange_pb2_grpc.ExchangeServiceServicer):
    def __init__(self, rt: ServiceRuntime) -> None:
        self._rt = rt

    async def ListResources(
        self, request: exchange_pb2.ListResourcesRequest, context: grpc.aio.ServicerContext
    ) -> exchange_pb2.ListResourcesResponse:
        limit = page_size(request.page_size)
        async with self._rt.db.read() as conn:
            page, next_after = await store.list_resources(
                conn, after_seq=decode_cursor(request.page_token), limit=limit
            )
        return exchange_pb2.ListResourcesResponse(
            resources=page, next_page_token=encode_cursor(next_after)
        )


def add_to_server(server: Any, rt: ServiceRuntime) -> None:
    exchange_pb2_grpc.add_ExchangeServiceServicer_to_server(ExchangeServicer(rt), server)
