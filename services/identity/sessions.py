"""Signing in: password and second factor, lockout after repeated failures, sessions whose
refresh tokens rotate on every use, and reuse detection that ends the whole session (as OAuth 2.0
Security Best Current Practice, section 4.14, recommends)."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp

from runtime import auth, logs
from runtime.auth import Principal
from runtime.errors import (
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)
from runtime.service import ServiceRuntime
from runtime.storage import now_us, timestamp
from runtime.ttlcache import TtlCache
from runtime.unit_of_work import UnitOfWork
from services.identity import domain, events, passwords, store, totp
from services.identity.domain import Account, Subject
from services.identity.personal import PersonalData
from services.identity.signing import SigningKeys
from smartcity.identity.v1 import events_pb2, identity_pb2

log = logs.get(__name__)

# One answer for an unknown account, a wrong password, a wrong TOTP code and the wrong entry
# point, at about the same cost (the password hash is always computed): a guesser learns nothing,
# not even that a password was right. The log says which it was. A missing TOTP code is a wrong
# one (and counted as a failure like it): "a code is required" would confirm the password.
WRONG_CREDENTIALS = "wrong username or password"
WRONG_STAFF_CREDENTIALS = "wrong username, password or TOTP code"


def wrong_credentials(audience: str) -> Unauthenticated:
    return Unauthenticated(WRONG_STAFF_CREDENTIALS if audience == "office" else WRONG_CREDENTIALS)


@dataclass(frozen=True)
class Tokens:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    second_factor_pending: bool = False
    session_id: str = ""
    # Sessions of the code flow: their application's grant.
    grant: Grant | None = None


@dataclass(frozen=True)
class Grant:
    """What a session of the code flow was opened for: by whom, for what, since when."""

    client_id: str
    scope: str
    auth_time_us: int
    # The access tokens' `sub` when it is not the account id (a third party's pairwise one).
    subject: str = ""


def _first_party(audience: str) -> str:
    """The platform's own application of an entry point's JSON sign-in (none for partners)."""
    return auth.FIRST_PARTY_CLIENTS.get(audience, "")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UnknownNames:
    """Failed sign-ins under names no account has, locked on the same schedule as an account's:
    else a lock that only real accounts reach tells a guesser which names exist. Kept in
    memory, by a digest of the name, bounded; per replica (the gateway's per-account limit
    holds across them)."""

    def __init__(self, *, size: int = 10_000) -> None:
        # (failures in a row, locked until: monotonic seconds)
        self._seen: TtlCache[str, tuple[int, float]] = TtlCache(
            seconds=2.0 * domain.MAX_LOCK_SECONDS, size=size
        )

    @staticmethod
    def _key(username: str) -> str:
        return hashlib.sha256(username.encode()).hexdigest()

    def locked_for(self, username: str) -> int:
        seen = self._seen.get(self._key(username))
        remaining = 0.0 if seen is None else seen[1] - time.monotonic()
        return 0 if remaining <= 0 else int(-(-remaining // 1))

    def failed(self, username: str) -> None:
        key = self._key(username)
        failures = (self._seen.get(key) or (0, 0.0))[0] + 1
        self._seen.put(key, (failures, time.monotonic() + domain.lock_seconds(failures)))


def _locked(wait: int) -> ResourceExhausted:
    return ResourceExhausted(
        f"too many failed logins: the account is locked for {wait} s", retry_after=wait
    )


class Sessions:
    def __init__(self, rt: ServiceRuntime, keys: SigningKeys, personal: PersonalData) -> None:
        self._rt = rt
        self._keys = keys
        self._personal = personal
        self._unknown = UnknownNames()

    async def login(
        self,
        *,
        username: str,
        password: str,
        audience: str,
        totp_code: str,
        enterprise_id: str,
        fields: tuple[str, str] = ("username", "password"),
        refreshable: bool = True,
    ) -> Tokens:
        """`fields` name the request's fields that carried username and password; a session
        that is not `refreshable` (client credentials) ends with its one access token."""
        subject = await self.authenticate(
            username=username,
            password=password,
            audience=audience,
            totp_code=totp_code,
            enterprise_id=enterprise_id,
            fields=fields,
        )
        tokens = await self._open_session(subject, audience=audience, refreshable=refreshable)
        log.info(
            "login_succeeded",
            account_id=subject.account.id,
            audience=audience,
            pending=subject.second_factor_pending,
        )
        return tokens

    async def authenticate(
        self,
        *,
        username: str,
        password: str,
        audience: str,
        totp_code: str,
        enterprise_id: str,
        fields: tuple[str, str] = ("username", "password"),
    ) -> Subject:
        """Who signs in, after every check a sign-in makes (lockout, password, state, entry
        point, second factor, enterprise), without opening a session."""
        domain.validate_login(username, password, audience, totp_code, fields=fields)
        async with self._rt.db.read() as conn:
            row = await store.account_row(conn, username=username)
        account = store.account_from_row(row) if row is not None else None
        wait = _locked_for(account) if account is not None else self._unknown.locked_for(username)
        if wait:
            raise _locked(wait)
        ok = await passwords.matches(row.password_hash if row is not None else None, password)
        if account is None or row is None or not ok:
            # Anyone can send a platform service's client id to an entry point: counting those
            # failures would let them lock the platform out (its secret is 256 bits; unguessable).
            if account is None:
                self._unknown.failed(username)
            elif not domain.is_platform_account(account):
                await self._record_failure(account)
            log.info("login_failed", reason="credentials")
            raise wrong_credentials(audience)
        if account.state != domain.ACTIVE:
            log.info("login_failed", reason="disabled", account_id=account.id)
            raise wrong_credentials(audience)
        if domain.AUDIENCE_OF_KIND[account.kind] != audience:
            log.info("login_failed", reason="entry_point", account_id=account.id)
            raise wrong_credentials(audience)
        pending = False
        if account.kind == domain.STAFF:
            if row.totp_sealed is None:
                pending = True
            else:
                await self._check_totp(
                    account, row.totp_sealed, row.totp_last_step, totp_code, audience=audience
                )
        if enterprise_id:
            async with self._rt.db.read() as conn:
                allowed = account.kind == domain.CITIZEN and await store.may_act_for(
                    conn, account.id, enterprise_id
                )
            if not allowed:
                raise PermissionDenied("the account may not act for this enterprise")
        if account.failed_logins or account.locked_until_us:
            async with self._rt.db.begin() as conn:
                await store.update_account(conn, account.id, failed_logins=0, locked_until_us=None)
        return Subject(account, enterprise_id=enterprise_id, second_factor_pending=pending)

    async def _check_totp(
        self, account: Account, sealed: bytes, last_step: int | None, code: str, *, audience: str
    ) -> None:
        step = None
        if code:
            secret = self._personal.open_totp(sealed, owner=account.id)
            step = totp.verify(secret, code, at=time.time(), last_used_step=last_step)
        if step is None:
            await self._record_failure(account)
            log.info("login_failed", reason="totp" if code else "no_totp", account_id=account.id)
            raise wrong_credentials(audience)
        async with self._rt.db.begin() as conn:
            await store.update_account(conn, account.id, totp_last_step=step)

    async def _record_failure(self, account: Account) -> None:
        async with self._rt.unit_of_work() as uow:
            # Counted in the database, not from what we read: concurrent failures all count.
            await store.update_account(
                uow.conn, account.id, failed_logins=store.accounts.c.failed_logins + 1
            )
            fresh = await store.get_account(uow.conn, account.id)
            failures = fresh.failed_logins if fresh is not None else account.failed_logins + 1
            seconds = domain.lock_seconds(failures)
            if not seconds:
                return
            until = now_us() + seconds * 10**6
            await store.update_account(uow.conn, account.id, locked_until_us=until)
            await uow.publish(
                events.ACCOUNT_LOCKED,
                events_pb2.AccountLocked(
                    account_id=account.id,
                    failed_logins=failures,
                    locked_until=Timestamp(seconds=until // 10**6),
                ),
                entity_id=account.id,
            )
        log.warning("account_locked", account_id=account.id, failures=failures, seconds=seconds)

    async def _open_session(
        self,
        subject: Subject,
        *,
        audience: str,
        refreshable: bool = True,
        grant: Grant | None = None,
    ) -> Tokens:
        """`grant`: the application, scopes and sign-in time of a session of the code flow."""
        session_id = str(uuid.uuid4())
        # A session waiting for TOTP enrolment, or of client credentials, lives no longer than
        # its one access token.
        refreshable = refreshable and not subject.second_factor_pending
        refresh = secrets.token_urlsafe(32) if refreshable else ""
        ttl = domain.SESSION_TTL_SECONDS if refreshable else domain.ACCESS_TOKEN_TTL_SECONDS
        async with self._rt.db.begin() as conn:
            await store.add_session(
                conn,
                id=session_id,
                account_id=subject.account.id,
                audience=audience,
                enterprise_id=subject.enterprise_id,
                expires_us=now_us() + ttl * 10**6,
                client_id=grant.client_id if grant else _first_party(audience),
                scope=grant.scope if grant else "",
                auth_time_us=grant.auth_time_us if grant else now_us(),
                token_subject=grant.subject if grant else "",
            )
            if refresh:
                await store.add_refresh_token(
                    conn, token_hash=_token_hash(refresh), session_id=session_id
                )
        access = self._access_token(subject, session_id=session_id, audience=audience, grant=grant)
        return Tokens(
            access_token=access,
            expires_in=domain.ACCESS_TOKEN_TTL_SECONDS,
            refresh_token=refresh,
            refresh_expires_in=ttl if refresh else 0,
            second_factor_pending=subject.second_factor_pending,
            session_id=session_id,
        )

    async def open_for_application(
        self, subject: Subject, *, audience: str, grant: Grant, refreshable: bool
    ) -> Tokens:
        """A session of the code flow: opened when the code is redeemed."""
        return await self._open_session(
            subject, audience=audience, refreshable=refreshable, grant=grant
        )

    def _access_token(
        self, subject: Subject, *, session_id: str, audience: str, grant: Grant | None = None
    ) -> str:
        claims = domain.access_token_claims(
            subject,
            session_id=session_id,
            issuer=self._rt.settings.issuer,
            audience=audience,
            now=int(time.time()),
            client_id=grant.client_id if grant else "",
            scope=grant.scope if grant else "",
        )
        if grant is not None and grant.subject:
            claims["sub"] = grant.subject
        return self._keys.sign(claims)

    # Complex on purpose: each refusal of a refresh token, in the order they apply.
    async def refresh(self, *, refresh_token: str, audience: str, client_id: str = "") -> Tokens:  # noqa: C901 (each refusal of a refresh token, in the order they apply)  # noqa: C901
        """New tokens for a refresh token, presented on its session's entry point (the JSON
        route) or by its session's application (the token endpoint: `client_id`)."""
        invalid = Unauthenticated("the refresh token is not valid")
        if not refresh_token or len(refresh_token) > 100:
            raise invalid
        token_hash = _token_hash(refresh_token)
        async with self._rt.unit_of_work() as uow:
            token = await store.refresh_token_row(uow.conn, token_hash)
            if token is None:
                raise invalid
            session = await store.session_row(uow.conn, token.session_id)
            if session is None or session.ended_us is not None:
                raise Unauthenticated("the session has ended; sign in again")
            if client_id:
                if session.client_id != client_id:
                    raise invalid
                audience = str(session.audience)
            elif session.audience != audience or session.client_id != _first_party(audience):
                # The JSON route authenticates no client: only the platform's own app's sessions
                # (a confidential application's refresh token needs its secret, RFC 6749 s. 6).
                raise invalid
            if session.expires_us <= now_us():
                raise Unauthenticated("the session has expired; sign in again")
            reused = not await store.spend_refresh_token(uow.conn, token_hash)
            account = await store.get_account(uow.conn, session.account_id)
            allowed = account is not None and account.state == domain.ACTIVE
            if allowed and session.enterprise_id and account is not None:
                allowed = await store.may_act_for(uow.conn, account.id, session.enterprise_id)
            if reused or not allowed:
                await end_sessions(
                    uow,
                    account_id=str(session.account_id),
                    session_id=str(session.id),
                    reason="refresh_token_reuse" if reused else "no_longer_allowed",
                )
        # Outside the transaction: ending the session above must commit before we refuse.
        if reused:
            log.warning("refresh_token_reused", session_id=session.id)
            raise Unauthenticated("the refresh token was already used: the session is ended")
        if not allowed or account is None:
            raise Unauthenticated("the account may no longer use this session")
        subject = Subject(account, enterprise_id=str(session.enterprise_id))
        refresh = secrets.token_urlsafe(32)
        async with self._rt.db.begin() as conn:
            await store.add_refresh_token(
                conn, token_hash=_token_hash(refresh), session_id=session.id
            )
        grant = None
        if session.scope:  # a session of the code flow
            grant = Grant(
                str(session.client_id),
                str(session.scope),
                int(session.auth_time_us),
                subject=str(session.token_subject),
            )
        return Tokens(
            access_token=self._access_token(
                subject, session_id=session.id, audience=audience, grant=grant
            ),
            expires_in=domain.ACCESS_TOKEN_TTL_SECONDS,
            refresh_token=refresh,
            refresh_expires_in=max(0, (session.expires_us - now_us()) // 10**6),
            session_id=str(session.id),
            grant=grant,
        )

    async def session_of_refresh_token(self, refresh_token: str) -> store.Row | None:
        """The live session a refresh token (spent or not) belongs to, if any."""
        if not refresh_token or len(refresh_token) > 100:
            return None
        async with self._rt.db.read() as conn:
            token = await store.refresh_token_row(conn, _token_hash(refresh_token))
            if token is None or token.spent_us is not None:
                return None
            session = await store.session_row(conn, token.session_id)
        if session is None or session.ended_us is not None or session.expires_us <= now_us():
            return None
        return session

    async def end_session(self, session_id: str, *, reason: str) -> bool:
        """End one session (revocation, RP-initiated logout); False when it was not open."""
        async with self._rt.unit_of_work() as uow:
            session = await store.session_row(uow.conn, session_id)
            if session is None:
                return False
            ended = await end_sessions(
                uow, account_id=str(session.account_id), session_id=session_id, reason=reason
            )
        return bool(ended)

    async def logout(self, principal: Principal) -> None:
        if not principal.session:
            return  # a token of no session (none is issued so) has nothing to end
        async with self._rt.unit_of_work() as uow:
            await end_sessions(
                uow,
                account_id=principal.subject,
                session_id=principal.session,
                reason="logout",
            )
        log.info("logout", account_id=principal.subject, session_id=principal.session)

    async def list_mine(self, principal: Principal) -> identity_pb2.ListMySessionsResponse:
        """Where the caller is signed in: their open sessions, their own one marked."""
        async with self._rt.db.read() as conn:
            rows = await store.open_sessions(conn, principal.subject, at_us=now_us())
        return identity_pb2.ListMySessionsResponse(
            sessions=[
                identity_pb2.Session(
                    audience=row.audience,
                    client_id=row.client_id,
                    enterprise_id=row.enterprise_id,
                    create_time=timestamp(row.created_us),
                    expire_time=timestamp(row.expires_us),
                    current=row.id == principal.session,
                )
                for row in rows
            ]
        )

    async def end_mine(self, principal: Principal) -> int:
        """Sign the caller out everywhere, this session too; every verifier hears of it."""
        ended = await self.end_all(principal.subject, reason="signed_out_everywhere")
        log.info("signed_out_everywhere", account_id=principal.subject, count=ended)
        return ended

    async def end_all(self, account_id: str, *, reason: str, enterprise_id: str = "") -> int:
        async with self._rt.unit_of_work() as uow:
            ended = await end_sessions(
                uow, account_id=account_id, enterprise_id=enterprise_id, reason=reason
            )
        return len(ended)


async def end_sessions(
    uow: UnitOfWork,
    *,
    account_id: str,
    reason: str,
    session_id: str = "",
    enterprise_id: str = "",
    keep: str = "",
) -> list[str]:
    """End sessions and announce it in the same transaction, so that every verifier refuses
    their access tokens at once (`session.ended`)."""
    ended = await store.end_sessions(
        uow.conn,
        account_id=account_id,
        session_id=session_id,
        enterprise_id=enterprise_id,
        keep=keep,
        reason=reason,
    )
    if ended:
        await uow.publish(
            events.SESSIONS_ENDED,
            events_pb2.SessionsEnded(account_id=account_id, session_ids=ended),
            entity_id=account_id,
        )
        log.info("sessions_ended", account_id=account_id, count=len(ended), reason=reason)
    return ended


def _locked_for(account: Account) -> int:
    """Seconds the account stays locked (0: not locked)."""
    if account.locked_until_us is None:
        return 0
    remaining = account.locked_until_us - now_us()
    return 0 if remaining <= 0 else -(-remaining // 10**6)
