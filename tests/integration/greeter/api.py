"""The greeter's gRPC API, written as protoc would generate it (the stub and the function that
registers a servicer), on well-known messages so that it needs no .proto of its own."""

from __future__ import annotations

from typing import Protocol

import grpc
from google.protobuf.wrappers_pb2 import StringValue

SERVICE = "greeter.v1.GreeterService"


class GreeterServiceServicer(Protocol):
    async def Greet(self, request: StringValue, context: grpc.aio.ServicerContext) -> StringValue:
        """Say hello to `request.value`."""
        ...


class GreeterServiceStub:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.Greet = channel.unary_unary(
            f"/{SERVICE}/Greet",
            request_serializer=StringValue.SerializeToString,
            response_deserializer=StringValue.FromString,
        )


def add_GreeterServiceServicer_to_server(
    servicer: GreeterServiceServicer, server: grpc.aio.Server
) -> None:
    handler = grpc.unary_unary_rpc_method_handler(
        servicer.Greet,
        request_deserializer=StringValue.FromString,
        response_serializer=StringValue.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {"Greet": handler}),)
    )
