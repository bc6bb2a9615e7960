"""IdentityService over gRPC: translate, authorise, delegate.

Each method's `@allow` line says who may call it; the shared interceptor enforces it before the
method runs, and denies any method without one.
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

import grpc
from sqlalchemy.exc import IntegrityError

from runtime import logs
from runtime.auth import (
    ANONYMOUS,
    CITIZEN,
    ENTERPRISE_AGENT,
    OFFICE,
    PUBLIC,
    SIGNED_IN,
    STAFF,
    Policy,
    Principal,
    allow,
    policies_of,
    require_principal,
)
from runtime.bus.outbox import enqueue
from runtime.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from runtime.pagination import decode_key_cursor, encode_key_cursor, page_size
from runtime.service import ServiceRuntime
from runtime.storage import Database, now_us, timestamp
from services.identity import domain, events, identifiers, passwords, store, totp
from services.identity.domain import Account, Profile
from services.identity.personal import PersonalData
from services.identity.sessions import Sessions, Tokens, end_sessions
from services.identity.signing import SigningKeys
from smartcity.identity.v1 import events_pb2, identity_pb2, identity_pb2_grpc

log = logs.get(__name__)

SERVICE = identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name

# Who administers accounts: the Bureau's administrators and security officers; auditors read.
ADMINS = OFFICE.but(roles=(domain.ROLE_BDB_ADMIN, domain.ROLE_SECURITY_OFFICER))
READERS = OFFICE.but(
    roles=(domain.ROLE_BDB_ADMIN, domain.ROLE_SECURITY_OFFICER, domain.ROLE_AUDITOR)
)
# What a member of staff may do before enrolling a second factor.
BEFORE_SECOND_FACTOR = SIGNED_IN.but(second_factor_optional=True)
PEOPLE = SIGNED_IN.but(kinds=(CITIZEN, ENTERPRISE_AGENT, STAFF), second_factor_optional=True)

RESIDENT_ID = "resident_id"
CREDIT_CODE = "credit_code"
_KIND_NAMES = {
    identity_pb2.ACCOUNT_KIND_PARTNER: domain.PARTNER,
    identity_pb2.ACCOUNT_KIND_SERVICE: domain.SERVICE,
}
_STATES = {domain.ACTIVE: identity_pb2.ACCOUNT_STATE_ACTIVE}


def account_message(account: Account) -> identity_pb2.Account:
    """What administrators see: no personal data."""
    message = identity_pb2.Account(
        id=account.id,
        username=account.username,
        kind=account.kind,
        department=account.department,
        roles=list(account.roles),
        subject_type=account.kind,
        state=_STATES.get(account.state, identity_pb2.ACCOUNT_STATE_DISABLED),
        totp_enrolled=account.totp_enrolled,
        failed_logins=account.failed_logins,
        create_time=timestamp(account.created_us),
    )
    if account.locked_until_us and account.locked_until_us > now_us():
        message.locked_until.CopyFrom(timestamp(account.locked_until_us))
    return message


def _tokens_message(tokens: Tokens, response: Any) -> Any:
    response.access_token = tokens.access_token
    response.token_type = "Bearer"  # noqa: S105 - the token scheme, not a secret
    response.expires_in = tokens.expires_in
    response.refresh_token = tokens.refresh_token
    response.refresh_expires_in = tokens.refresh_expires_in
    return response


def _violation(field: str, description: str) -> InvalidArgument:
    return InvalidArgument([FieldViolation(field, description)])


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, rt: ServiceRuntime, keys: SigningKeys, personal: PersonalData) -> None:
        self._rt = rt
        self._keys = keys
        self._personal = personal
        self._sessions = Sessions(rt, keys, personal)

    # --- sessions --------------------------------------------------------------------------

    @allow(ANONYMOUS)
    async def Login(
        self, request: identity_pb2.LoginRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.LoginResponse:
        tokens = await self._sessions.login(
            username=request.username,
            password=request.password,
            audience=request.audience,
            totp_code=request.totp_code,
            enterprise_id=request.enterprise_id,
        )
        response = _tokens_message(tokens, identity_pb2.LoginResponse())
        if tokens.second_factor_pending:
            response.next_step = identity_pb2.NEXT_STEP_ENROL_TOTP
        return response  # type: ignore[no-any-return]

    @allow(ANONYMOUS)  # the refresh token is the credential
    async def RefreshSession(
        self, request: identity_pb2.RefreshSessionRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.RefreshSessionResponse:
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

    # --- the caller's own account -------------------------------------------------------------

    async def _own_row(self, principal: Principal) -> store.Row:
        async with self._rt.db.read() as conn:
            row = await store.account_row(conn, account_id=principal.subject)
        if row is None:
            raise NotFound("account", principal.subject)
        return row

    def _own_account(self, principal: Principal, row: store.Row) -> identity_pb2.Account:
        message = account_message(store.account_from_row(row))
        message.subject_type = principal.kind
        message.enterprise_id = principal.enterprise
        profile = self._personal.open_profile(row.profile_sealed, owner=row.id)
        message.display_name = profile.display_name
        message.phone = profile.phone
        if row.resident_id_sealed:
            number = self._personal.open_identity_number(
                row.resident_id_sealed, kind=RESIDENT_ID, owner=row.id
            )
            message.resident_id_masked = domain.mask_identity_number(number)
        return message

    @allow(BEFORE_SECOND_FACTOR)
    async def GetCurrentAccount(
        self, request: identity_pb2.GetCurrentAccountRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.GetCurrentAccountResponse:
        principal = require_principal()
        row = await self._own_row(principal)
        return identity_pb2.GetCurrentAccountResponse(account=self._own_account(principal, row))

    @allow(PUBLIC)
    async def UpdateProfile(
        self, request: identity_pb2.UpdateProfileRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.UpdateProfileResponse:
        principal = require_principal()
        paths = set(request.update_mask.paths) or {"display_name", "phone"}
        if unknown := paths - {"display_name", "phone"}:
            raise _violation(
                "update_mask",
                "only display_name and phone can be changed, not " + ", ".join(sorted(unknown)),
            )
        row = await self._own_row(principal)
        current = self._personal.open_profile(row.profile_sealed, owner=row.id)
        new = Profile(
            display_name=(
                request.account.display_name.strip()
                if "display_name" in paths
                else current.display_name
            ),
            phone=request.account.phone.strip() if "phone" in paths else current.phone,
        )
        domain.validate_profile(new.display_name, new.phone, required_name=True)
        async with self._rt.db.begin() as conn:
            await store.update_account(
                conn, row.id, profile_sealed=self._personal.seal_profile(new, owner=row.id)
            )
        log.info("profile_updated", account_id=row.id)
        row = await self._own_row(principal)
        return identity_pb2.UpdateProfileResponse(account=self._own_account(principal, row))

    @allow(PEOPLE)
    async def ChangePassword(
        self, request: identity_pb2.ChangePasswordRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ChangePasswordResponse:
        principal = require_principal()
        row = await self._own_row(principal)
        if not await passwords.matches(row.password_hash, request.current_password):
            raise _violation("current_password", "does not match the account's password")
        violations = domain.password_violations(
            "new_password", request.new_password, username=row.username
        )
        if request.new_password == request.current_password:
            violations.append(FieldViolation("new_password", "must differ from the current one"))
        if violations:
            raise InvalidArgument(violations)
        new_hash = await passwords.hash_password(request.new_password)
        async with self._rt.db.begin() as conn:
            await store.update_account(conn, row.id, password_hash=new_hash)
            # Whoever else holds a session of this account loses it; the caller keeps theirs.
            await end_sessions(
                conn, account_id=row.id, keep=principal.session, reason="password_changed"
            )
        self._rt.events_committed()
        log.info("password_changed", account_id=row.id)
        return identity_pb2.ChangePasswordResponse()

    @allow(BEFORE_SECOND_FACTOR.but(kinds=(STAFF,)))
    async def BeginTotpEnrolment(
        self, request: identity_pb2.BeginTotpEnrolmentRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.BeginTotpEnrolmentResponse:
        principal = require_principal()
        row = await self._own_row(principal)
        if row.totp_sealed is not None:
            raise FailedPrecondition(
                "a second factor is already enrolled; a security officer can reset it"
            )
        secret = totp.new_secret()
        async with self._rt.db.begin() as conn:
            await store.update_account(
                conn, row.id, totp_pending_sealed=self._personal.seal_totp(secret, owner=row.id)
            )
        return identity_pb2.BeginTotpEnrolmentResponse(
            secret=secret,
            provisioning_uri=totp.provisioning_uri(
                secret, account=row.username, issuer=domain.TOTP_ISSUER
            ),
        )

    @allow(BEFORE_SECOND_FACTOR.but(kinds=(STAFF,)))
    async def ConfirmTotpEnrolment(
        self, request: identity_pb2.ConfirmTotpEnrolmentRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ConfirmTotpEnrolmentResponse:
        principal = require_principal()
        row = await self._own_row(principal)
        if row.totp_sealed is not None:
            raise FailedPrecondition("a second factor is already enrolled")
        if row.totp_pending_sealed is None:
            raise FailedPrecondition("begin the enrolment first")
        secret = self._personal.open_totp(row.totp_pending_sealed, owner=row.id)
        step = totp.verify(secret, request.totp_code, at=time.time(), last_used_step=None)
        if step is None:
            raise _violation("totp_code", "does not match the authenticator's current code")
        async with self._rt.db.begin() as conn:
            await store.update_account(
                conn,
                row.id,
                totp_sealed=row.totp_pending_sealed,
                totp_pending_sealed=None,
                totp_last_step=step,
            )
        log.info("totp_enrolled", account_id=row.id)
        return identity_pb2.ConfirmTotpEnrolmentResponse()

    # --- registration -------------------------------------------------------------------------

    @allow(ANONYMOUS)
    async def RegisterCitizen(
        self, request: identity_pb2.RegisterCitizenRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.RegisterCitizenResponse:
        violations = domain.username_violations(request.username)
        violations += domain.password_violations(
            "password", request.password, username=request.username
        )
        try:
            resident = identifiers.parse_resident_id(request.resident_id_number)
        except identifiers.IdentifierError as exc:
            violations.append(FieldViolation("resident_id_number", exc.reason))
        if violations:
            raise InvalidArgument(violations)
        domain.validate_profile(request.display_name, request.phone, required_name=True)
        account = Account(
            id=str(uuid.uuid4()),
            username=request.username,
            kind=domain.CITIZEN,
            department="",
            roles=(),
            created_us=now_us(),
        )
        number_hash = self._personal.identity_number_hash(resident.number, kind=RESIDENT_ID)
        sealed = {
            "resident_id_hash": number_hash,
            "resident_id_sealed": self._personal.seal_identity_number(
                resident.number, kind=RESIDENT_ID, owner=account.id
            ),
            "profile_sealed": self._personal.seal_profile(
                Profile(request.display_name.strip(), request.phone.strip()), owner=account.id
            ),
        }
        async with self._rt.db.read() as conn:
            if await store.resident_id_registered(conn, number_hash):
                raise AlreadyExists("an account is already registered for this resident ID number")
        await self._create_account(account, password=request.password, **sealed)
        return identity_pb2.RegisterCitizenResponse(account=account_message(account))

    async def _create_account(self, account: Account, *, password: str, **sealed: Any) -> None:
        await create_account(self._rt.db, account, password=password, **sealed)
        self._rt.events_committed()

    @allow(PUBLIC.but(kinds=(CITIZEN,)))
    async def RegisterEnterprise(
        self, request: identity_pb2.RegisterEnterpriseRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.RegisterEnterpriseResponse:
        principal = require_principal()
        violations: list[FieldViolation] = []
        try:
            code = identifiers.parse_credit_code(request.credit_code).code
        except identifiers.IdentifierError as exc:
            violations.append(FieldViolation("credit_code", exc.reason))
        name = request.name.strip()
        if not name or len(name) > 200:
            violations.append(FieldViolation("name", "is required, at most 200 characters"))
        if violations:
            raise InvalidArgument(violations)
        enterprise_id = str(uuid.uuid4())
        code_hash = self._personal.identity_number_hash(code, kind=CREDIT_CODE)
        try:
            async with self._rt.db.begin() as conn:
                if await store.credit_code_registered(conn, code_hash):
                    raise AlreadyExists("an enterprise with this credit code is already registered")
                await store.add_enterprise(
                    conn,
                    id=enterprise_id,
                    credit_code_hash=code_hash,
                    credit_code_sealed=self._personal.seal_identity_number(
                        code, kind=CREDIT_CODE, owner=enterprise_id
                    ),
                    name=name,
                    legal_representative_id=principal.subject,
                )
        except IntegrityError:
            raise AlreadyExists(
                "an enterprise with this credit code is already registered"
            ) from None
        log.info("enterprise_registered", enterprise_id=enterprise_id, by=principal.subject)
        return identity_pb2.RegisterEnterpriseResponse(
            enterprise=identity_pb2.Enterprise(
                id=enterprise_id,
                credit_code=code,
                name=name,
                relation="legal_representative",
                create_time=timestamp(now_us()),
            )
        )

    @allow(PUBLIC)
    async def ListMyEnterprises(
        self, request: identity_pb2.ListMyEnterprisesRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListMyEnterprisesResponse:
        principal = require_principal()
        async with self._rt.db.read() as conn:
            found = await store.enterprises_of(conn, principal.subject)
        return identity_pb2.ListMyEnterprisesResponse(
            enterprises=[
                identity_pb2.Enterprise(
                    id=row.id,
                    credit_code=self._personal.open_identity_number(
                        row.credit_code_sealed, kind=CREDIT_CODE, owner=row.id
                    ),
                    name=row.name,
                    relation=relation,
                    create_time=timestamp(row.created_us),
                )
                for row, relation in found
            ]
        )

    async def _represented(self, principal: Principal, enterprise_id: str) -> store.Row:
        """The enterprise, if the caller is its legal representative (acting as themselves)."""
        async with self._rt.db.read() as conn:
            row = await store.enterprise_row(conn, enterprise_id) if enterprise_id else None
        if row is None:
            raise NotFound("enterprise", enterprise_id)
        if row.legal_representative_id != principal.subject or principal.enterprise:
            raise PermissionDenied("only the enterprise's legal representative manages its agents")
        return row

    @allow(PUBLIC.but(kinds=(CITIZEN,)))
    async def AuthoriseAgent(
        self, request: identity_pb2.AuthoriseAgentRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.AuthoriseAgentResponse:
        principal = require_principal()
        enterprise = await self._represented(principal, request.enterprise_id)
        async with self._rt.db.read() as conn:
            agent_row = await store.account_row(conn, username=request.agent_username)
        agent = store.account_from_row(agent_row) if agent_row is not None else None
        if agent is None or agent.kind != domain.CITIZEN:
            raise _violation("agent_username", "is not a citizen account")
        if agent.id == principal.subject:
            raise _violation("agent_username", "the legal representative acts for it already")
        async with self._rt.db.begin() as conn:
            added = await store.add_agent(
                conn,
                enterprise_id=enterprise.id,
                account_id=agent.id,
                authorised_by=principal.subject,
            )
        if not added:
            raise AlreadyExists("the account is already an agent of this enterprise")
        log.info("agent_authorised", enterprise_id=enterprise.id, agent_id=agent.id)
        return identity_pb2.AuthoriseAgentResponse(agent_id=agent.id)

    @allow(PUBLIC.but(kinds=(CITIZEN,)))
    async def RevokeAgent(
        self, request: identity_pb2.RevokeAgentRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.RevokeAgentResponse:
        principal = require_principal()
        enterprise = await self._represented(principal, request.enterprise_id)
        async with self._rt.db.begin() as conn:
            removed = await store.remove_agent(
                conn, enterprise_id=enterprise.id, account_id=request.agent_id
            )
        if not removed:
            raise NotFound("agent", request.agent_id)
        await self._sessions.end_all(
            request.agent_id, reason="agent_revoked", enterprise_id=enterprise.id
        )
        log.info("agent_revoked", enterprise_id=enterprise.id, agent_id=request.agent_id)
        return identity_pb2.RevokeAgentResponse()

    # --- administration (office) ----------------------------------------------------------------

    @allow(OFFICE.but(roles=(domain.ROLE_BDB_ADMIN,)))
    async def CreateStaffAccount(
        self, request: identity_pb2.CreateStaffAccountRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.CreateStaffAccountResponse:
        violations = domain.username_violations(request.username)
        violations += domain.password_violations(
            "password", request.password, username=request.username
        )
        if violations:
            raise InvalidArgument(violations)
        domain.validate_roles(request.department, list(request.roles))
        domain.validate_profile(request.display_name, "", required_name=True)
        account = Account(
            id=str(uuid.uuid4()),
            username=request.username,
            kind=domain.STAFF,
            department=request.department,
            roles=tuple(request.roles),
            created_us=now_us(),
        )
        profile = self._personal.seal_profile(
            Profile(display_name=request.display_name.strip()), owner=account.id
        )
        await self._create_account(account, password=request.password, profile_sealed=profile)
        return identity_pb2.CreateStaffAccountResponse(account=account_message(account))

    @allow(OFFICE.but(roles=(domain.ROLE_BDB_ADMIN,)))
    async def CreateClient(
        self, request: identity_pb2.CreateClientRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.CreateClientResponse:
        violations = domain.username_violations(request.client_id)
        for violation in violations:
            violations = [FieldViolation("client_id", violation.description)]
        kind = _KIND_NAMES.get(request.kind)
        if kind is None:
            violations.append(FieldViolation("kind", "must be partner or service"))
        if request.department not in domain.DEPARTMENTS:
            violations.append(
                FieldViolation("department", "must be one of: " + ", ".join(domain.DEPARTMENTS))
            )
        if violations or kind is None:
            raise InvalidArgument(violations)
        secret = secrets.token_urlsafe(32)
        account = Account(
            id=str(uuid.uuid4()),
            username=request.client_id,
            kind=kind,
            department=request.department,
            roles=(),
            created_us=now_us(),
        )
        await self._create_account(account, password=secret)
        return identity_pb2.CreateClientResponse(
            account=account_message(account), client_secret=secret
        )

    @allow(READERS)
    async def ListAccounts(
        self, request: identity_pb2.ListAccountsRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListAccountsResponse:
        if request.kind and request.kind not in domain.KINDS:
            raise _violation("kind", "must be one of: " + ", ".join(domain.KINDS))
        limit = page_size(request.page_size)
        after = decode_key_cursor(request.page_token)
        async with self._rt.db.read() as conn:
            found, next_after = await store.list_accounts(
                conn, after=after, limit=limit, kind=request.kind, department=request.department
            )
        return identity_pb2.ListAccountsResponse(
            accounts=[account_message(a) for a in found],
            next_page_token=encode_key_cursor(next_after),
        )

    async def _account(self, account_id: str) -> Account:
        async with self._rt.db.read() as conn:
            account = await store.get_account(conn, account_id) if account_id else None
        if account is None:
            raise NotFound("account", account_id)
        return account

    @allow(READERS)
    async def GetAccount(
        self, request: identity_pb2.GetAccountRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.GetAccountResponse:
        return identity_pb2.GetAccountResponse(
            account=account_message(await self._account(request.id))
        )

    @allow(ADMINS)
    async def DisableAccount(
        self, request: identity_pb2.DisableAccountRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.DisableAccountResponse:
        principal = require_principal()
        account = await self._account(request.id)
        if account.id == principal.subject:
            raise FailedPrecondition("administrators cannot disable their own account")
        async with self._rt.db.begin() as conn:
            await store.update_account(conn, account.id, state=domain.DISABLED)
            await end_sessions(conn, account_id=account.id, reason="account_disabled")
            await enqueue(
                conn,
                events.ACCOUNT_DISABLED,
                events_pb2.AccountDisabled(account_id=account.id),
                entity_id=account.id,
            )
        self._rt.events_committed()
        log.warning("account_disabled", account_id=account.id, by=principal.subject)
        return identity_pb2.DisableAccountResponse(
            account=account_message(await self._account(account.id))
        )

    @allow(ADMINS)
    async def EnableAccount(
        self, request: identity_pb2.EnableAccountRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.EnableAccountResponse:
        account = await self._account(request.id)
        async with self._rt.db.begin() as conn:
            await store.update_account(conn, account.id, state=domain.ACTIVE)
        log.info("account_enabled", account_id=account.id, by=require_principal().subject)
        return identity_pb2.EnableAccountResponse(
            account=account_message(await self._account(account.id))
        )

    @allow(ADMINS)
    async def UnlockAccount(
        self, request: identity_pb2.UnlockAccountRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.UnlockAccountResponse:
        account = await self._account(request.id)
        async with self._rt.db.begin() as conn:
            await store.update_account(conn, account.id, failed_logins=0, locked_until_us=None)
        log.info("account_unlocked", account_id=account.id, by=require_principal().subject)
        return identity_pb2.UnlockAccountResponse(
            account=account_message(await self._account(account.id))
        )

    @allow(ADMINS)
    async def EndSessions(
        self, request: identity_pb2.EndSessionsRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.EndSessionsResponse:
        account = await self._account(request.account_id)
        ended = await self._sessions.end_all(account.id, reason="ended_by_administrator")
        return identity_pb2.EndSessionsResponse(ended=ended)

    @allow(OFFICE.but(roles=(domain.ROLE_SECURITY_OFFICER,)))
    async def RotateSigningKey(
        self, request: identity_pb2.RotateSigningKeyRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.RotateSigningKeyResponse:
        kid, previous = await self._keys.rotate()
        self._rt.events_committed()
        log.warning("signing_key_rotated_on_demand", kid=kid, by=require_principal().subject)
        return identity_pb2.RotateSigningKeyResponse(kid=kid, previous_kid=previous)


async def create_account(db: Database, account: Account, *, password: str, **sealed: Any) -> None:
    """Insert an account with its `account.created` event, in one transaction; `sealed` holds
    its sealed and hashed personal columns."""
    password_hash = await passwords.hash_password(password)
    try:
        async with db.begin() as conn:
            if await store.username_exists(conn, account.username):
                raise AlreadyExists(f"the username {account.username!r} is taken")
            await store.add_account(conn, account, password_hash=password_hash, **sealed)
            await enqueue(
                conn,
                events.ACCOUNT_CREATED,
                events_pb2.AccountCreated(
                    account_id=account.id,
                    kind=identity_pb2.AccountKind.Value(f"ACCOUNT_KIND_{account.kind.upper()}"),
                    department=account.department,
                ),
                entity_id=account.id,
            )
    except IntegrityError:
        # A concurrent registration took the username or the number between check and insert.
        raise AlreadyExists("the username or identity number is already registered") from None
    log.info("account_created", account_id=account.id, kind=account.kind)


POLICIES: dict[str, Policy] = policies_of(IdentityServicer, SERVICE)


def add_to_server(server: Any, servicer: IdentityServicer) -> None:
    identity_pb2_grpc.add_IdentityServiceServicer_to_server(servicer, server)
