"""Every gateway route against every type of caller, on the real platform.

The routes come from the gateway's own table, so a new route is in the matrix the day it is
added. The rule: an anonymous route answers anyone; any other route refuses anonymous callers
and tokens of another entry point with 401, and what the caller's roles and department do not
allow with 403; every refusal is problem+json. Routes whose answer depends on more than the
entry point say so in EXPECTED.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import Platform, resource_body
from gateway.endpoints import Route
from gateway.routes import ROUTES
from services.identity import demo

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Caller:
    name: str
    entry: str = ""
    username: str = ""
    enterprise_id: str = ""


CALLERS = (
    Caller("anonymous"),
    Caller("citizen", "public", "demo.citizen"),
    Caller("enterprise_agent", "public", "demo.enterprise", demo.ENTERPRISE_ID),
    Caller("staff_of_the_department", "office", "psb.officer"),
    Caller("staff_of_another_department", "office", "hrss.officer"),
    Caller("partner", "partner", "demo.partner"),
)
STAFF = ("staff_of_the_department", "staff_of_another_department")
ADMINISTRATION = {
    ("GET", "/office/v1/accounts"),
    ("POST", "/office/v1/accounts"),
    ("GET", "/office/v1/accounts/{id}"),
    ("POST", "/office/v1/accounts/{id}/disable"),
    ("POST", "/office/v1/accounts/{id}/enable"),
    ("POST", "/office/v1/accounts/{id}/unlock"),
    ("POST", "/office/v1/accounts/{id}/reset-second-factor"),
    ("PUT", "/office/v1/accounts/{id}/roles"),
    ("DELETE", "/office/v1/accounts/{id}/sessions"),
    ("POST", "/office/v1/clients"),
    ("POST", "/office/v1/applications"),
    ("GET", "/office/v1/applications"),
    ("POST", "/office/v1/signing-keys/rotate"),
    # keys are managed by security officers
    ("POST", "/office/v1/keys"),
    ("GET", "/office/v1/keys"),
    ("GET", "/office/v1/keys/{name}"),
    ("PATCH", "/office/v1/keys/{name}"),
    ("POST", "/office/v1/keys/{name}/rotate"),
    ("POST", "/office/v1/keys/{name}/schedule-deletion"),
    ("POST", "/office/v1/keys/{name}/cancel-deletion"),
    # interface authorisation codes are kept by the Big Data Bureau
    ("POST", "/office/v1/authorisation-codes"),
    ("GET", "/office/v1/authorisation-codes"),
    ("POST", "/office/v1/authorisation-codes/{id}/rotate"),
    ("POST", "/office/v1/authorisation-codes/{id}/revoke"),
    # the audit chain is for auditors, security officers and administrators
    ("GET", "/office/v1/audit/records"),
    ("GET", "/office/v1/keys/{name}/usage"),
    ("POST", "/office/v1/audit/verify"),
    ("GET", "/office/v1/crypto-assessment"),
    # incidents: security officers handle them, auditors and administrators read them
    ("POST", "/office/v1/incidents"),
    ("GET", "/office/v1/incidents"),
    ("GET", "/office/v1/incidents/{id}"),
    ("POST", "/office/v1/incidents/{id}/advance"),
    ("GET", "/office/v1/incidents/{id}/report"),
}
# Beyond the entry point: (method, path) -> caller -> the one status expected.
EXPECTED: dict[tuple[str, str], dict[str, int]] = {
    # a resource of the Public Security Bureau: its officer registers it, others may not
    ("POST", "/office/v1/catalog/resources"): {
        "staff_of_the_department": 201,
        "staff_of_another_department": 403,
    },
    # only a citizen acting as themselves manages enterprises
    ("POST", "/public/v1/enterprises"): {"enterprise_agent": 403, "citizen": 422},
    ("POST", "/public/v1/enterprises/{id}/agents"): {"enterprise_agent": 403, "citizen": 404},
    ("DELETE", "/public/v1/enterprises/{id}/agents/{agent_id}"): {
        "enterprise_agent": 403,
        "citizen": 404,
    },
    **{route: dict.fromkeys(STAFF, 403) for route in ADMINISTRATION},
    # the Big Data Bureau reviews the catalog and routes the public's demands
    **{
        ("POST", f"/office/v1/catalog/resources/{{id}}/{step}"): dict.fromkeys(STAFF, 403)
        for step in ("return", "confirm", "publish")
    },
    ("POST", "/office/v1/catalog/demands/{id}/route"): dict.fromkeys(STAFF, 403),
    # only citizens and enterprise agents ask for data to be opened; their empty body is 422
    ("POST", "/public/v1/catalog/demands"): {"citizen": 422, "enterprise_agent": 422},
    # the Bureau's administrators keep partners' entitlements
    **{
        (method, path): dict.fromkeys(STAFF, 403)
        for method, path in (
            ("POST", "/office/v1/partners/{client_id}/entitlements"),
            ("GET", "/office/v1/partners/{client_id}/entitlements"),
            ("DELETE", "/office/v1/partners/{client_id}/entitlements/{event_type}"),
        )
    },
}
# A stream never ends by itself: asked with a malformed Last-Event-ID, it answers at once.
STREAM_HEADERS = {"/partner/v1/events/stream": {"Last-Event-ID": "not-a-sequence"}}
# A refresh without a refresh token is refused whoever asks.
REFRESH_PATHS = {f"/{entry}/v1/refresh" for entry in ("public", "office", "partner")}


def _path(route: Route) -> str:
    """The route's path with made-up values for its parameters (ids, names)."""
    return re.sub(
        r"\{([a-z_]+)\}",
        lambda m: f"no-such-{uuid.uuid4().hex[:8]}" if m[1] == "name" else str(uuid.uuid4()),
        route.path,
    )


def _body(route: Route) -> Any:
    if route.body is None:
        return None
    if (route.method, route.path) == ("POST", "/office/v1/catalog/resources"):
        return resource_body(department="psb")
    return {}


def _expected(route: Route, caller: Caller) -> int | None:
    """The status expected, or None for "anything but a refusal"."""
    if route.path in REFRESH_PATHS:
        return 401
    if route.anonymous:
        return None
    if caller.name == "anonymous" or caller.entry not in route.audiences:
        return 401
    return EXPECTED.get((route.method, route.path), {}).get(caller.name)


def _ends_sessions(route: Route) -> bool:
    """Logging out, or signing out everywhere, ends the caller's sessions (and its tokens)."""
    return route.path.endswith("/logout") or (
        route.method == "DELETE" and route.path.endswith("/me/sessions")
    )


# Routes that end the callers' sessions (and their tokens with them, at once) come last.
ORDERED = sorted(ROUTES, key=_ends_sessions)


@pytest.mark.parametrize("route", ORDERED, ids=lambda r: f"{r.method} {r.path}")
async def test_route_answers_each_type_of_caller_as_its_policy_says(
    platform: Platform, route: Route
) -> None:
    answers = {}
    for caller in CALLERS:
        token = None
        if caller.username:
            token = await platform.login(
                caller.username, entry=caller.entry, enterprise_id=caller.enterprise_id
            )
        body = _body(route)
        status, reply, headers = await platform.request(
            route.method,
            _path(route),
            token=token,
            headers=STREAM_HEADERS.get(route.path, {}),
            **({"json": body} if body is not None else {}),
        )
        expected = _expected(route, caller)
        answers[caller.name] = status
        if expected is None:
            assert status not in (401, 403), (caller.name, reply)
        else:
            assert status == expected, (caller.name, reply)
        if status in (401, 403):
            assert headers["Content-Type"] == "application/problem+json", caller.name
            assert reply["status"] == status and reply["detail"], reply
        if status == 401:
            assert headers["WWW-Authenticate"].startswith("Bearer")
        # RFC 6750 section 3: a presented token that is refused is told why
        if token and status == 401 and not route.anonymous:
            assert 'error="invalid_token"' in headers["WWW-Authenticate"], caller.name
        if token and status == 403:
            assert 'error="insufficient_scope"' in headers["WWW-Authenticate"], caller.name
    # every non-anonymous route refuses somebody: the matrix cannot pass by accident
    if not route.anonymous:
        assert 401 in answers.values(), answers
    if _ends_sessions(route) and route.audience:
        platform.forget_tokens(route.audience)
