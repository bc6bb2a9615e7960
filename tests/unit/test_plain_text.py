"""Text with control or bidirectional formatting characters is refused in every field of every
request, by every service (the gRPC server checks each request before its servicer sees it)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from runtime import errors, text
from runtime.auth import Policy, TokenVerifier
from runtime.grpcserver import create_server
from smartcity.catalog.v1 import catalog_pb2 as pb
from smartcity.exchange.v1 import exchange_pb2

CREATE = "/smartcity.catalog.v1.CatalogService/CreateResource"


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("a\x00b", "U+0000"),
        ("\x1b[31mred", "U+001B"),
        ("a\x7f", "U+007F"),
        ("\x9b", "U+009B"),
        ("invoice_\u202egnp.exe", "U+202E"),
        ("\u2067isolate\u2069", "U+2067"),
        ("\u200e", "U+200E"),
        ("\u061c", "U+061C"),
        ("\udcff", "U+DCFF"),  # a byte that was not UTF-8, kept by surrogateescape
    ],
)
def test_control_and_bidi_characters_are_found(value: str, found: str) -> None:
    assert text.unsafe_character(value) == found


@pytest.mark.parametrize(
    "value",
    ["", "海口市 Haikou", "line one\r\nline two\tend", "\u3000全角空格", "👩\u200d💻", "\u00ad"],
)
def test_text_of_any_script_with_tabs_and_line_breaks_is_accepted(value: str) -> None:
    assert text.unsafe_character(value) is None


def test_every_string_of_a_message_is_checked_and_named_by_its_path() -> None:
    # given a request with bad text in a nested message, a list, a repeated message and a map
    resource = pb.Resource(name="ok\u202e", summary="fine", keywords=["a", "b\x00"])
    resource.data_items.add(name="good")
    resource.data_items.add(name="\x07bell")
    push = exchange_pb2.PushRecordsRequest(resource_id="r\x1b")
    push.records.add().fields.update({"plate": "琼A\u2066", "k\x00": "v", "ok": "ok"})
    # when checked / then each is named, with the rule and the character, never the text
    named = {
        (v.field, v.rule) for v in text.violations(pb.CreateResourceRequest(resource=resource))
    }
    assert named == {
        ("resource.name", "plain-text"),
        ("resource.keywords[1]", "plain-text"),
        ("resource.data_items[1].name", "plain-text"),
    }
    found = {v.field: v.description for v in text.violations(push)}
    assert set(found) == {"resource_id", "records[0].fields[plate]", "records[0].fields"}
    assert found["records[0].fields"].startswith("has a key with control")
    assert "U+2066" in found["records[0].fields[plate]"]


def test_a_clean_message_has_no_violations() -> None:
    resource = pb.Resource(name="公共停车场", summary="第一行\n第二行", keywords=["交通"])
    assert text.violations(pb.CreateResourceRequest(resource=resource)) == []


async def no_keys() -> str:
    return '{"keys": []}'


async def test_the_grpc_server_refuses_such_text_before_the_servicer_runs() -> None:
    # given a service whose CreateResource records that it ran
    ran: list[Any] = []

    async def create(request: pb.CreateResourceRequest, context: Any) -> pb.Resource:
        ran.append(request)
        return pb.Resource()

    server = create_server(
        policies={CREATE: Policy(anonymous=True)},
        verifier=TokenVerifier(no_keys, issuer="http://test"),
        service="catalog",
    )
    handler = grpc.unary_unary_rpc_method_handler(
        create,
        request_deserializer=pb.CreateResourceRequest.FromString,
        response_serializer=pb.Resource.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(CREATE.split("/")[1], {"CreateResource": handler})]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(
                CREATE,
                request_serializer=pb.CreateResourceRequest.SerializeToString,
                response_deserializer=pb.Resource.FromString,
            )
            # when a caller, bypassing the gateway, sends a name with U+202E
            bad = pb.CreateResourceRequest(resource=pb.Resource(name="txt.\u202eexe"))
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call(bad, timeout=5)
            # then INVALID_ARGUMENT names the field, and the servicer never saw it
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            status = errors.status_from_error(caught.value)
            assert [(v.field, v.rule) for v in errors.field_violations(status)] == [
                ("resource.name", "plain-text")
            ]
            assert ran == []
            # and a clean request goes through
            await call(pb.CreateResourceRequest(resource=pb.Resource(name="公共停车场")), timeout=5)
            assert len(ran) == 1
    finally:
        await server.stop(None)


@pytest.mark.parametrize(
    "raw",
    [
        b"\x0a\x03\x1a\x01\xff",  # resource.name holding a byte that is not UTF-8
        b"\x0a\x05\x1a\x10abc",  # resource.name announcing 16 bytes and holding 3
        b"\xff\xff\xff",  # no protobuf at all
    ],
)
async def test_a_request_that_does_not_decode_is_invalid_argument_not_internal(raw: bytes) -> None:
    # grpc answered INTERNAL ("Exception deserializing request!") for these: a direct gRPC
    # caller's bad bytes read as the server's own fault (T28)
    ran: list[Any] = []

    async def create(request: pb.CreateResourceRequest, context: Any) -> pb.Resource:
        ran.append(request)
        return pb.Resource()

    server = create_server(
        policies={CREATE: Policy(anonymous=True)},
        verifier=TokenVerifier(no_keys, issuer="http://test"),
        service="catalog",
    )
    handler = grpc.unary_unary_rpc_method_handler(
        create,
        request_deserializer=pb.CreateResourceRequest.FromString,
        response_serializer=pb.Resource.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(CREATE.split("/")[1], {"CreateResource": handler})]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(CREATE, response_deserializer=pb.Resource.FromString)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call(raw, timeout=5)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
            assert ran == []
    finally:
        await server.stop(None)
