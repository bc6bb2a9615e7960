"""Identity on the three entry points: sign in, refresh, sign out and "who am I" at each; citizen
and enterprise self-service at /public; staff and client administration at /office.

Each entry point signs in only its own kind of account (Art. 10): the gateway sets the audience
from the path, and identity refuses an account that belongs elsewhere.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway import jsonmap
from gateway.endpoints import (
    ENTRY_POINTS,
    PAGE_QUERY,
    Call,
    QueryParam,
    Route,
    message_response,
)
from gateway.ratelimit import LoginLimits
from smartcity.identity.v1 import identity_pb2

LIMITS: web.AppKey[LoginLimits] = web.AppKey("login_limits", LoginLimits)
_TOKENS_NOT_CACHED = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _entry(call: Call) -> str:
    return call.request.path.split("/")[1]


def _no_content() -> web.StreamResponse:
    return web.Response(status=204)


async def login(call: Call) -> web.StreamResponse:
    request: identity_pb2.LoginRequest = call.body
    call.request.app[LIMITS].check_login(call.request, request.username or request.client_id)
    request.audience = _entry(call)
    reply = await call.rpc(call.upstream.identity.Login, request)
    return message_response(reply, headers=_TOKENS_NOT_CACHED)


async def refresh(call: Call) -> web.StreamResponse:
    request: identity_pb2.RefreshSessionRequest = call.body
    request.audience = _entry(call)
    reply = await call.rpc(call.upstream.identity.RefreshSession, request)
    return message_response(reply, headers=_TOKENS_NOT_CACHED)


async def logout(call: Call) -> web.StreamResponse:
    await call.rpc(call.upstream.identity.Logout, identity_pb2.LogoutRequest())
    return _no_content()


async def current_account(call: Call) -> web.StreamResponse:
    reply = await call.rpc(
        call.upstream.identity.GetCurrentAccount, identity_pb2.GetCurrentAccountRequest()
    )
    return message_response(reply.account)


async def change_password(call: Call) -> web.StreamResponse:
    await call.rpc(call.upstream.identity.ChangePassword, call.body)
    return _no_content()


async def my_sessions(call: Call) -> web.StreamResponse:
    reply = await call.rpc(
        call.upstream.identity.ListMySessions, identity_pb2.ListMySessionsRequest()
    )
    return message_response(reply, headers=_TOKENS_NOT_CACHED)


async def end_my_sessions(call: Call) -> web.StreamResponse:
    reply = await call.rpc(
        call.upstream.identity.EndMySessions, identity_pb2.EndMySessionsRequest()
    )
    return message_response(reply)


async def departments(call: Call) -> web.StreamResponse:
    reply = await call.rpc(
        call.upstream.identity.ListDepartments, identity_pb2.ListDepartmentsRequest()
    )
    return message_response(reply)


def session_routes(entry: str) -> tuple[Route, ...]:
    """Login, refresh, logout and "who am I" for one entry point."""
    base = f"/{entry}/v1"
    who = {"public": "a citizen or enterprise agent", "office": "a member of staff"}.get(
        entry, "a partner system (client_id and client_secret, or username and password)"
    )
    login_read_only = {"audience"}
    if entry != "office":
        login_read_only.add("totp_code")
    if entry != "public":
        login_read_only.add("enterprise_id")
    return (
        Route(
            method="POST",
            path=f"{base}/login",
            operation_id=f"{entry}Login",
            summary=f"Sign {who} in: an access token and a refresh token for this entry point.",
            tag="identity",
            handler=login,
            anonymous=True,
            body=identity_pb2.LoginRequest,
            read_only=frozenset(login_read_only),
            response=identity_pb2.LoginResponse,
            errors=(400, 401, 403, 415, 422, 429, 503),
        ),
        Route(
            method="POST",
            path=f"{base}/refresh",
            operation_id=f"{entry}Refresh",
            summary="Trade a refresh token for new tokens; reusing a spent one ends the session.",
            tag="identity",
            handler=refresh,
            anonymous=True,
            body=identity_pb2.RefreshSessionRequest,
            read_only=frozenset({"audience"}),
            response=identity_pb2.RefreshSessionResponse,
            errors=(400, 401, 415, 422, 503),
        ),
        Route(
            method="POST",
            path=f"{base}/logout",
            operation_id=f"{entry}Logout",
            summary="End the caller's session: its refresh token stops working.",
            tag="identity",
            handler=logout,
            audience=entry,
            status=204,
            errors=(401, 503),
        ),
        Route(
            method="GET",
            path=f"{base}/me",
            operation_id=f"{entry}CurrentAccount",
            summary="The signed-in account.",
            tag="identity",
            handler=current_account,
            audience=entry,
            response=identity_pb2.Account,
            errors=(401, 503),
        ),
    )


def password_route(entry: str) -> Route:
    return Route(
        method="POST",
        path=f"/{entry}/v1/me/password",
        operation_id=f"{entry}ChangePassword",
        summary="Change the caller's password; their other sessions end.",
        tag="identity",
        handler=change_password,
        audience=entry,
        body=identity_pb2.ChangePasswordRequest,
        status=204,
        errors=(400, 401, 403, 415, 422, 503),
    )


def my_sessions_routes(entry: str) -> tuple[Route, ...]:
    """Where the caller is signed in, and signing out everywhere."""
    return (
        Route(
            method="GET",
            path=f"/{entry}/v1/me/sessions",
            operation_id=f"{entry}ListMySessions",
            summary="Where the caller is signed in: their open sessions, their own one marked.",
            tag="identity",
            handler=my_sessions,
            audience=entry,
            response=identity_pb2.ListMySessionsResponse,
            errors=(401, 403, 503),
        ),
        Route(
            method="DELETE",
            path=f"/{entry}/v1/me/sessions",
            operation_id=f"{entry}EndMySessions",
            summary="Sign out everywhere: every open session of the caller ends, this one too.",
            tag="identity",
            handler=end_my_sessions,
            audience=entry,
            response=identity_pb2.EndMySessionsResponse,
            errors=(401, 403, 503),
        ),
    )


# --- /public: citizens and enterprises ---------------------------------------------------------


async def register_citizen(call: Call) -> web.StreamResponse:
    call.request.app[LIMITS].check_registration(call.request)
    reply = await call.rpc(call.upstream.identity.RegisterCitizen, call.body)
    return message_response(reply.account, status=201, headers={"Location": "/public/v1/me"})


async def update_profile(call: Call) -> web.StreamResponse:
    request = identity_pb2.UpdateProfileRequest(account=call.body)
    request.update_mask.paths.extend(await call.update_mask())
    reply = await call.rpc(call.upstream.identity.UpdateProfile, request)
    return message_response(reply.account)


async def my_enterprises(call: Call) -> web.StreamResponse:
    reply = await call.rpc(
        call.upstream.identity.ListMyEnterprises, identity_pb2.ListMyEnterprisesRequest()
    )
    return message_response(reply)


async def register_enterprise(call: Call) -> web.StreamResponse:
    reply = await call.rpc(call.upstream.identity.RegisterEnterprise, call.body)
    return message_response(reply.enterprise, status=201)


async def authorise_agent(call: Call) -> web.StreamResponse:
    request: identity_pb2.AuthoriseAgentRequest = call.body
    request.enterprise_id = call.request.match_info["id"]
    reply = await call.rpc(call.upstream.identity.AuthoriseAgent, request)
    return message_response(reply, status=201)


async def revoke_agent(call: Call) -> web.StreamResponse:
    await call.rpc(
        call.upstream.identity.RevokeAgent,
        identity_pb2.RevokeAgentRequest(
            enterprise_id=call.request.match_info["id"],
            agent_id=call.request.match_info["agent_id"],
        ),
    )
    return _no_content()


PUBLIC_ROUTES: tuple[Route, ...] = (
    Route(
        method="POST",
        path="/public/v1/accounts",
        operation_id="registerCitizen",
        summary="Register a citizen account with a resident ID number (GB 11643).",
        tag="identity",
        handler=register_citizen,
        anonymous=True,
        body=identity_pb2.RegisterCitizenRequest,
        response=identity_pb2.Account,
        status=201,
        errors=(400, 409, 415, 422, 429, 503),
    ),
    Route(
        method="PATCH",
        path="/public/v1/me",
        operation_id="updateProfile",
        summary="Change the caller's display name or phone (the fields sent).",
        tag="identity",
        handler=update_profile,
        audience="public",
        body=identity_pb2.Account,
        read_only=frozenset(identity_pb2.Account.DESCRIPTOR.fields_by_name)
        - {"display_name", "phone"},
        response=identity_pb2.Account,
        errors=(400, 401, 403, 415, 422, 503),
    ),
    Route(
        method="GET",
        path="/public/v1/me/enterprises",
        operation_id="listMyEnterprises",
        summary="The enterprises the caller represents or acts for.",
        tag="identity",
        handler=my_enterprises,
        audience="public",
        response=identity_pb2.ListMyEnterprisesResponse,
        errors=(401, 503),
    ),
    Route(
        method="POST",
        path="/public/v1/enterprises",
        operation_id="registerEnterprise",
        summary="Register an enterprise (GB 32100 credit code); the caller is its legal "
        "representative.",
        tag="identity",
        handler=register_enterprise,
        audience="public",
        body=identity_pb2.RegisterEnterpriseRequest,
        response=identity_pb2.Enterprise,
        status=201,
        errors=(400, 401, 403, 409, 415, 422, 503),
    ),
    Route(
        method="POST",
        path="/public/v1/enterprises/{id}/agents",
        operation_id="authoriseAgent",
        summary="Authorise a citizen to act for the enterprise (its legal representative).",
        tag="identity",
        handler=authorise_agent,
        audience="public",
        body=identity_pb2.AuthoriseAgentRequest,
        read_only=frozenset({"enterprise_id"}),
        response=identity_pb2.AuthoriseAgentResponse,
        status=201,
        errors=(400, 401, 403, 404, 409, 415, 422, 503),
    ),
    Route(
        method="DELETE",
        path="/public/v1/enterprises/{id}/agents/{agent_id}",
        operation_id="revokeAgent",
        summary="Withdraw an agent's authorisation; their sessions for the enterprise end.",
        tag="identity",
        handler=revoke_agent,
        audience="public",
        status=204,
        errors=(401, 403, 404, 503),
    ),
    Route(
        method="GET",
        path="/public/v1/departments",
        operation_id="publicDepartments",
        summary="The government departments on the platform.",
        tag="identity",
        handler=departments,
        anonymous=True,
        response=identity_pb2.ListDepartmentsResponse,
        errors=(503,),
    ),
)

# --- /office: staff ----------------------------------------------------------------------------


async def begin_totp(call: Call) -> web.StreamResponse:
    reply = await call.rpc(
        call.upstream.identity.BeginTotpEnrolment, identity_pb2.BeginTotpEnrolmentRequest()
    )
    return message_response(reply, headers=_TOKENS_NOT_CACHED)


async def confirm_totp(call: Call) -> web.StreamResponse:
    await call.rpc(call.upstream.identity.ConfirmTotpEnrolment, call.body)
    return _no_content()


async def list_accounts(call: Call) -> web.StreamResponse:
    request = jsonmap.parse_query(
        call.request.query,
        identity_pb2.ListAccountsRequest,
        names=("page_size", "page_token", "kind", "department"),
    )
    reply = await call.rpc(call.upstream.identity.ListAccounts, request)
    return message_response(reply)


async def create_staff(call: Call) -> web.StreamResponse:
    reply = await call.rpc(call.upstream.identity.CreateStaffAccount, call.body)
    location = f"/office/v1/accounts/{reply.account.id}"
    return message_response(reply.account, status=201, headers={"Location": location})


async def get_account(call: Call) -> web.StreamResponse:
    reply = await call.rpc(
        call.upstream.identity.GetAccount,
        identity_pb2.GetAccountRequest(id=call.request.match_info["id"]),
    )
    return message_response(reply.account)


def _account_action(method: Any, request_type: Any) -> Any:
    async def handle(call: Call) -> web.StreamResponse:
        reply = await call.rpc(
            method(call.upstream.identity), request_type(id=call.request.match_info["id"])
        )
        return message_response(reply.account)

    return handle


async def update_staff_roles(call: Call) -> web.StreamResponse:
    request: identity_pb2.UpdateStaffRolesRequest = call.body
    request.id = call.request.match_info["id"]
    reply = await call.rpc(call.upstream.identity.UpdateStaffRoles, request)
    return message_response(reply.account)


async def end_sessions(call: Call) -> web.StreamResponse:
    reply = await call.rpc(
        call.upstream.identity.EndSessions,
        identity_pb2.EndSessionsRequest(account_id=call.request.match_info["id"]),
    )
    return message_response(reply)


async def create_client(call: Call) -> web.StreamResponse:
    reply = await call.rpc(call.upstream.identity.CreateClient, call.body)
    return message_response(reply, status=201, headers=_TOKENS_NOT_CACHED)


async def rotate_signing_key(call: Call) -> web.StreamResponse:
    reply = await call.rpc(
        call.upstream.identity.RotateSigningKey, identity_pb2.RotateSigningKeyRequest()
    )
    return message_response(reply)


def _action_route(action: str, summary: str, method: Any, request_type: Any) -> Route:
    return Route(
        method="POST",
        path=f"/office/v1/accounts/{{id}}/{action}",
        operation_id=action.split("-")[0]
        + "".join(w.title() for w in action.split("-")[1:])
        + "Account",
        summary=summary,
        tag="identity",
        handler=_account_action(method, request_type),
        audience="office",
        response=identity_pb2.Account,
        errors=(401, 403, 404, 409, 503),
    )


OFFICE_ROUTES: tuple[Route, ...] = (
    Route(
        method="POST",
        path="/office/v1/me/totp",
        operation_id="beginTotpEnrolment",
        summary="Start enrolling a TOTP authenticator: a secret and an otpauth:// URI.",
        tag="identity",
        handler=begin_totp,
        audience="office",
        response=identity_pb2.BeginTotpEnrolmentResponse,
        errors=(401, 403, 409, 503),
    ),
    Route(
        method="POST",
        path="/office/v1/me/totp/confirm",
        operation_id="confirmTotpEnrolment",
        summary="Confirm the authenticator with its current code; then sign in again.",
        tag="identity",
        handler=confirm_totp,
        audience="office",
        body=identity_pb2.ConfirmTotpEnrolmentRequest,
        status=204,
        errors=(400, 401, 403, 409, 415, 422, 503),
    ),
    Route(
        method="GET",
        path="/office/v1/departments",
        operation_id="officeDepartments",
        summary="The government departments on the platform.",
        tag="identity",
        handler=departments,
        audience="office",
        response=identity_pb2.ListDepartmentsResponse,
        errors=(401, 503),
    ),
    Route(
        method="GET",
        path="/office/v1/accounts",
        operation_id="listAccounts",
        summary="Page through accounts (administrators, security officers, auditors).",
        tag="identity",
        handler=list_accounts,
        audience="office",
        response=identity_pb2.ListAccountsResponse,
        query=(
            *PAGE_QUERY,
            QueryParam(name="kind", description="citizen, staff, partner or service."),
            QueryParam(name="department", description="Only this department's."),
        ),
        errors=(400, 401, 403, 422, 503),
    ),
    Route(
        method="POST",
        path="/office/v1/accounts",
        operation_id="createStaffAccount",
        summary="Create a member of staff (Big Data Bureau administrators).",
        tag="identity",
        handler=create_staff,
        audience="office",
        body=identity_pb2.CreateStaffAccountRequest,
        response=identity_pb2.Account,
        status=201,
        errors=(400, 401, 403, 409, 415, 422, 503),
    ),
    Route(
        method="GET",
        path="/office/v1/accounts/{id}",
        operation_id="getAccount",
        summary="One account, with its lock state.",
        tag="identity",
        handler=get_account,
        audience="office",
        response=identity_pb2.Account,
        errors=(401, 403, 404, 503),
    ),
    _action_route(
        "disable",
        "Disable the account and end its sessions.",
        lambda stub: stub.DisableAccount,
        identity_pb2.DisableAccountRequest,
    ),
    _action_route(
        "enable",
        "Enable a disabled account.",
        lambda stub: stub.EnableAccount,
        identity_pb2.EnableAccountRequest,
    ),
    _action_route(
        "unlock",
        "Lift a lockout after failed logins.",
        lambda stub: stub.UnlockAccount,
        identity_pb2.UnlockAccountRequest,
    ),
    _action_route(
        "reset-second-factor",
        "Remove a member of staff's TOTP enrolment (a lost authenticator); their sessions end "
        "and they enrol again at the next sign-in.",
        lambda stub: stub.ResetSecondFactor,
        identity_pb2.ResetSecondFactorRequest,
    ),
    Route(
        method="PUT",
        path="/office/v1/accounts/{id}/roles",
        operation_id="updateStaffRoles",
        summary="Replace a member of staff's roles (Big Data Bureau administrators); tokens carry "
        "them from the next refresh.",
        tag="identity",
        handler=update_staff_roles,
        audience="office",
        body=identity_pb2.UpdateStaffRolesRequest,
        read_only=frozenset({"id"}),
        response=identity_pb2.Account,
        errors=(400, 401, 403, 404, 409, 415, 422, 503),
    ),
    Route(
        method="DELETE",
        path="/office/v1/accounts/{id}/sessions",
        operation_id="endSessions",
        summary="End every session of the account.",
        tag="identity",
        handler=end_sessions,
        audience="office",
        response=identity_pb2.EndSessionsResponse,
        errors=(401, 403, 404, 503),
    ),
    Route(
        method="POST",
        path="/office/v1/clients",
        operation_id="createClient",
        summary="Register a partner system or service; the secret is shown once.",
        tag="identity",
        handler=create_client,
        audience="office",
        body=identity_pb2.CreateClientRequest,
        response=identity_pb2.CreateClientResponse,
        status=201,
        errors=(400, 401, 403, 409, 415, 422, 503),
    ),
    Route(
        method="POST",
        path="/office/v1/signing-keys/rotate",
        operation_id="rotateSigningKey",
        summary="Sign with a new key from now on (security officers); the old one stays in the "
        "JWKS until its tokens expire.",
        tag="identity",
        handler=rotate_signing_key,
        audience="office",
        response=identity_pb2.RotateSigningKeyResponse,
        errors=(401, 403, 503),
    ),
)

ROUTES: tuple[Route, ...] = (
    *(route for entry in ENTRY_POINTS for route in session_routes(entry)),
    password_route("public"),
    password_route("office"),
    *my_sessions_routes("public"),
    *PUBLIC_ROUTES,
    *OFFICE_ROUTES,
)
