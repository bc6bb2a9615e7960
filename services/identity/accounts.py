"""Accounts: citizens register themselves, administrators create staff and clients, look after
accounts (disable, enable, unlock), and everyone manages their own profile, password and second
factor. Personal data is sealed on the way in and shown only to the account itself."""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError

from runtime import identifiers, logs
from runtime.auth import Principal
from runtime.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from runtime.pagination import decode_key_cursor, encode_key_cursor, page_size
from runtime.service import ServiceRuntime
from runtime.storage import now_us, timestamp
from runtime.unit_of_work import UnitOfWork, UnitsOfWork
from services.identity import domain, events, passwords, store, totp
from services.identity.domain import Account, Profile
from services.identity.personal import PersonalData
from services.identity.sessions import end_sessions
from smartcity.identity.v1 import events_pb2, identity_pb2

log = logs.get(__name__)

SERVICE_NAME = "identity"
RESIDENT_ID = "resident_id"
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


async def create_account(
    work: UnitsOfWork, account: Account, *, password: str, by: Principal | None, **sealed: Any
) -> None:
    """Insert an account with its `account.created` event and audit record, in one transaction;
    `sealed` holds its sealed and hashed personal columns."""
    password_hash = await passwords.hash_password(password)
    try:
        async with work() as uow:
            # One namespace with the registered applications: a token's client_id is one.
            if await store.username_exists(uow.conn, account.username) or (
                await store.application_row(uow.conn, account.username) is not None
            ):
                raise AlreadyExists(f"the username {account.username!r} is taken")
            await store.add_account(uow.conn, account, password_hash=password_hash, **sealed)
            await uow.publish(
                events.ACCOUNT_CREATED,
                events_pb2.AccountCreated(
                    account_id=account.id,
                    kind=identity_pb2.AccountKind.Value(f"ACCOUNT_KIND_{account.kind.upper()}"),
                    department=account.department,
                ),
                entity_id=account.id,
            )
            await uow.audit(
                "identity.account.created",
                principal=by,
                resource_type="account",
                resource_id=account.id,
            )
    except IntegrityError:
        # A concurrent registration took the username or the number between check and insert.
        raise AlreadyExists("the username or identity number is already registered") from None
    log.info("account_created", account_id=account.id, kind=account.kind)


class Accounts:
    def __init__(self, rt: ServiceRuntime, personal: PersonalData) -> None:
        self._rt = rt
        self._personal = personal

    async def _own_row(self, principal: Principal) -> store.Row:
        async with self._rt.db.read() as conn:
            row = await store.account_row(conn, account_id=principal.subject)
        if row is None:
            raise NotFound("account", principal.subject)
        return row

    def _own_account(self, principal: Principal, row: store.Row) -> identity_pb2.Account:
        return self._as_owner_sees(
            row, subject_type=principal.kind, enterprise=principal.enterprise
        )

    def _as_owner_sees(
        self, row: store.Row, *, subject_type: str, enterprise: str = ""
    ) -> identity_pb2.Account:
        """The account with its personal data, as its owner sees it (`/me`)."""
        message = account_message(store.account_from_row(row))
        message.subject_type = subject_type
        message.enterprise_id = enterprise
        profile = self._personal.open_profile(row.profile_sealed, owner=row.id)
        message.display_name = profile.display_name
        message.phone = profile.phone
        if row.resident_id_sealed:
            number = self._personal.open_identity_number(
                row.resident_id_sealed, kind=RESIDENT_ID, owner=row.id
            )
            message.resident_id_masked = domain.mask_identity_number(number)
        return message

    async def _create(
        self, account: Account, *, password: str, by: Principal | None, **sealed: Any
    ) -> None:
        await create_account(self._rt.unit_of_work, account, password=password, by=by, **sealed)

    async def _account(self, account_id: str) -> Account:
        async with self._rt.db.read() as conn:
            account = await store.get_account(conn, account_id) if account_id else None
        if account is None:
            raise NotFound("account", account_id)
        return account

    async def get_current_account(
        self, request: identity_pb2.GetCurrentAccountRequest, principal: Principal
    ) -> identity_pb2.GetCurrentAccountResponse:
        row = await self._own_row(principal)
        return identity_pb2.GetCurrentAccountResponse(account=self._own_account(principal, row))

    async def update_profile(
        self, request: identity_pb2.UpdateProfileRequest, principal: Principal
    ) -> identity_pb2.UpdateProfileResponse:
        paths = set(request.update_mask.paths) or {"display_name", "phone"}
        if unknown := paths - {"display_name", "phone"}:
            raise InvalidArgument.of(
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

    async def change_password(
        self, request: identity_pb2.ChangePasswordRequest, principal: Principal
    ) -> identity_pb2.ChangePasswordResponse:
        row = await self._own_row(principal)
        if not await passwords.matches(row.password_hash, request.current_password):
            raise InvalidArgument.of("current_password", "does not match the account's password")
        violations = domain.password_violations(
            "new_password", request.new_password, username=row.username
        )
        if request.new_password == request.current_password:
            violations.append(FieldViolation("new_password", "must differ from the current one"))
        if violations:
            raise InvalidArgument(violations)
        new_hash = await passwords.hash_password(request.new_password)
        async with self._rt.unit_of_work() as uow:
            await store.update_account(uow.conn, row.id, password_hash=new_hash)
            # Whoever else holds a session of this account loses it; the caller keeps theirs.
            await end_sessions(
                uow, account_id=row.id, keep=principal.session, reason="password_changed"
            )
        log.info("password_changed", account_id=row.id)
        return identity_pb2.ChangePasswordResponse()

    async def begin_totp_enrolment(
        self, request: identity_pb2.BeginTotpEnrolmentRequest, principal: Principal
    ) -> identity_pb2.BeginTotpEnrolmentResponse:
        row = await self._own_row(principal)
        if row.totp_sealed is not None:
            raise FailedPrecondition(
                "a second factor is already enrolled; an administrator can reset it"
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

    async def confirm_totp_enrolment(
        self, request: identity_pb2.ConfirmTotpEnrolmentRequest, principal: Principal
    ) -> identity_pb2.ConfirmTotpEnrolmentResponse:
        row = await self._own_row(principal)
        if row.totp_sealed is not None:
            raise FailedPrecondition("a second factor is already enrolled")
        if row.totp_pending_sealed is None:
            raise FailedPrecondition("begin the enrolment first")
        secret = self._personal.open_totp(row.totp_pending_sealed, owner=row.id)
        step = totp.verify(secret, request.totp_code, at=time.time(), last_used_step=None)
        if step is None:
            raise InvalidArgument.of("totp_code", "does not match the authenticator's current code")
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

    async def register_citizen(
        self, request: identity_pb2.RegisterCitizenRequest
    ) -> identity_pb2.RegisterCitizenResponse:
        violations = domain.username_violations(request.username)
        violations += domain.password_violations(
            "password", request.password, username=request.username
        )
        try:
            resident = identifiers.parse_resident_id(request.resident_id_number)
        except identifiers.IdentifierError as exc:
            violations.append(FieldViolation("resident_id_number", exc.reason, exc.rule))
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
        await self._create(account, password=request.password, by=None, **sealed)
        # as stored, and as the citizen's `/me` will show it
        async with self._rt.db.read() as conn:
            row = await store.account_row(conn, account_id=account.id)
        if row is None:
            raise NotFound("account", account.id)
        return identity_pb2.RegisterCitizenResponse(
            account=self._as_owner_sees(row, subject_type=domain.CITIZEN)
        )

    async def create_staff_account(
        self, request: identity_pb2.CreateStaffAccountRequest, principal: Principal
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
        await self._create(account, password=request.password, by=principal, profile_sealed=profile)
        return identity_pb2.CreateStaffAccountResponse(account=account_message(account))

    async def create_client(
        self, request: identity_pb2.CreateClientRequest, principal: Principal
    ) -> identity_pb2.CreateClientResponse:
        violations = domain.client_id_violations(request.client_id)
        kind = _KIND_NAMES.get(request.kind)
        if kind is None:
            violations.append(FieldViolation("kind", "must be partner or service"))
        if request.department not in domain.DEPARTMENTS:
            violations.append(
                FieldViolation("department", "must be one of: " + ", ".join(domain.DEPARTMENTS))
            )
        if kind is not None:
            violations += domain.client_role_violations(kind, list(request.roles))
        if violations or kind is None:
            raise InvalidArgument(violations)
        secret = secrets.token_urlsafe(32)
        account = Account(
            id=str(uuid.uuid4()),
            username=request.client_id,
            kind=kind,
            department=request.department,
            roles=tuple(request.roles),
            created_us=now_us(),
        )
        await self._create(account, password=secret, by=principal)
        return identity_pb2.CreateClientResponse(
            account=account_message(account), client_secret=secret
        )

    async def list_accounts(
        self, request: identity_pb2.ListAccountsRequest
    ) -> identity_pb2.ListAccountsResponse:
        if request.kind and request.kind not in domain.KINDS:
            raise InvalidArgument.of("kind", "must be one of: " + ", ".join(domain.KINDS))
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

    async def get_account(
        self, request: identity_pb2.GetAccountRequest
    ) -> identity_pb2.GetAccountResponse:
        if request.username and not request.id:  # a client by its client id, say
            row = None
            if len(request.username) <= domain.MAX_USERNAME:
                async with self._rt.db.read() as conn:
                    row = await store.account_row(conn, username=request.username)
            if row is None:
                raise NotFound("account", request.username[: domain.MAX_USERNAME])
            return identity_pb2.GetAccountResponse(
                account=account_message(store.account_from_row(row))
            )
        return identity_pb2.GetAccountResponse(
            account=account_message(await self._account(request.id))
        )

    async def disable_account(
        self, request: identity_pb2.DisableAccountRequest, principal: Principal
    ) -> identity_pb2.DisableAccountResponse:
        account = await self._account(request.id)
        domain.protect_platform_account(account, action="disabled")
        if account.id == principal.subject:
            raise FailedPrecondition("administrators cannot disable their own account")
        async with self._rt.unit_of_work() as uow:
            await store.update_account(uow.conn, account.id, state=domain.DISABLED)
            await end_sessions(uow, account_id=account.id, reason="account_disabled")
            await self._audit(uow, "identity.account.disabled", principal, account.id)
            await uow.publish(
                events.ACCOUNT_DISABLED,
                events_pb2.AccountDisabled(account_id=account.id),
                entity_id=account.id,
            )
        log.warning("account_disabled", account_id=account.id, by=principal.subject)
        return identity_pb2.DisableAccountResponse(
            account=account_message(await self._account(account.id))
        )

    async def enable_account(
        self, request: identity_pb2.EnableAccountRequest, principal: Principal
    ) -> identity_pb2.EnableAccountResponse:
        account = await self._change(
            request.id, principal, action="identity.account.enabled", state=domain.ACTIVE
        )
        return identity_pb2.EnableAccountResponse(account=account)

    async def unlock_account(
        self, request: identity_pb2.UnlockAccountRequest, principal: Principal
    ) -> identity_pb2.UnlockAccountResponse:
        account = await self._change(
            request.id,
            principal,
            action="identity.account.unlocked",
            failed_logins=0,
            locked_until_us=None,
        )
        return identity_pb2.UnlockAccountResponse(account=account)

    async def update_staff_roles(
        self, request: identity_pb2.UpdateStaffRolesRequest, principal: Principal
    ) -> identity_pb2.UpdateStaffRolesResponse:
        account = await self._staff(request.id, action="given other roles")
        roles = list(request.roles)
        domain.validate_roles(account.department, roles)
        if account.id == principal.subject and domain.ROLE_BDB_ADMIN not in roles:
            # The platform must never be left without anyone able to grant roles.
            raise FailedPrecondition("administrators cannot remove their own administrator role")
        changed = await self._change(
            account.id, principal, action="identity.account.roles_updated", roles=roles
        )
        return identity_pb2.UpdateStaffRolesResponse(account=changed)

    async def reset_second_factor(
        self, request: identity_pb2.ResetSecondFactorRequest, principal: Principal
    ) -> identity_pb2.ResetSecondFactorResponse:
        account = await self._staff(request.id, action="reset")
        if account.id == principal.subject:
            raise FailedPrecondition("another administrator must reset your second factor")
        async with self._rt.unit_of_work() as uow:
            await store.update_account(
                uow.conn,
                account.id,
                totp_sealed=None,
                totp_pending_sealed=None,
                totp_last_step=None,
            )
            await end_sessions(uow, account_id=account.id, reason="second_factor_reset")
            await self._audit(uow, "identity.account.second_factor_reset", principal, account.id)
        log.warning("second_factor_reset", account_id=account.id, by=principal.subject)
        return identity_pb2.ResetSecondFactorResponse(
            account=account_message(await self._account(account.id))
        )

    async def _staff(self, account_id: str, *, action: str) -> Account:
        account = await self._account(account_id)
        domain.protect_platform_account(account, action=action)
        if account.kind != domain.STAFF:
            raise FailedPrecondition("only staff accounts have roles and a second factor")
        return account

    async def _change(
        self, account_id: str, principal: Principal, *, action: str, **values: Any
    ) -> identity_pb2.Account:
        """An administrator's change to an account, audited with who made it."""
        account = await self._account(account_id)
        async with self._rt.unit_of_work() as uow:
            await store.update_account(uow.conn, account.id, **values)
            await self._audit(uow, action, principal, account.id)
        log.info("account_changed", action=action, account_id=account.id, by=principal.subject)
        return account_message(await self._account(account.id))

    async def _audit(
        self, uow: UnitOfWork, action: str, principal: Principal, account_id: str
    ) -> None:
        await uow.audit(
            action,
            principal=principal,
            resource_type="account",
            resource_id=account_id,
        )

    async def end_sessions(
        self, request: identity_pb2.EndSessionsRequest, principal: Principal
    ) -> identity_pb2.EndSessionsResponse:
        account = await self._account(request.account_id)
        async with self._rt.unit_of_work() as uow:
            ended = await end_sessions(uow, account_id=account.id, reason="ended_by_administrator")
            await self._audit(uow, "identity.account.sessions_ended", principal, account.id)
        log.info("sessions_ended_by_administrator", account_id=account.id, by=principal.subject)
        return identity_pb2.EndSessionsResponse(ended=len(ended))
