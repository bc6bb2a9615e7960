"""gRPC server reflection answers as grpcurl and other tools ask it: under `grpc.reflection.v1`
(what newer tools ask first) and `v1alpha`, with every service and its descriptors."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.descriptor_pb2 import FileDescriptorProto
from grpc_reflection.v1alpha import reflection_pb2

from conftest import Platform
from runtime import config

V1 = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
V1ALPHA = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


async def ask(
    channel: grpc.aio.Channel, path: str, request: reflection_pb2.ServerReflectionRequest
) -> reflection_pb2.ServerReflectionResponse:
    call = channel.stream_stream(
        path,
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    async for answer in call(iter([request]), timeout=10):
        return answer
    raise AssertionError("no answer")


@pytest.mark.parametrize("service", config.SERVICES)
@pytest.mark.parametrize("path", [V1, V1ALPHA])
async def test_reflection_lists_the_services_and_their_descriptors(
    platform: Platform, service: str, path: str
) -> None:
    async with grpc.aio.insecure_channel(platform.settings.grpc_target(service)) as channel:
        listed = await ask(channel, path, reflection_pb2.ServerReflectionRequest(list_services=""))
        names = {s.name for s in listed.list_services_response.service}
        ours = {n for n in names if n.startswith("smartcity.")}
        assert ours and "grpc.health.v1.Health" in names
        assert {"grpc.reflection.v1.ServerReflection"} <= names
        for name in ours:
            answer = await ask(
                channel, path, reflection_pb2.ServerReflectionRequest(file_containing_symbol=name)
            )
            files = answer.file_descriptor_response.file_descriptor_proto
            assert files, (name, answer)
            protos = [FileDescriptorProto.FromString(f) for f in files]
            assert any(name.rsplit(".", 1)[1] in {s.name for s in p.service} for p in protos), name
