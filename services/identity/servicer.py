"""IdentityService over gRPC: translate, authorise, delegate.

Each method's `@allow` line says who may call it; the shared interceptor enforces it before the
method runs, and denies any method without one. The work happens in `sessions`, `accounts` and
`enterprises`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from runtime import auth, logs
from runtime.auth import (
    ANONYMOUS,
    CITIZEN,
    ENTERPRISE_AGENT,
    OFFICE,
    PUBLIC,
    SIGNED_IN,
    STAFF,
    Policy,
    allow,
    policies_of,
    require_principal,
)
from runtime.service import ServiceRuntime
from services.identity import domain, ended_sessions, holders
from services.identity.accounts import Accounts
from services.identity.authorization import Authorization, application_message
from services.identity.enterprises import Enterprises
from services.identity.personal import PersonalData
from services.identity.sessions import Sessions, Tokens
from services.identity.signing import SigningKeys
from smartcity.identity.v1 import identity_pb2, identity_pb2_grpc

log = logs.get(__name__)

SERVICE = identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name

# Who administers accounts: the Bureau's administrators and security officers; auditors read.
# Which members of staff may call each method: the role table, runtime/roles.py; the names
# below say whom each method is for.
ADMINS = OFFICE
READERS = OFFICE
# What a member of staff may do before enrolling a second factor.
BEFORE_SECOND_FACTOR = SIGNED_IN.but(second_factor_optional=True)
SERVICES_ONLY = Policy(audiences=("service",), kinds=(auth.SERVICE,))
PEOPLE = SIGNED_IN.but(kinds=(CITIZEN, ENTERPRISE_AGENT, STAFF), second_factor_optional=True)
# OpenID Connect userinfo: people's tokens of the platform's own applications and of third
# parties (which open nothing else).
USERINFO = Policy(
    audiences=("public", "office", auth.USERINFO_AUDIENCE), kinds=(CITIZEN, ENTERPRISE_AGENT, STAFF)
)


def _tokens_message(tokens: Tokens, response: Any) -> Any:
    response.access_token = tokens.access_token
    response.token_type = "Bearer"  # noqa: S105 - the token scheme, not a secret
    response.expires_in = tokens.expires_in
    response.refresh_token = tokens.refresh_token
    response.refresh_expires_in = tokens.refresh_expires_in
    return response


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(
        self, rt: ServiceRuntime, keys: SigningKeys, personal: PersonalData, *, master_key: bytes
    ) -> None:
        self._rt = rt
        self._keys = keys
        self._sessions = Sessions(rt, keys, personal)
        self._authorization = Authorization(
            rt, keys, self._sessions, personal, master_key=master_key
        )
        self._accounts = Accounts(rt, personal)
        self._enterprises = Enterprises(rt, personal, self._sessions)
        self._personal = personal

    @allow(ANONYMOUS)
    async def Login(
        self, request: identity_pb2.LoginRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.LoginResponse:
        credentials = domain.login_credentials(
            username=request.username,
            password=request.password,
            client_id=request.client_id,
            client_secret=request.client_secret,
            audience=request.audience,
        )
        tokens = await self._sessions.login(
            username=credentials.username,
            password=credentials.password,
            audience=request.audience,
            totp_code=request.totp_code,
            enterprise_id=request.enterprise_id,
            fields=credentials.fields,
            refreshable=not credentials.of_client,
        )
        response = _tokens_message(tokens, identity_pb2.LoginResponse())
        if tokens.second_factor_pending:
            response.next_step = identity_pb2.NEXT_STEP_ENROL_TOTP
        return response  # type: ignore[no-any-return]

    @allow(ANONYMOUS)  # the refresh token is the credential
    async def RefreshSession(
        self, request: identity_pb2.RefreshSessionRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.RefreshSessionResponse:
        if request.client_id:  # the token endpoint: the session's application refreshes
            return await self._authorization.refresh(request)
        tokens = await self._sessions.refresh(
            refresh_token=request.refresh_token, audience=request.audience
        )
        return _tokens_message(tokens, identity_pb2.RefreshSessionResponse())  # type: ignore[no-any-return]

    @allow(BEFORE_SECOND_FACTOR)
    async def Logout(
        self, request: identity_pb2.LogoutRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.LogoutResponse:
        await self._sessions.logout(require_principal())
        return identity_pb2.LogoutResponse()

    @allow(ANONYMOUS)
    async def GetJwks(
        self, request: identity_pb2.GetJwksRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.GetJwksResponse:
        return identity_pb2.GetJwksResponse(jwks_json=await self._keys.jwks_json())

    @allow(ANONYMOUS)
    async def ListDepartments(
        self, request: identity_pb2.ListDepartmentsRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListDepartmentsResponse:
        return identity_pb2.ListDepartmentsResponse(
            departments=[
                identity_pb2.Department(code=code, name=name)
                for code, name in domain.DEPARTMENTS.items()
            ]
        )

    @allow(BEFORE_SECOND_FACTOR)
    async def GetCurrentAccount(
        self, request: identity_pb2.GetCurrentAccountRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.GetCurrentAccountResponse:
        return await self._accounts.get_current_account(request, require_principal())

    @allow(PUBLIC)
    async def UpdateProfile(
        self, request: identity_pb2.UpdateProfileRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.UpdateProfileResponse:
        return await self._accounts.update_profile(request, require_principal())

    @allow(PEOPLE)
    async def ChangePassword(
        self, request: identity_pb2.ChangePasswordRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ChangePasswordResponse:
        return await self._accounts.change_password(request, require_principal())

    @allow(PEOPLE)
    async def ListMySessions(
        self, request: identity_pb2.ListMySessionsRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListMySessionsResponse:
        return await self._sessions.list_mine(require_principal())

    @allow(PEOPLE)
    async def EndMySessions(
        self, request: identity_pb2.EndMySessionsRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.EndMySessionsResponse:
        ended = await self._sessions.end_mine(require_principal())
        return identity_pb2.EndMySessionsResponse(ended=ended)

    @allow(BEFORE_SECOND_FACTOR.but(kinds=(STAFF,)))
    async def BeginTotpEnrolment(
        self, request: identity_pb2.BeginTotpEnrolmentRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.BeginTotpEnrolmentResponse:
        return await self._accounts.begin_totp_enrolment(request, require_principal())

    @allow(BEFORE_SECOND_FACTOR.but(kinds=(STAFF,)))
    async def ConfirmTotpEnrolment(
        self, request: identity_pb2.ConfirmTotpEnrolmentRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ConfirmTotpEnrolmentResponse:
        return await self._accounts.confirm_totp_enrolment(request, require_principal())

    @allow(ANONYMOUS)
    async def RegisterCitizen(
        self, request: identity_pb2.RegisterCitizenRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.RegisterCitizenResponse:
        return await self._accounts.register_citizen(request)

    @allow(PUBLIC.but(kinds=(CITIZEN,)))
    async def RegisterEnterprise(
        self, request: identity_pb2.RegisterEnterpriseRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.RegisterEnterpriseResponse:
        return await self._enterprises.register_enterprise(request, require_principal())

    @allow(PUBLIC)
    async def ListMyEnterprises(
        self, request: identity_pb2.ListMyEnterprisesRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListMyEnterprisesResponse:
        return await self._enterprises.list_my_enterprises(request, require_principal())

    @allow(PUBLIC.but(kinds=(CITIZEN,)))
    async def AuthoriseAgent(
        self, request: identity_pb2.AuthoriseAgentRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.AuthoriseAgentResponse:
        return await self._enterprises.authorise_agent(request, require_principal())

    @allow(PUBLIC.but(kinds=(CITIZEN,)))
    async def RevokeAgent(
        self, request: identity_pb2.RevokeAgentRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.RevokeAgentResponse:
        return await self._enterprises.revoke_agent(request, require_principal())

    @allow(ADMINS)
    async def CreateStaffAccount(
        self, request: identity_pb2.CreateStaffAccountRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.CreateStaffAccountResponse:
        return await self._accounts.create_staff_account(request, require_principal())

    @allow(ADMINS)
    async def UpdateStaffRoles(
        self, request: identity_pb2.UpdateStaffRolesRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.UpdateStaffRolesResponse:
        return await self._accounts.update_staff_roles(request, require_principal())

    @allow(ADMINS)
    async def ResetSecondFactor(
        self, request: identity_pb2.ResetSecondFactorRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ResetSecondFactorResponse:
        return await self._accounts.reset_second_factor(request, require_principal())

    @allow(ADMINS)
    async def CreateClient(
        self, request: identity_pb2.CreateClientRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.CreateClientResponse:
        return await self._accounts.create_client(request, require_principal())

    @allow(READERS)
    async def ListAccounts(
        self, request: identity_pb2.ListAccountsRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListAccountsResponse:
        return await self._accounts.list_accounts(request)

    @allow(READERS)
    async def GetAccount(
        self, request: identity_pb2.GetAccountRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.GetAccountResponse:
        return await self._accounts.get_account(request)

    @allow(SERVICES_ONLY)
    async def ResolveHolder(
        self, request: identity_pb2.ResolveHolderRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ResolveHolderResponse:
        return await holders.resolve_holder(self._rt, self._personal, require_principal(), request)

    @allow(ADMINS)
    async def DisableAccount(
        self, request: identity_pb2.DisableAccountRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.DisableAccountResponse:
        return await self._accounts.disable_account(request, require_principal())

    @allow(ADMINS)
    async def EnableAccount(
        self, request: identity_pb2.EnableAccountRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.EnableAccountResponse:
        return await self._accounts.enable_account(request, require_principal())

    @allow(ADMINS)
    async def UnlockAccount(
        self, request: identity_pb2.UnlockAccountRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.UnlockAccountResponse:
        return await self._accounts.unlock_account(request, require_principal())

    @allow(ADMINS)
    async def EndSessions(
        self, request: identity_pb2.EndSessionsRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.EndSessionsResponse:
        return await self._accounts.end_sessions(request, require_principal())

    @allow(ADMINS)
    async def RotateSigningKey(
        self, request: identity_pb2.RotateSigningKeyRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.RotateSigningKeyResponse:
        kid, previous = await self._keys.rotate(self._rt.unit_of_work, by=require_principal())
        log.warning("signing_key_rotated_on_demand", kid=kid, by=require_principal().subject)
        return identity_pb2.RotateSigningKeyResponse(kid=kid, previous_kid=previous)

    # --- OAuth 2.0 and OpenID Connect ---------------------------------------------------------

    @allow(ADMINS)
    async def RegisterApplication(
        self,
        request: identity_pb2.RegisterApplicationRequest,
        context: grpc.aio.ServicerContext,
    ) -> identity_pb2.RegisterApplicationResponse:
        return await self._authorization.register(request, require_principal())

    @allow(READERS)
    async def ListApplications(
        self, request: identity_pb2.ListApplicationsRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListApplicationsResponse:
        found = await self._authorization.applications()
        return identity_pb2.ListApplicationsResponse(
            applications=[application_message(a) for a in found]
        )

    @allow(ANONYMOUS)  # public metadata: what the sign-in page shows and checks
    async def GetApplication(
        self, request: identity_pb2.GetApplicationRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.GetApplicationResponse:
        application = await self._authorization.application(request.client_id)
        return identity_pb2.GetApplicationResponse(application=application_message(application))

    @allow(ANONYMOUS)  # the person's credentials are the request
    async def Authorize(
        self, request: identity_pb2.AuthorizeRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.AuthorizeResponse:
        return await self._authorization.authorize(request)

    @allow(ANONYMOUS)  # the single-use ticket is the credential
    async def DecideConsent(
        self, request: identity_pb2.DecideConsentRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.DecideConsentResponse:
        return await self._authorization.decide_consent(request)

    @allow(ANONYMOUS)  # the client authenticates inside, with PKCE or its secret
    async def RedeemAuthorizationCode(
        self,
        request: identity_pb2.RedeemAuthorizationCodeRequest,
        context: grpc.aio.ServicerContext,
    ) -> identity_pb2.RedeemAuthorizationCodeResponse:
        return await self._authorization.redeem(request)

    @allow(ANONYMOUS)  # the client authenticates inside
    async def RevokeToken(
        self, request: identity_pb2.RevokeTokenRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.RevokeTokenResponse:
        await self._authorization.revoke(request)
        return identity_pb2.RevokeTokenResponse()

    @allow(ANONYMOUS)  # the client authenticates inside
    async def IntrospectToken(
        self, request: identity_pb2.IntrospectTokenRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.IntrospectTokenResponse:
        return await self._authorization.introspect(request)

    @allow(USERINFO)
    async def GetUserInfo(
        self, request: identity_pb2.GetUserInfoRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.GetUserInfoResponse:
        return await self._authorization.userinfo(require_principal())

    @allow(ANONYMOUS)  # the ID token is the hint
    async def EndSession(
        self, request: identity_pb2.EndSessionRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.EndSessionResponse:
        return await self._authorization.end_session(request)

    # Anyone, like GetJwks: random session ids and end times only; the gateway never exposes it
    @allow(ANONYMOUS)
    async def WatchEndedSessions(
        self, request: identity_pb2.WatchEndedSessionsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[identity_pb2.WatchEndedSessionsResponse]:
        # Bounded: it ends after WATCH_LIFETIME_SECONDS, and the verifier opens it again.
        async for beat in ended_sessions.announcer(self._rt.db).watch():
            yield ended_sessions.response(beat)

    @allow(ANONYMOUS)  # the same list as WatchEndedSessions, asked once
    async def ListEndedSessions(
        self, request: identity_pb2.ListEndedSessionsRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListEndedSessionsResponse:
        return await ended_sessions.announcer(self._rt.db).list_ended(request)


POLICIES: dict[str, Policy] = policies_of(IdentityServicer, SERVICE)
