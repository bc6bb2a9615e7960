"""Identity tables: accounts, enterprises and their agents, sessions with their refresh tokens,
and the sealed signing keys. Identity numbers are kept only as a keyed hash (for uniqueness) and
SM4-sealed (for their holder); profiles are sealed too."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from runtime.storage import Migration, Reader, add_missing_columns, create_tables, now_us
from services.identity.domain import ACTIVE, Account

metadata = sa.MetaData()

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("department", sa.String(20), nullable=False),
    sa.Column("roles", sa.JSON, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("state", sa.String(10), nullable=False, server_default=ACTIVE),
    sa.Column("profile_sealed", sa.LargeBinary),
    # HMAC-SM3 of the resident ID number under a key derived from the master key.
    sa.Column("resident_id_hash", sa.String(64)),
    sa.Column("resident_id_sealed", sa.LargeBinary),
    sa.Column("totp_sealed", sa.LargeBinary),
    sa.Column("totp_pending_sealed", sa.LargeBinary),
    # The last TOTP time step accepted: a code is good once (RFC 6238 section 5.2).
    sa.Column("totp_last_step", sa.BigInteger),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until_us", sa.BigInteger),
    sa.Column("updated_us", sa.BigInteger),
    sa.Index("ix_accounts_resident_id_hash", "resident_id_hash", unique=True),
    sa.Index("ix_accounts_created", "created_us", "id"),
)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("kid", sa.String(64), primary_key=True),
    sa.Column("algorithm", sa.String(20), nullable=False),
    # The private key, SM4-GCM sealed under the master key with the kid as associated data;
    # emptied once the key is retired.
    sa.Column("private_key_sealed", sa.LargeBinary, nullable=False),
    sa.Column("public_jwk", sa.JSON, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    # When the key leaves the JWKS: after the last token it signed has expired.
    sa.Column("retired_us", sa.BigInteger),
    # When a newer key took over signing.
    sa.Column("superseded_us", sa.BigInteger),
)

enterprises = sa.Table(
    "enterprises",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("credit_code_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("credit_code_sealed", sa.LargeBinary, nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("legal_representative_id", sa.String(36), nullable=False, index=True),
    sa.Column("created_us", sa.BigInteger, nullable=False),
)

enterprise_agents = sa.Table(
    "enterprise_agents",
    metadata,
    sa.Column("enterprise_id", sa.String(36), primary_key=True),
    sa.Column("account_id", sa.String(36), primary_key=True, index=True),
    sa.Column("authorised_by", sa.String(36), nullable=False),
    sa.Column("authorised_us", sa.BigInteger, nullable=False),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("account_id", sa.String(36), nullable=False, index=True),
    sa.Column("audience", sa.String(10), nullable=False),
    sa.Column("enterprise_id", sa.String(36), nullable=False, server_default=""),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("expires_us", sa.BigInteger, nullable=False),
    sa.Column("ended_us", sa.BigInteger),
    sa.Column("end_reason", sa.String(40)),
    # OAuth: the client the session was opened for, the scopes granted, and when the person
    # authenticated (OpenID Connect `auth_time`). Empty for sessions of the JSON routes.
    sa.Column("client_id", sa.String(64), nullable=False, server_default=""),
    sa.Column("scope", sa.String(200), nullable=False, server_default=""),
    sa.Column("auth_time_us", sa.BigInteger),
    # The `sub` of its access tokens when it is not the account id: a third party's pairwise one.
    sa.Column("token_subject", sa.String(64), nullable=False, server_default=""),
    # Read twice a second: the sessions ended lately (services/identity/ended_sessions.py).
    sa.Index("ix_sessions_ended", "ended_us"),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    # SHA-256 of the token: 256 random bits need no slow hash.
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("session_id", sa.String(36), nullable=False, index=True),
    sa.Column("issued_us", sa.BigInteger, nullable=False),
    # Set when traded in: presenting it again is a reuse, and ends the session.
    sa.Column("spent_us", sa.BigInteger),
)

# --- OAuth 2.0 and OpenID Connect ---------------------------------------------------------------

applications = sa.Table(
    "applications",
    metadata,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("entry_point", sa.String(10), nullable=False),
    sa.Column("confidential", sa.Boolean, nullable=False),
    sa.Column("first_party", sa.Boolean, nullable=False),
    sa.Column("redirect_uris", sa.JSON, nullable=False),
    sa.Column("post_logout_redirect_uris", sa.JSON, nullable=False),
    sa.Column("id_token_alg", sa.String(10), nullable=False),
    sa.Column("subject_type", sa.String(10), nullable=False),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("department", sa.String(20), nullable=False),
    # argon2id of a confidential application's secret; empty for public ones.
    sa.Column("secret_hash", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_us", sa.BigInteger, nullable=False),
)

# The codes and consent tickets in flight: SHA-256 of the value (256 random bits), never the
# value; a row is spent once, and a second redemption of a code ends the session it opened.
authorization_codes = sa.Table(
    "authorization_codes",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    # "code" or "consent": a consent ticket is a code waiting for the person's approval.
    sa.Column("stage", sa.String(10), nullable=False),
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("redirect_uri", sa.String(2000), nullable=False),
    sa.Column("scope", sa.String(200), nullable=False),
    sa.Column("code_challenge", sa.String(64), nullable=False),
    sa.Column("nonce", sa.String(255), nullable=False),
    sa.Column("account_id", sa.String(36), nullable=False),
    sa.Column("enterprise_id", sa.String(36), nullable=False),
    sa.Column("amr", sa.JSON, nullable=False),
    sa.Column("auth_time_us", sa.BigInteger, nullable=False),
    sa.Column("expires_us", sa.BigInteger, nullable=False, index=True),
    sa.Column("spent_us", sa.BigInteger),
    # The session its redemption opened: ended if the code is presented again.
    sa.Column("session_id", sa.String(36)),
)

# What a person approved for a third-party application: asked again when it wants more.
consents = sa.Table(
    "consents",
    metadata,
    sa.Column("account_id", sa.String(36), primary_key=True),
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("granted_us", sa.BigInteger, nullable=False),
)


def _citizens_enterprises_sessions(conn: sa.Connection) -> None:
    add_missing_columns(accounts)(conn)
    add_missing_columns(signing_keys)(conn)
    create_tables(enterprises, enterprise_agents, sessions, refresh_tokens)(conn)


def _oauth(conn: sa.Connection) -> None:
    add_missing_columns(sessions)(conn)
    create_tables(applications, authorization_codes, consents)(conn)


MIGRATIONS = [
    Migration("identity-0001-accounts-and-keys", create_tables(accounts, signing_keys)),
    Migration("identity-0002-citizens-enterprises-sessions", _citizens_enterprises_sessions),
    Migration("identity-0003-sessions-ended-index", add_missing_columns(sessions)),
    Migration("identity-0004-oauth", _oauth),
]

Row = sa.Row[Any]


def account_from_row(row: Row) -> Account:
    m = row._mapping
    return Account(
        id=str(m["id"]),
        username=str(m["username"]),
        kind=str(m["kind"]),
        department=str(m["department"]),
        roles=tuple(m["roles"]),
        state=str(m["state"]),
        totp_enrolled=m["totp_sealed"] is not None,
        failed_logins=int(m["failed_logins"]),
        locked_until_us=m["locked_until_us"],
        created_us=int(m["created_us"]),
    )


async def account_row(conn: Reader, *, account_id: str = "", username: str = "") -> Row | None:
    where = accounts.c.id == account_id if account_id else accounts.c.username == username
    return (await conn.execute(sa.select(accounts).where(where))).first()


async def get_account(conn: Reader, account_id: str) -> Account | None:
    row = await account_row(conn, account_id=account_id)
    return None if row is None else account_from_row(row)


async def username_exists(conn: Reader, username: str) -> bool:
    found = await conn.scalar(sa.select(accounts.c.id).where(accounts.c.username == username))
    return found is not None


async def resident_id_registered(conn: Reader, resident_id_hash: str) -> bool:
    return await account_by_resident_id(conn, resident_id_hash) is not None


async def account_by_resident_id(conn: Reader, resident_id_hash: str) -> str | None:
    query = sa.select(accounts.c.id).where(accounts.c.resident_id_hash == resident_id_hash)
    found = await conn.scalar(query)
    return None if found is None else str(found)


async def add_account(
    conn: AsyncConnection, account: Account, *, password_hash: str, **sealed: Any
) -> None:
    """Insert an account; `sealed` holds its sealed and hashed personal columns."""
    await conn.execute(
        accounts.insert().values(
            id=account.id,
            username=account.username,
            password_hash=password_hash,
            kind=account.kind,
            department=account.department,
            roles=list(account.roles),
            created_us=account.created_us or now_us(),
            state=account.state,
            **sealed,
        )
    )


async def update_account(conn: AsyncConnection, account_id: str, **values: Any) -> None:
    await conn.execute(
        accounts.update().where(accounts.c.id == account_id).values(updated_us=now_us(), **values)
    )


async def list_accounts(
    conn: Reader, *, after: tuple[int, str] | None, limit: int, kind: str, department: str
) -> tuple[list[Account], tuple[int, str] | None]:
    query = sa.select(accounts)
    if kind:
        query = query.where(accounts.c.kind == kind)
    if department:
        query = query.where(accounts.c.department == department)
    if after is not None:
        query = query.where(sa.tuple_(accounts.c.created_us, accounts.c.id) > sa.tuple_(*after))
    rows = list(
        (
            await conn.execute(
                query.order_by(accounts.c.created_us, accounts.c.id).limit(limit + 1)
            )
        ).all()
    )
    page = [account_from_row(r) for r in rows[:limit]]
    more = len(rows) > limit
    return page, ((page[-1].created_us, page[-1].id) if more else None)


# --- enterprises -----------------------------------------------------------------------------


async def enterprise_row(conn: Reader, enterprise_id: str) -> Row | None:
    return (
        await conn.execute(sa.select(enterprises).where(enterprises.c.id == enterprise_id))
    ).first()


async def credit_code_registered(conn: Reader, credit_code_hash: str) -> bool:
    return await enterprise_by_credit_code(conn, credit_code_hash) is not None


async def enterprise_by_credit_code(conn: Reader, credit_code_hash: str) -> str | None:
    query = sa.select(enterprises.c.id).where(enterprises.c.credit_code_hash == credit_code_hash)
    found = await conn.scalar(query)
    return None if found is None else str(found)


async def add_enterprise(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(enterprises.insert().values(created_us=now_us(), **values))


async def enterprises_of(conn: Reader, account_id: str) -> list[tuple[Row, str]]:
    """The enterprises an account represents or acts for, with the relation."""
    represented = await conn.execute(
        sa.select(enterprises).where(enterprises.c.legal_representative_id == account_id)
    )
    acting = await conn.execute(
        sa.select(enterprises)
        .join(enterprise_agents, enterprise_agents.c.enterprise_id == enterprises.c.id)
        .where(enterprise_agents.c.account_id == account_id)
    )
    return [(r, "legal_representative") for r in represented] + [(r, "agent") for r in acting]


async def may_act_for(conn: Reader, account_id: str, enterprise_id: str) -> bool:
    row = await enterprise_row(conn, enterprise_id)
    if row is None:
        return False
    if row.legal_representative_id == account_id:
        return True
    query = sa.select(enterprise_agents.c.account_id).where(
        enterprise_agents.c.enterprise_id == enterprise_id,
        enterprise_agents.c.account_id == account_id,
    )
    return await conn.scalar(query) is not None


async def add_agent(
    conn: AsyncConnection, *, enterprise_id: str, account_id: str, authorised_by: str
) -> bool:
    """Authorise an agent; False when already authorised."""
    query = sa.select(enterprise_agents.c.account_id).where(
        enterprise_agents.c.enterprise_id == enterprise_id,
        enterprise_agents.c.account_id == account_id,
    )
    if await conn.scalar(query) is not None:
        return False
    await conn.execute(
        enterprise_agents.insert().values(
            enterprise_id=enterprise_id,
            account_id=account_id,
            authorised_by=authorised_by,
            authorised_us=now_us(),
        )
    )
    return True


async def remove_agent(conn: AsyncConnection, *, enterprise_id: str, account_id: str) -> bool:
    result = await conn.execute(
        enterprise_agents.delete().where(
            enterprise_agents.c.enterprise_id == enterprise_id,
            enterprise_agents.c.account_id == account_id,
        )
    )
    return bool(result.rowcount)


# --- sessions and refresh tokens ---------------------------------------------------------------


async def add_session(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(sessions.insert().values(created_us=now_us(), **values))


async def session_row(conn: Reader, session_id: str) -> Row | None:
    return (await conn.execute(sa.select(sessions).where(sessions.c.id == session_id))).first()


async def open_sessions(conn: Reader, account_id: str, *, at_us: int) -> list[Row]:
    """The account's sessions that are neither ended nor expired at `at_us`, newest first."""
    query = (
        sa.select(sessions)
        .where(
            sessions.c.account_id == account_id,
            sessions.c.ended_us.is_(None),
            sessions.c.expires_us > at_us,
        )
        .order_by(sessions.c.created_us.desc(), sessions.c.id)
    )
    return list((await conn.execute(query)).all())


async def end_sessions(
    conn: AsyncConnection,
    *,
    reason: str,
    account_id: str,
    session_id: str = "",
    enterprise_id: str = "",
    keep: str = "",
) -> list[str]:
    """End the open sessions of an account (only `session_id`, only those for `enterprise_id`,
    all but `keep`); return their ids."""
    if not account_id:
        raise ValueError("ending sessions needs the account whose sessions end")
    where: list[sa.ColumnElement[bool]] = [
        sessions.c.account_id == account_id,
        sessions.c.ended_us.is_(None),
    ]
    if session_id:
        where.append(sessions.c.id == session_id)
    if enterprise_id:
        where.append(sessions.c.enterprise_id == enterprise_id)
    if keep:
        where.append(sessions.c.id != keep)
    ids = list((await conn.execute(sa.select(sessions.c.id).where(*where))).scalars())
    if ids:
        await conn.execute(
            sessions.update()
            .where(sessions.c.id.in_(ids), sessions.c.ended_us.is_(None))
            .values(ended_us=now_us(), end_reason=reason)
        )
    return [str(i) for i in ids]


async def sessions_ended_since(
    conn: Reader, *, ended_after_us: int, after: tuple[int, str] | None, limit: int | None
) -> list[tuple[int, str]]:
    """(end time, id) of the sessions ended at or after `ended_after_us`, in the order they
    ended, from after the key `after`; at most `limit` (None: all)."""
    query = sa.select(sessions.c.ended_us, sessions.c.id).where(
        sessions.c.ended_us >= ended_after_us
    )
    if after is not None:
        query = query.where(sa.tuple_(sessions.c.ended_us, sessions.c.id) > sa.tuple_(*after))
    rows = await conn.execute(query.order_by(sessions.c.ended_us, sessions.c.id).limit(limit))
    return [(int(row.ended_us), str(row.id)) for row in rows.all()]


async def add_refresh_token(conn: AsyncConnection, *, token_hash: str, session_id: str) -> None:
    await conn.execute(
        refresh_tokens.insert().values(
            token_hash=token_hash, session_id=session_id, issued_us=now_us()
        )
    )


async def refresh_token_row(conn: Reader, token_hash: str) -> Row | None:
    query = sa.select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
    return (await conn.execute(query)).first()


async def spend_refresh_token(conn: AsyncConnection, token_hash: str) -> bool:
    """Mark a refresh token spent; False when it already was (a concurrent or replayed use)."""
    result = await conn.execute(
        refresh_tokens.update()
        .where(refresh_tokens.c.token_hash == token_hash, refresh_tokens.c.spent_us.is_(None))
        .values(spent_us=now_us())
    )
    return bool(result.rowcount)


# --- signing keys ------------------------------------------------------------------------------


async def active_signing_key(conn: Reader, algorithm: str = "EdDSA") -> Row | None:
    query = (
        sa.select(signing_keys)
        .where(
            signing_keys.c.algorithm == algorithm,
            signing_keys.c.superseded_us.is_(None),
            signing_keys.c.retired_us.is_(None),
        )
        .order_by(signing_keys.c.created_us.desc())
        .limit(1)
    )
    return (await conn.execute(query)).first()


async def add_signing_key(
    conn: AsyncConnection, *, kid: str, algorithm: str, sealed: bytes, public_jwk: dict[str, str]
) -> None:
    await conn.execute(
        signing_keys.insert().values(
            kid=kid,
            algorithm=algorithm,
            private_key_sealed=sealed,
            public_jwk=public_jwk,
            created_us=now_us(),
        )
    )


async def supersede_signing_key(conn: AsyncConnection, kid: str, *, retire_at_us: int) -> bool:
    """Stop signing with `kid`; False when another replica superseded it first."""
    result = await conn.execute(
        signing_keys.update()
        .where(signing_keys.c.kid == kid, signing_keys.c.superseded_us.is_(None))
        .values(superseded_us=now_us(), retired_us=retire_at_us)
    )
    return bool(result.rowcount)


async def destroy_retired_keys(conn: AsyncConnection) -> int:
    """Empty the private part of keys past retirement: nothing signs with them again."""
    result = await conn.execute(
        signing_keys.update()
        .where(signing_keys.c.retired_us < now_us(), signing_keys.c.private_key_sealed != b"")
        .values(private_key_sealed=b"")
    )
    return int(result.rowcount)


async def public_jwks(conn: Reader) -> list[dict[str, str]]:
    """Every key not yet retired: tokens it signed may still be in flight."""
    rows = await conn.execute(
        sa.select(signing_keys.c.public_jwk)
        .where(sa.or_(signing_keys.c.retired_us.is_(None), signing_keys.c.retired_us > now_us()))
        .order_by(signing_keys.c.created_us.desc())
    )
    return [dict(jwk) for jwk in rows.scalars()]


# --- applications, codes and consents -------------------------------------------------------------


async def add_application(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(applications.insert().values(created_us=now_us(), **values))


async def application_row(conn: Reader, client_id: str) -> Row | None:
    query = sa.select(applications).where(applications.c.client_id == client_id)
    return (await conn.execute(query)).first()


async def application_rows(conn: Reader) -> list[Row]:
    query = sa.select(applications).order_by(applications.c.created_us, applications.c.client_id)
    return list(await conn.execute(query))


async def add_authorization_code(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(authorization_codes.insert().values(**values))


async def authorization_code_row(conn: Reader, code_hash: str) -> Row | None:
    query = sa.select(authorization_codes).where(authorization_codes.c.code_hash == code_hash)
    return (await conn.execute(query)).first()


async def spend_authorization_code(conn: AsyncConnection, code_hash: str) -> bool:
    """Mark the code spent; False when it already was (a second redemption)."""
    result = await conn.execute(
        authorization_codes.update()
        .where(
            authorization_codes.c.code_hash == code_hash,
            authorization_codes.c.spent_us.is_(None),
        )
        .values(spent_us=now_us())
    )
    return bool(result.rowcount)


async def set_code_session(conn: AsyncConnection, code_hash: str, session_id: str) -> None:
    await conn.execute(
        authorization_codes.update()
        .where(authorization_codes.c.code_hash == code_hash)
        .values(session_id=session_id)
    )


async def delete_expired_codes(conn: AsyncConnection, *, before_us: int) -> int:
    result = await conn.execute(
        authorization_codes.delete().where(authorization_codes.c.expires_us < before_us)
    )
    return int(result.rowcount)


async def consented_scopes(conn: Reader, account_id: str, client_id: str) -> frozenset[str]:
    query = sa.select(consents.c.scopes).where(
        consents.c.account_id == account_id, consents.c.client_id == client_id
    )
    scopes = (await conn.execute(query)).scalar()
    return frozenset(scopes or ())


async def record_consent(
    conn: AsyncConnection, account_id: str, client_id: str, scopes: list[str]
) -> None:
    where = (consents.c.account_id == account_id) & (consents.c.client_id == client_id)
    await conn.execute(consents.delete().where(where))
    await conn.execute(
        consents.insert().values(
            account_id=account_id, client_id=client_id, scopes=scopes, granted_us=now_us()
        )
    )


async def update_application(conn: AsyncConnection, *, client_id: str, **values: Any) -> None:
    await conn.execute(
        applications.update().where(applications.c.client_id == client_id).values(**values)
    )
