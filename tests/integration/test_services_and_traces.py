"""Services check callers again (zero trust), and one request is one trace across processes."""

from __future__ import annotations

import time
import uuid

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.rpc import error_details_pb2

from conftest import DEMO_PASSWORD, Platform, eventually, resource_body
from runtime import errors, trace_cli
from runtime.spanstore import load_trace
from smartcity.catalog.v1 import catalog_pb2, catalog_pb2_grpc

pytestmark = pytest.mark.integration


async def _catalog_call(
    platform: Platform, metadata: tuple[tuple[str, str], ...]
) -> grpc.StatusCode:
    async with grpc.aio.insecure_channel(platform.settings.grpc_target("catalog")) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        try:
            await stub.ListResources(
                catalog_pb2.ListResourcesRequest(), metadata=metadata, timeout=5
            )
        except grpc.aio.AioRpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


async def test_catalog_refuses_calls_that_bypass_the_gateway_without_a_valid_token(
    platform: Platform,
) -> None:
    assert await _catalog_call(platform, ()) == grpc.StatusCode.UNAUTHENTICATED
    # a token that looks right but is signed by a key the identity service never issued
    forged = jwt.encode(
        {
            "iss": "smartcity-identity",
            "sub": "x",
            "aud": "office",
            "iat": int(time.time()),
            "exp": int(time.time()) + 60,
            "dept": "bdb",
            "roles": ["bdb_admin"],
        },
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": "made-up"},
    )
    metadata = (("authorization", f"Bearer {forged}"),)
    assert await _catalog_call(platform, metadata) == grpc.StatusCode.UNAUTHENTICATED
    token = await platform.login("psb.officer")
    assert (
        await _catalog_call(platform, (("authorization", f"Bearer {token}"),)) == grpc.StatusCode.OK
    )


async def test_invalid_argument_carries_bad_request_details_over_grpc(platform: Platform) -> None:
    token = await platform.login("psb.officer")
    async with grpc.aio.insecure_channel(platform.settings.grpc_target("catalog")) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateResource(
                catalog_pb2.CreateResourceRequest(resource=catalog_pb2.Resource(format="scroll")),
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=5,
            )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = errors.status_from_error(caught.value)
    found = {(v.field, v.rule) for v in errors.field_violations(status)}
    assert {
        ("name", "required"),
        ("format", "known-value"),
        ("share_type", "required"),
        ("data_items", "required"),
        ("classification.category", "classification"),
    } <= found
    assert any(d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR) for d in status.details)


async def test_one_request_is_one_trace_from_gateway_to_the_exchange(platform: Platform) -> None:
    # given a registration through the gateway
    token = await platform.login("psb.officer")
    status, _, headers = await platform.request(
        "POST",
        "/office/v1/catalog/resources",
        token=token,
        json=resource_body(),
    )
    assert status == 201
    trace_id = headers["traceresponse"].split("-")[1]

    # then the span store holds gateway -> catalog -> publish -> exchange as one tree
    def spans_by_name() -> dict[str, object]:
        return {
            f"{s.service}:{s.name}": s for s in load_trace(platform.data_dir / "traces", trace_id)
        }

    async def complete() -> dict[str, object] | None:
        spans = spans_by_name()
        wanted = ("gateway:POST", "catalog:smartcity", "catalog:publish", "exchange:process")
        found = all(any(k.startswith(w) for k in spans) for w in wanted)
        return spans if found else None

    spans = await eventually(complete, timeout=20)
    by_id = {s.span_id: s for s in spans.values()}  # type: ignore[attr-defined]

    def one(prefix: str) -> object:
        return next(s for k, s in spans.items() if k.startswith(prefix))

    def parent_service(span: object) -> str:
        return by_id[span.parent_span_id].service  # type: ignore[attr-defined]

    root = one("gateway:POST")
    assert root.parent_span_id is None  # type: ignore[attr-defined]
    assert (
        parent_service(one("catalog:smartcity.catalog.v1.CatalogService/CreateResource"))
        == "gateway"
    )
    assert parent_service(one("catalog:publish")) == "catalog"
    consume = one("exchange:process")
    assert by_id[consume.parent_span_id].name.startswith("publish")  # type: ignore[attr-defined]


async def test_logs_hold_no_tokens_or_passwords(platform: Platform) -> None:
    token = await platform.login("psb.officer")
    await platform.request("GET", "/office/v1/catalog/resources", token=token)
    await platform.request(
        "POST", "/office/v1/login", json={"username": "psb.officer", "password": "a-wrong-one"}
    )
    # give the processes a moment to write their lines
    signature = token.rsplit(".", 1)[1]

    async def written() -> bool:
        text = "".join(p.read_text() for p in (platform.data_dir / "logs").glob("*.log"))
        return '"login_failed"' in text

    await eventually(written)
    for path in (platform.data_dir / "logs").glob("*.log"):
        text = path.read_text()
        assert signature not in text, f"a token reached {path.name}"
        assert DEMO_PASSWORD not in text and "a-wrong-one" not in text, path.name
    for path in (platform.data_dir / "traces").glob("*.jsonl"):
        text = path.read_text()
        assert signature not in text and DEMO_PASSWORD not in text, path.name


async def test_an_sre_finds_a_request_by_its_request_id(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a failing request the front-end tagged with its own request id
    request_id = f"front-{uuid.uuid4().hex[:12]}"
    status, _, headers = await platform.request(
        "GET", "/office/v1/catalog/resources", headers={"X-Request-Id": request_id}
    )
    assert status == 401 and headers["X-Request-Id"] == request_id
    trace_id = headers["traceresponse"].split("-")[1]
    args = ["--data-dir", str(platform.data_dir), "--request-id", request_id]

    # when an SRE asks for it by that id, then the tree of that trace is printed
    async def found() -> bool:
        capsys.readouterr()
        return trace_cli.run(args) == 0

    await eventually(found, timeout=20)
    out = capsys.readouterr().out
    assert out.startswith(f"trace {trace_id}") and "GET /office/v1/catalog/resources" in out
    assert trace_cli.run([*args[:2], "--request-id", "never-sent"]) == 1
