"""Which service a 503 names, without processes: the service that observes a failure names the
one at fault in the status (`google.rpc.ErrorInfo` and `ResourceInfo`), services in between
pass it on unchanged, and the gateway shows it; violations name the body's own JSON paths."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from gateway.problems import from_rpc_error
from runtime import errors
from runtime.errors import FieldViolation
from runtime.service_credentials import Login, ServiceCredentials


def rpc_error(error: errors.DomainError) -> grpc.aio.AioRpcError:
    """What a caller receives when a service aborts with `error`."""
    status = errors.to_status(error)
    trailing = grpc.aio.Metadata((errors.DETAILS_KEY, status.SerializeToString()))
    return grpc.aio.AioRpcError(error.code, grpc.aio.Metadata(), trailing, error.message)


def transport_error(code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> grpc.aio.AioRpcError:
    """What a caller receives when nothing answers at the address (no rich status)."""
    detail = "failed to connect to all addresses; last error: 127.0.0.1:50051 refused"
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), detail)


def test_a_service_that_does_not_answer_is_named_by_its_caller() -> None:
    named = errors.from_upstream(transport_error(), service="keys")
    assert isinstance(named, errors.UpstreamUnavailable)
    assert named.message == "the keys service is not answering; retry shortly"
    status = errors.to_status(named)
    assert errors.upstream_service(status) == "keys"
    resources = [d for d in status.details if d.Is(error_details_pb2.ResourceInfo.DESCRIPTOR)]
    info = error_details_pb2.ResourceInfo()
    resources[0].Unpack(info)
    assert (info.resource_type, info.resource_name) == (errors.SERVICE_RESOURCE, "keys")


def test_a_failure_named_further_on_is_passed_on_unchanged() -> None:
    # licences hears from keys that identity is down: licences' caller hears identity named
    deeper = rpc_error(errors.UpstreamUnavailable("identity"))
    passed = errors.from_upstream(deeper, service="keys")
    assert isinstance(passed, errors.Relayed)
    assert passed.code == grpc.StatusCode.UNAVAILABLE
    assert errors.upstream_service(errors.to_status(passed)) == "identity"


def test_a_service_that_answers_it_cannot_serve_is_named_with_its_reason() -> None:
    busy = rpc_error(errors.Unavailable("the event bus is not connected yet; retry"))
    named = errors.from_upstream(busy, service="partners")
    assert isinstance(named, errors.UpstreamUnavailable)
    assert named.message == (
        "the partners service is unavailable: the event bus is not connected yet; retry shortly"
    )


def test_other_refusals_are_left_to_the_caller_to_map() -> None:
    missing = rpc_error(errors.NotFound("resource", "r-1"))
    assert errors.from_upstream(missing, service="catalog") is None


def test_the_gateway_names_the_service_the_status_names_not_the_one_it_called() -> None:
    problem = from_rpc_error(rpc_error(errors.UpstreamUnavailable("keys")), service="licences")
    assert problem.status_code == 503 and problem.service == "keys"
    assert problem.detail == "the keys service is not answering; retry shortly"
    assert problem.headers["Retry-After"] == "1"


def test_a_service_that_cannot_authenticate_is_a_503_naming_it_and_the_cause() -> None:
    refused = errors.ServiceUnauthenticated(
        "exchange", cause="identity refused its client credentials (wrong username or password)"
    )
    problem = from_rpc_error(rpc_error(refused), service="exchange")
    assert problem.status_code == 503 and problem.service == "exchange"
    assert problem.problem_reason == "SERVICE_UNAUTHENTICATED"
    assert problem.detail.startswith("the exchange service cannot authenticate: identity refused")


def test_the_gateway_names_the_service_it_called_when_nothing_answers_there() -> None:
    for code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        problem = from_rpc_error(transport_error(code), service="catalog")
        assert problem.status_code == 503 and problem.service == "catalog"
        # the transport's own words (an address) stay out of the answer
        assert problem.detail == "the catalog service is not answering; retry shortly"


def test_violations_name_the_bodys_own_paths_when_the_request_wraps_it() -> None:
    invalid = errors.InvalidArgument(
        [
            FieldViolation("code.expire_time", "must be in the future"),
            FieldViolation("code.interface_services[0]", "is not an interface service name"),
        ]
    )
    problem = from_rpc_error(rpc_error(invalid), service="keys", body_field="code")
    assert [v.field for v in problem.violations] == ["expire_time", "interface_services[0]"]
    assert problem.detail == "invalid request: expire_time, interface_services[0]"
    # a request whose body is the request itself keeps the paths as they are
    same = from_rpc_error(rpc_error(invalid), service="keys")
    assert [v.field for v in same.violations] == [
        "code.expire_time",
        "code.interface_services[0]",
    ]


# --- a service's own credentials ---------------------------------------------------------------


def refusing_login(code: grpc.StatusCode, message: str) -> Login:
    async def login(client_id: str, secret: str) -> tuple[str, int]:
        if code is grpc.StatusCode.UNAUTHENTICATED:
            raise rpc_error(errors.Unauthenticated(message))
        raise transport_error(code)

    return login


async def test_a_service_whose_credentials_are_refused_says_so() -> None:
    credentials = ServiceCredentials(
        service="exchange",
        secret="wrong",
        login=refusing_login(grpc.StatusCode.UNAUTHENTICATED, "wrong username or password"),
    )
    with pytest.raises(errors.ServiceUnauthenticated) as refused:
        await credentials.token()
    assert refused.value.service == "exchange"
    assert "identity refused its client credentials (wrong username or password)" in str(
        refused.value
    )


async def test_a_service_that_cannot_reach_identity_names_identity() -> None:
    credentials = ServiceCredentials(
        service="exchange", secret="s", login=refusing_login(grpc.StatusCode.UNAVAILABLE, "")
    )
    with pytest.raises(errors.UpstreamUnavailable) as down:
        await credentials.token()
    assert down.value.service == "identity"


async def test_a_refused_token_is_replaced_once_then_named() -> None:
    issued: list[str] = []

    async def login(client_id: str, secret: str) -> tuple[str, int]:
        issued.append(f"token-{len(issued)}")
        return issued[-1], 300

    seen: list[str] = []

    async def method(request: object, *, timeout: float, metadata: object) -> str:
        seen.append(dict(metadata)["authorization"])  # type: ignore[call-overload]
        if len(seen) == 1 or refuse_always:
            raise rpc_error(errors.Unauthenticated("the session has ended"))
        return "answer"

    credentials = ServiceCredentials(service="exchange", secret="s", login=login)
    refuse_always = False
    # the callee refuses the first token (its session ended): signed in again, answered
    assert await credentials.call(method, object(), timeout=1.0) == "answer"
    assert seen == ["Bearer token-0", "Bearer token-1"]
    # refused even with a fresh token: the service cannot authenticate, and says so
    refuse_always = True
    with pytest.raises(errors.ServiceUnauthenticated) as refused:
        await credentials.call(method, object(), timeout=1.0)
    assert "refused its service token (the session has ended)" in refused.value.message
