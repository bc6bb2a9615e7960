"""Demo data for the embedded mode (`make run`): staff of each department (TOTP enrolled), a
citizen, an enterprise with an agent, and a partner system, all with the demo password.

Never in production and never on PostgreSQL (see `runtime.config`). Everything is derived from
the demo password, so `smartcity up` can print the accounts without reading the database.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass

from runtime import config, logs, service_credentials
from runtime.demo import AGENT_RESIDENT_ID, CITIZEN_RESIDENT_ID
from runtime.demo import ENTERPRISE_CREDIT_CODE as ENTERPRISE_CREDIT_CODE
from runtime.service import ServiceRuntime
from runtime.storage import now_us
from services.identity import domain, passwords, store
from services.identity.accounts import RESIDENT_ID
from services.identity.domain import Account, DemoAccount, Profile
from services.identity.enterprises import CREDIT_CODE
from services.identity.personal import PersonalData
from smartcity.identity.v1 import identity_pb2

log = logs.get(__name__)

_NAMESPACE = uuid.UUID("6f1c1d1e-5a1b-4f7e-9a55-3c0e2f9d8a11")
ENTERPRISE_ID = str(uuid.uuid5(_NAMESPACE, "demo-enterprise"))
ENTERPRISE_NAME = "Haikou Demo Trading Co., Ltd. (海口演示贸易有限公司)"


@dataclass(frozen=True)
class DemoPerson:
    account: DemoAccount
    display_name: str
    resident_id: str


CITIZEN = DemoPerson(domain.DEMO_CITIZEN, "Li Ming (李明)", CITIZEN_RESIDENT_ID)
AGENT = DemoPerson(domain.DEMO_AGENT, "Wang Fang (王芳)", AGENT_RESIDENT_ID)


# A third-party application (a bus company's app, say) that signs citizens in with the code flow:
# it asks for their consent, gets a pairwise `sub` and RS256 ID tokens, and its access tokens
# open only userinfo. Its redirect URI is a native app's loopback one (RFC 8252).
THIRD_PARTY_APPLICATION = identity_pb2.RegisterApplicationRequest(
    client_id="demo.bus-app",
    name="海口公交 Haikou Bus (demo third-party app)",
    entry_point="public",
    redirect_uris=["http://127.0.0.1:8765/callback"],
    post_logout_redirect_uris=["http://127.0.0.1:8765/signed-out"],
    department="bdb",
)


def totp_secret(demo_password: str, username: str) -> str:
    """The demo staff's TOTP secret: derived, so that the banner can print it."""
    digest = hashlib.sha256(f"smartcity-demo-totp:{demo_password}:{username}".encode()).digest()
    return base64.b32encode(digest[:20]).decode()


def _account(demo: DemoAccount) -> Account:
    return Account(
        id=str(uuid.uuid5(_NAMESPACE, demo.username)),
        username=demo.username,
        kind=demo.kind,
        department=demo.department,
        roles=demo.roles,
        created_us=now_us(),
    )


async def seed(rt: ServiceRuntime, personal: PersonalData) -> None:
    """Create the demo accounts that do not exist yet, with the configured demo password."""
    password_hash = await passwords.hash_password(rt.settings.demo_password)
    created = 0
    for demo in (*domain.DEMO_STAFF, domain.DEMO_PARTNER, CITIZEN.account, AGENT.account):
        account = _account(demo)
        sealed: dict[str, object] = {}
        if demo.kind == domain.STAFF:
            secret = totp_secret(rt.settings.demo_password, demo.username)
            sealed["totp_sealed"] = personal.seal_totp(secret, owner=account.id)
            sealed["profile_sealed"] = personal.seal_profile(
                Profile(display_name=demo.username), owner=account.id
            )
        for person in (CITIZEN, AGENT):
            if person.account is demo:
                sealed["resident_id_hash"] = personal.identity_number_hash(
                    person.resident_id, kind=RESIDENT_ID
                )
                sealed["resident_id_sealed"] = personal.seal_identity_number(
                    person.resident_id, kind=RESIDENT_ID, owner=account.id
                )
                sealed["profile_sealed"] = personal.seal_profile(
                    Profile(display_name=person.display_name), owner=account.id
                )
        async with rt.db.begin() as conn:
            if await store.username_exists(conn, demo.username):
                continue
            await store.add_account(conn, account, password_hash=password_hash, **sealed)
            created += 1
    async with rt.db.begin() as conn:
        if await store.enterprise_row(conn, ENTERPRISE_ID) is None:
            await store.add_enterprise(
                conn,
                id=ENTERPRISE_ID,
                credit_code_hash=personal.identity_number_hash(
                    ENTERPRISE_CREDIT_CODE, kind=CREDIT_CODE
                ),
                credit_code_sealed=personal.seal_identity_number(
                    ENTERPRISE_CREDIT_CODE, kind=CREDIT_CODE, owner=ENTERPRISE_ID
                ),
                name=ENTERPRISE_NAME,
                legal_representative_id=_account(CITIZEN.account).id,
            )
            await store.add_agent(
                conn,
                enterprise_id=ENTERPRISE_ID,
                account_id=_account(AGENT.account).id,
                authorised_by=_account(CITIZEN.account).id,
            )
    # Service clients, each with a secret derived from the demo password: the platform's
    # processes (runtime.config.PLATFORM_CLIENTS) and the departments' licensing systems.
    platform = (DemoAccount(service, domain.SERVICE, "bdb") for service in config.PLATFORM_CLIENTS)
    for client in (*platform, *domain.DEMO_LICENSING_SYSTEMS):
        account = _account(client)
        async with rt.db.begin() as conn:
            if await store.username_exists(conn, client.username):
                continue
            secret_hash = await passwords.hash_password(
                service_credentials.demo_secret(rt.settings.demo_password, client.username)
            )
            await store.add_account(conn, account, password_hash=secret_hash)
            created += 1
    if created:
        log.info("demo_accounts_created", count=created)


def banner_lines(demo_password: str) -> list[str]:
    """What `smartcity up` prints about the demo accounts."""
    lines = [f"  demo accounts  (password: {demo_password!r})"]
    lines.append(
        "    staff: POST /office/v1/login with totp_code = `smartcity totp SECRET`"
        " (or `smartcity totp --demo USERNAME`)"
    )
    for demo in domain.DEMO_STAFF:
        secret = totp_secret(demo_password, demo.username)
        lines.append(
            f"      {demo.username:<13} {demo.department:<5} {', '.join(demo.roles):<46} {secret}"
        )
    lines.append(f"    citizen: POST /public/v1/login        {CITIZEN.account.username}")
    lines.append(
        f"    enterprise agent: POST /public/v1/login {AGENT.account.username} "
        f"with enterprise_id {ENTERPRISE_ID}"
    )
    lines.append(
        f"    partner: POST /partner/v1/login       {domain.DEMO_PARTNER.username} "
        "(client id; the demo password is its secret)"
    )
    return lines
