"""The authorization server's state: registered applications, authorization codes and consent
tickets, code redemption with PKCE, ID tokens, userinfo, revocation, introspection and
RP-initiated logout. The gateway speaks the HTTP protocol; everything it must not be trusted
with (credentials, codes, keys) is checked here.

Codes and tickets are stored as SHA-256 digests, live a minute (codes) or five (tickets), and
are spent once: a code presented twice ends the session its first redemption opened (RFC 6749
section 4.1.2). People sign in through `Sessions.authenticate`, so the code flow has the same
lockout, uniform refusal and second factor as the JSON sign-in.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

import jwt
import orjson
from google.protobuf.timestamp_pb2 import Timestamp

from runtime import auth, crypto, logs, text
from runtime.auth import Principal
from runtime.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Unauthenticated,
)
from runtime.service import ServiceRuntime
from runtime.storage import now_us
from services.identity import domain, oauth, passwords, store
from services.identity.domain import Subject
from services.identity.oauth import Application
from services.identity.personal import PersonalData
from services.identity.sessions import Grant, Sessions, Tokens, end_sessions
from services.identity.signing import EDDSA, SigningKeys
from smartcity.identity.v1 import identity_pb2

log = logs.get(__name__)

CODE = "code"
CONSENT = "consent"
DEFAULT_SCOPES = list(oauth.SCOPES)


class InvalidClient(Unauthenticated):
    """RFC 6749 `invalid_client`: one answer for an unknown client and a wrong secret."""

    reason = "INVALID_CLIENT"

    def __init__(self) -> None:
        super().__init__("client authentication failed")


class InvalidGrant(FailedPrecondition):
    """RFC 6749 `invalid_grant`: the code or refresh token is not good for this client."""

    reason = "INVALID_GRANT"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def application_from_row(row: store.Row) -> Application:
    m = row._mapping
    return Application(
        client_id=str(m["client_id"]),
        name=str(m["name"]),
        entry_point=str(m["entry_point"]),
        confidential=bool(m["confidential"]),
        first_party=bool(m["first_party"]),
        redirect_uris=tuple(m["redirect_uris"]),
        post_logout_redirect_uris=tuple(m["post_logout_redirect_uris"]),
        id_token_alg=str(m["id_token_alg"]),
        subject_type=str(m["subject_type"]),
        scopes=tuple(m["scopes"]),
        department=str(m["department"]),
        created_us=int(m["created_us"]),
    )


def application_columns(application: Application) -> dict[str, Any]:
    """The application as the store's row holds it (all but its secret and creation time)."""
    return {
        "client_id": application.client_id,
        "name": application.name,
        "entry_point": application.entry_point,
        "confidential": application.confidential,
        "first_party": application.first_party,
        "redirect_uris": list(application.redirect_uris),
        "post_logout_redirect_uris": list(application.post_logout_redirect_uris),
        "id_token_alg": application.id_token_alg,
        "subject_type": application.subject_type,
        "scopes": list(application.scopes),
        "department": application.department,
    }


def application_message(application: Application) -> identity_pb2.Application:
    created = Timestamp()
    created.FromMicroseconds(application.created_us)
    return identity_pb2.Application(
        client_id=application.client_id,
        name=application.name,
        entry_point=application.entry_point,
        confidential=application.confidential,
        first_party=application.first_party,
        redirect_uris=list(application.redirect_uris),
        post_logout_redirect_uris=list(application.post_logout_redirect_uris),
        id_token_signed_response_alg=application.id_token_alg,
        subject_type=application.subject_type,
        scopes=list(application.scopes),
        department=application.department,
        created_at=created,
    )


def registration(request: identity_pb2.RegisterApplicationRequest) -> Application:
    """The application a registration asks for, with its defaults, or every broken rule."""
    violations = oauth.client_id_violations(request.client_id)
    name = request.name.strip()
    if not name or len(name) > 100 or text.unsafe_character(name) is not None:
        violations.append(FieldViolation("name", "must be 1 to 100 printable characters"))
    if request.entry_point not in oauth.ENTRY_POINTS:
        violations.append(FieldViolation("entry_point", "must be public or office"))
    violations += oauth.uri_list_violations(
        "redirect_uris", list(request.redirect_uris), required=True
    )
    violations += oauth.uri_list_violations(
        "post_logout_redirect_uris", list(request.post_logout_redirect_uris), required=False
    )
    alg = request.id_token_signed_response_alg or "RS256"
    if alg not in oauth.ID_TOKEN_ALGORITHMS:
        violations.append(FieldViolation("id_token_signed_response_alg", "must be RS256 or EdDSA"))
    subject_type = request.subject_type or ("public" if request.first_party else "pairwise")
    if subject_type not in oauth.SUBJECT_TYPES:
        violations.append(FieldViolation("subject_type", "must be public or pairwise"))
    scopes = list(dict.fromkeys(request.scopes)) or DEFAULT_SCOPES
    if oauth.OPENID not in scopes or any(s not in oauth.SCOPES for s in scopes):
        violations.append(
            FieldViolation("scopes", "must include openid, among: " + " ".join(oauth.SCOPES))
        )
    if request.department not in domain.DEPARTMENTS:
        violations.append(
            FieldViolation("department", "must be one of: " + ", ".join(domain.DEPARTMENTS))
        )
    if violations:
        raise InvalidArgument(violations)
    return Application(
        client_id=request.client_id,
        name=name,
        entry_point=request.entry_point,
        confidential=request.confidential,
        first_party=request.first_party,
        redirect_uris=tuple(request.redirect_uris),
        post_logout_redirect_uris=tuple(request.post_logout_redirect_uris),
        id_token_alg=alg,
        subject_type=subject_type,
        scopes=tuple(scopes),
        department=request.department,
    )


class Authorization:
    def __init__(
        self,
        rt: ServiceRuntime,
        keys: SigningKeys,
        sessions: Sessions,
        personal: PersonalData,
        *,
        master_key: bytes,
    ) -> None:
        self._rt = rt
        self._keys = keys
        self._sessions = sessions
        self._personal = personal
        self._pairwise_key = bytes.fromhex(
            crypto.keyed_hash(master_key, "oidc", purpose="pairwise-subject")
        )

    # --- applications ---------------------------------------------------------------------

    async def register(
        self, request: identity_pb2.RegisterApplicationRequest, principal: Principal | None
    ) -> identity_pb2.RegisterApplicationResponse:
        application = registration(request)
        secret = secrets.token_urlsafe(32) if application.confidential else ""
        secret_hash = await passwords.hash_password(secret) if secret else ""
        async with self._rt.unit_of_work() as uow:
            # One namespace with the partner systems' client ids: a token's client_id is one.
            if await store.application_row(
                uow.conn, application.client_id
            ) is not None or await store.username_exists(uow.conn, application.client_id):
                raise AlreadyExists(f"the client id {application.client_id!r} is taken")
            await store.add_application(
                uow.conn, **application_columns(application), secret_hash=secret_hash
            )
            await uow.audit(
                "identity.application.registered",
                principal=principal,
                resource_type="application",
                resource_id=application.client_id,
            )
            row = await store.application_row(uow.conn, application.client_id)
        assert row is not None  # inserted in this transaction
        log.info("application_registered", client_id=application.client_id)
        return identity_pb2.RegisterApplicationResponse(
            application=application_message(application_from_row(row)), client_secret=secret
        )

    async def applications(self) -> list[Application]:
        async with self._rt.db.read() as conn:
            return [application_from_row(r) for r in await store.application_rows(conn)]

    async def application(self, client_id: str) -> Application:
        async with self._rt.db.read() as conn:
            row = await store.application_row(conn, client_id) if client_id else None
        if row is None:
            raise NotFound("application", client_id)
        return application_from_row(row)

    async def _client(self, client_id: str, secret: str) -> tuple[str, Application | None]:
        """Authenticate a client at a back-channel endpoint: a public application by its id
        alone (PKCE protects its codes), a confidential one or a partner system by its secret.
        Returns the client id and its application (None for a partner system)."""
        async with self._rt.db.read() as conn:
            row = await store.application_row(conn, client_id) if client_id else None
            account = None if row is not None else await store.account_row(conn, username=client_id)
        if row is not None:
            application = application_from_row(row)
            if not application.confidential:
                if secret:
                    raise InvalidClient()  # a public client has no secret to send
                return client_id, application
            # No secret, no hash: as quick for every client id (telling nothing), and no
            # password hash computed for anyone who sends an id alone.
            if secret and await passwords.matches(str(row.secret_hash) or None, secret):
                return client_id, application
            raise InvalidClient()
        if not secret:
            raise InvalidClient()
        is_system = account is not None and account.kind in (domain.PARTNER, domain.SERVICE)
        hashed = str(account.password_hash) if account is not None and is_system else None
        ok = await passwords.matches(hashed, secret)  # as slow for an unknown client
        if not ok or account is None or account.state != domain.ACTIVE:
            raise InvalidClient()
        return client_id, None

    # --- the authorization endpoint --------------------------------------------------------

    def _checked_request(
        self, application: Application, request: identity_pb2.AuthorizeRequest
    ) -> list[str]:
        """The requested scopes, after every rule on the request's own parameters."""
        violations: list[FieldViolation] = []
        if request.redirect_uri not in application.redirect_uris:
            violations.append(FieldViolation("redirect_uri", "is not registered for the client"))
        scopes = oauth.scopes_of(request.scope)
        if (why := oauth.scope_violation(scopes, application.scopes)) is not None:
            violations.append(FieldViolation("scope", why))
        why = oauth.challenge_violation(request.code_challenge, request.code_challenge_method)
        if why is not None:
            violations.append(FieldViolation("code_challenge", why))
        if len(request.nonce) > 255 or text.unsafe_character(request.nonce) is not None:
            violations.append(FieldViolation("nonce", "must be at most 255 printable characters"))
        if violations:
            raise InvalidArgument(violations)
        return scopes

    async def authorize(
        self, request: identity_pb2.AuthorizeRequest
    ) -> identity_pb2.AuthorizeResponse:
        try:
            application = await self.application(request.client_id)
        except NotFound:
            raise InvalidArgument.of("client_id", "is not a registered application") from None
        scopes = self._checked_request(application, request)
        subject = await self._sessions.authenticate(
            username=request.username,
            password=request.password,
            audience=application.entry_point,
            totp_code=request.totp_code,
            enterprise_id=request.enterprise_id,
        )
        account = subject.account
        second_factor = account.kind == domain.STAFF and not subject.second_factor_pending
        needs_consent = False
        if not application.first_party:
            async with self._rt.db.read() as conn:
                granted = await store.consented_scopes(conn, account.id, application.client_id)
            # prompt=consent: ask again although it was given (OpenID Connect Core 3.1.2.1)
            needs_consent = not set(scopes) <= granted or "consent" in request.prompt.split()
        value = secrets.token_urlsafe(32)
        ttl = oauth.CONSENT_TTL_SECONDS if needs_consent else oauth.CODE_TTL_SECONDS
        async with self._rt.db.begin() as conn:
            await store.add_authorization_code(
                conn,
                code_hash=_digest(value),
                stage=CONSENT if needs_consent else CODE,
                client_id=application.client_id,
                redirect_uri=request.redirect_uri,
                scope=" ".join(scopes),
                code_challenge=request.code_challenge,
                nonce=request.nonce,
                account_id=account.id,
                enterprise_id=subject.enterprise_id,
                amr=["pwd", "otp"] if second_factor else ["pwd"],
                auth_time_us=now_us(),
                expires_us=now_us() + ttl * 10**6,
            )
            await store.delete_expired_codes(conn, before_us=now_us() - 3600 * 10**6)
        log.info(
            "authorized",
            client_id=application.client_id,
            account_id=account.id,
            consent=needs_consent,
        )
        if needs_consent:
            return identity_pb2.AuthorizeResponse(
                consent_ticket=value,
                application=application_message(application),
                scopes=scopes,
            )
        return identity_pb2.AuthorizeResponse(
            code=value, application=application_message(application), scopes=scopes
        )

    async def decide_consent(
        self, request: identity_pb2.DecideConsentRequest
    ) -> identity_pb2.DecideConsentResponse:
        ticket = request.consent_ticket
        invalid = InvalidArgument.of("consent_ticket", "is unknown, used or expired")
        if not ticket or len(ticket) > 100:
            raise invalid
        async with self._rt.unit_of_work() as uow:
            row = await store.authorization_code_row(uow.conn, _digest(ticket))
            if row is None or row.stage != CONSENT or row.expires_us <= now_us():
                raise invalid
            if not await store.spend_authorization_code(uow.conn, _digest(ticket)):
                raise invalid
            answer = identity_pb2.DecideConsentResponse(
                redirect_uri=str(row.redirect_uri), client_id=str(row.client_id)
            )
            if not request.approve:
                log.info("consent_declined", client_id=row.client_id, account_id=row.account_id)
                return answer
            await store.record_consent(
                uow.conn, str(row.account_id), str(row.client_id), oauth.scopes_of(str(row.scope))
            )
            code = secrets.token_urlsafe(32)
            values = {k: v for k, v in row._mapping.items() if k not in ("code_hash", "spent_us")}
            values.update(
                code_hash=_digest(code),
                stage=CODE,
                expires_us=now_us() + oauth.CODE_TTL_SECONDS * 10**6,
            )
            await store.add_authorization_code(uow.conn, **values)
            await uow.audit(
                "identity.consent.granted",
                principal=None,
                resource_type="application",
                resource_id=str(row.client_id),
            )
        log.info("consent_granted", client_id=row.client_id, account_id=row.account_id)
        answer.code = code
        return answer

    # --- the token endpoint ----------------------------------------------------------------

    async def redeem(
        self, request: identity_pb2.RedeemAuthorizationCodeRequest
    ) -> identity_pb2.RedeemAuthorizationCodeResponse:
        client_id, application = await self._client(request.client_id, request.client_secret)
        if application is None:
            raise InvalidGrant("a partner system has no authorization codes")
        invalid = InvalidGrant("the code is unknown, expired, used, or not for this client")
        code = request.code
        if not code or len(code) > 100:
            raise invalid
        code_hash = _digest(code)
        async with self._rt.unit_of_work() as uow:
            row = await store.authorization_code_row(uow.conn, code_hash)
            if row is None or row.stage != CODE or row.client_id != client_id:
                raise invalid
            spent = not await store.spend_authorization_code(uow.conn, code_hash)
            if spent and row.session_id:
                # RFC 6749 section 4.1.2: a code used twice revokes what it was traded for.
                await end_sessions(
                    uow,
                    account_id=str(row.account_id),
                    session_id=str(row.session_id),
                    reason="authorization_code_reuse",
                )
        if spent:
            log.warning("authorization_code_reused", client_id=client_id)
            raise invalid
        if row.expires_us <= now_us():
            raise invalid
        if row.redirect_uri != request.redirect_uri:
            raise InvalidGrant("redirect_uri is not the one the code was sent to")
        if not oauth.verifier_matches(request.code_verifier, str(row.code_challenge)):
            raise InvalidGrant("the code_verifier does not match the code_challenge")
        async with self._rt.db.read() as conn:
            account = await store.get_account(conn, str(row.account_id))
        if account is None or account.state != domain.ACTIVE:
            raise invalid
        scopes = oauth.scopes_of(str(row.scope))
        subject = oauth.subject_for(application, account.id, pairwise_key=self._pairwise_key)
        # A third party's tokens carry its pairwise `sub` too: it can read them.
        grant = Grant(
            client_id,
            str(row.scope),
            int(row.auth_time_us),
            subject=subject if subject != account.id else "",
        )
        second_factor_pending = account.kind == domain.STAFF and "otp" not in row.amr
        tokens = await self._sessions.open_for_application(
            Subject(
                account,
                enterprise_id=str(row.enterprise_id),
                second_factor_pending=second_factor_pending,
            ),
            audience=application.token_audience,
            grant=grant,
            refreshable=application.first_party or oauth.OFFLINE_ACCESS in scopes,
        )
        async with self._rt.db.begin() as conn:
            await store.set_code_session(conn, code_hash, tokens.session_id)
        id_token = self._id_token(
            application,
            account_id=account.id,
            tokens=tokens,
            auth_time_us=int(row.auth_time_us),
            amr=list(row.amr),
            nonce=str(row.nonce),
        )
        log.info("authorization_code_redeemed", client_id=client_id, account_id=account.id)
        return identity_pb2.RedeemAuthorizationCodeResponse(
            access_token=tokens.access_token,
            token_type="Bearer",  # noqa: S106 - the token scheme, not a secret
            expires_in=tokens.expires_in,
            refresh_token=tokens.refresh_token,
            refresh_expires_in=tokens.refresh_expires_in,
            id_token=id_token,
            scope=" ".join(scopes),
        )

    def _id_token(
        self,
        application: Application,
        *,
        account_id: str,
        tokens: Tokens,
        auth_time_us: int,
        amr: list[str],
        nonce: str,
    ) -> str:
        claims = oauth.id_token_claims(
            issuer=self._rt.settings.issuer,
            subject=oauth.subject_for(application, account_id, pairwise_key=self._pairwise_key),
            application=application,
            session_id=tokens.session_id,
            auth_time=auth_time_us // 10**6,
            amr=amr,
            nonce=nonce,
            access_token=tokens.access_token,
            now=int(time.time()),
        )
        return self._keys.sign(claims, algorithm=application.id_token_alg, typ="JWT")

    async def refresh(
        self, request: identity_pb2.RefreshSessionRequest
    ) -> identity_pb2.RefreshSessionResponse:
        """The token endpoint's refresh_token grant: the session's own client only."""
        client_id, application = await self._client(request.client_id, request.client_secret)
        try:
            tokens = await self._sessions.refresh(
                refresh_token=request.refresh_token, audience="", client_id=client_id
            )
        except Unauthenticated as exc:
            raise InvalidGrant(exc.message) from None
        response = identity_pb2.RefreshSessionResponse(
            access_token=tokens.access_token,
            token_type="Bearer",  # noqa: S106 - the token scheme, not a secret
            expires_in=tokens.expires_in,
            refresh_token=tokens.refresh_token,
            refresh_expires_in=tokens.refresh_expires_in,
        )
        grant = tokens.grant
        if grant is not None and application is not None:
            async with self._rt.db.read() as conn:
                session = await store.session_row(conn, tokens.session_id)
            account_id = str(session.account_id) if session is not None else ""
            response.scope = grant.scope
            # OpenID Connect Core 12.2: a new ID token, with no nonce, for the same sign-in.
            response.id_token = self._id_token(
                application,
                account_id=account_id,
                tokens=tokens,
                auth_time_us=grant.auth_time_us,
                amr=["pwd"],
                nonce="",
            )
        return response

    # --- revocation, introspection, userinfo, logout ---------------------------------------

    async def _session_of(self, token: str, hint: str) -> tuple[store.Row | None, Principal | None]:
        """The live session of a refresh or access token (and the access token's principal)."""
        attempts = ["access_token", "refresh_token"]
        if hint == "refresh_token":
            attempts.reverse()
        for kind in attempts:
            if kind == "refresh_token":
                session = await self._sessions.session_of_refresh_token(token)
                if session is not None:
                    return session, None
                continue
            if token.count(".") != 2:
                continue
            try:
                principal = await self._rt.verifier.verify(
                    token, audiences=(*auth.AUDIENCES, auth.USERINFO_AUDIENCE)
                )
            except Unauthenticated:
                continue
            if principal.session:
                async with self._rt.db.read() as conn:
                    return await store.session_row(conn, principal.session), principal
            return None, principal
        return None, None

    async def revoke(self, request: identity_pb2.RevokeTokenRequest) -> None:
        """RFC 7009: the answer is the same whether the token was known, already ended or
        another client's (then nothing happens): a client learns nothing about others'."""
        client_id, _ = await self._client(request.client_id, request.client_secret)
        if not request.token or len(request.token) > 4096:
            return
        session, _principal = await self._session_of(request.token, request.token_type_hint)
        if session is None or session.client_id != client_id:
            return
        if await self._sessions.end_session(str(session.id), reason="revoked"):
            log.info("token_revoked", client_id=client_id, session_id=session.id)

    async def introspect(
        self, request: identity_pb2.IntrospectTokenRequest
    ) -> identity_pb2.IntrospectTokenResponse:
        """RFC 7662, for confidential clients and partner systems, about their own tokens."""
        client_id, application = await self._client(request.client_id, request.client_secret)
        if application is not None and not application.confidential:
            raise InvalidClient()  # a public client may not introspect (RFC 7662 section 2.1)
        inactive = identity_pb2.IntrospectTokenResponse(active=False)
        if not request.token or len(request.token) > 4096:
            return inactive
        session, principal = await self._session_of(request.token, request.token_type_hint)
        if principal is not None:
            if principal.client != client_id:
                return inactive
            claims = jwt.decode(request.token, options={"verify_signature": False})
            return identity_pb2.IntrospectTokenResponse(
                active=True,
                scope=str(claims.get("scope", "")),
                client_id=principal.client,
                sub=principal.subject,
                token_type="Bearer",  # noqa: S106 - the token scheme, not a secret
                exp=int(claims["exp"]),
                iat=int(claims["iat"]),
                aud=principal.audience,
                iss=self._rt.settings.issuer,
            )
        if session is None or session.client_id != client_id:
            return inactive
        return identity_pb2.IntrospectTokenResponse(
            active=True,
            scope=str(session.scope),
            client_id=client_id,
            sub=str(session.token_subject or session.account_id),
            token_type="refresh_token",  # noqa: S106 - a token type, not a secret
            exp=int(session.expires_us) // 10**6,
            iat=int(session.created_us) // 10**6,
            aud=str(session.audience),
            iss=self._rt.settings.issuer,
        )

    async def userinfo(self, principal: Principal) -> identity_pb2.GetUserInfoResponse:
        async with self._rt.db.read() as conn:
            session = await store.session_row(conn, principal.session)
            account_id = str(session.account_id) if session is not None else ""
            row = await store.account_row(conn, account_id=account_id) if account_id else None
            app_row = await store.application_row(conn, principal.client)
        if row is None or session is None:
            raise Unauthenticated("the session of this access token has ended")
        application = application_from_row(app_row) if app_row is not None else None
        # The JSON routes' sessions (no scope) are the platform's own: they see the profile.
        scopes = oauth.scopes_of(str(session.scope)) if session.scope else list(oauth.SCOPES)
        subject = account_id
        if application is not None:
            subject = oauth.subject_for(application, subject, pairwise_key=self._pairwise_key)
        info = identity_pb2.GetUserInfoResponse(sub=subject)
        if oauth.PROFILE in scopes:
            profile = self._personal.open_profile(row.profile_sealed, owner=str(row.id))
            info.name = profile.display_name
            info.preferred_username = str(row.username)
            info.smartcity_kind = principal.kind
            info.smartcity_department = str(row.department)
        return info

    async def end_session(
        self, request: identity_pb2.EndSessionRequest
    ) -> identity_pb2.EndSessionResponse:
        """OpenID Connect RP-Initiated Logout 1.0: the ID token names the session (an expired
        one still does); the post-logout URI must be registered for the token's client."""
        client_id = request.client_id
        session_id = ""
        if request.id_token_hint:
            claims = await self._id_token_hint(request.id_token_hint)
            audience = str(claims.get("aud", ""))
            if client_id and client_id != audience:
                raise InvalidArgument.of("client_id", "is not the ID token's audience")
            client_id, session_id = audience, str(claims.get("sid", ""))
        answer = identity_pb2.EndSessionResponse()
        uri = request.post_logout_redirect_uri
        if uri:
            application = await self.application(client_id) if client_id else None
            if application is None or uri not in application.post_logout_redirect_uris:
                raise InvalidArgument.of(
                    "post_logout_redirect_uri", "is not registered for the client"
                )
            answer.post_logout_redirect_uri = uri
        if session_id:
            async with self._rt.db.read() as conn:
                session = await store.session_row(conn, session_id)
            if session is not None and session.client_id == client_id:
                answer.session_ended = await self._sessions.end_session(
                    session_id, reason="rp_logout"
                )
        return answer

    async def _id_token_hint(self, token: str) -> dict[str, Any]:
        invalid = InvalidArgument.of("id_token_hint", "is not an ID token this platform issued")
        if len(token) > 8192:
            raise invalid
        try:
            header = jwt.get_unverified_header(token)
            jwks = orjson.loads(await self._keys.jwks_json())["keys"]
            jwk = next(k for k in jwks if k.get("kid") == header.get("kid"))
            algorithm = str(jwk.get("alg", EDDSA))
            claims: dict[str, Any] = jwt.decode(
                token,
                jwt.PyJWK(jwk).key,
                algorithms=[algorithm],
                issuer=self._rt.settings.issuer,
                options={"verify_exp": False, "verify_aud": False, "require": ["sid", "aud"]},
            )
        except (StopIteration, jwt.InvalidTokenError, jwt.PyJWKError, KeyError, ValueError):
            raise invalid from None
        if str(header.get("typ", "JWT")).lower() != "jwt":
            raise invalid  # an access token is no ID token
        return claims


def first_party_applications(issuer: str) -> list[identity_pb2.RegisterApplicationRequest]:
    """The platform's own applications, the portal and the office console, served by the
    gateway at `/` and `/office/`: their redirect URIs follow from the issuer, written nowhere
    else."""
    names = {
        "public": "海口市民服务 Haikou public services",
        "office": "海口政务办公 Haikou office",
    }
    paths = {"public": "/", "office": "/office/"}
    return [
        identity_pb2.RegisterApplicationRequest(
            client_id=client_id,
            name=names[entry],
            entry_point=entry,
            first_party=True,
            redirect_uris=[issuer + paths[entry]],
            post_logout_redirect_uris=[issuer + paths[entry]],
            id_token_signed_response_alg=EDDSA,
            department="bdb",
        )
        for entry, client_id in auth.FIRST_PARTY_CLIENTS.items()
    ]


async def ensure_applications(
    rt: ServiceRuntime, wanted: list[identity_pb2.RegisterApplicationRequest]
) -> None:
    """Register the applications, or bring their registration up to date (the issuer may have
    changed since): applications the platform itself defines, never an administrator's."""
    for request in wanted:
        application = registration(request)
        values = application_columns(application)
        async with rt.db.begin() as conn:
            if await store.application_row(conn, application.client_id) is None:
                await store.add_application(conn, **values)
            else:
                await store.update_application(conn, **values)
