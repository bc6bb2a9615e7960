"""The first administrator of a deployment, created from the command line:
`python -m services.identity create-admin USERNAME`.

A production deployment has no demo accounts, and only an administrator can create staff, so the
first one comes from whoever holds the identity service's configuration (database and master
key), as Keycloak's bootstrap admin does. The password is read from the terminal, or from
`SMARTCITY_BOOTSTRAP_PASSWORD` for automation; TOTP is enrolled at the first sign-in.
"""

from __future__ import annotations

import functools
import getpass
import os
import sys
import uuid

from runtime import config, crypto, logs
from runtime.bus import outbox
from runtime.errors import DomainError, FieldViolation, InvalidArgument
from runtime.storage import Database, now_us
from runtime.unit_of_work import unit_of_work
from services.identity import domain, store
from services.identity.accounts import create_account
from services.identity.domain import Account, Profile
from services.identity.personal import PersonalData

ADMIN_ROLES = (domain.ROLE_BDB_ADMIN, domain.ROLE_SECURITY_OFFICER)


async def create_admin(username: str) -> int:
    settings = config.load()
    logs.configure(service="identity", level=settings.log_level)
    password = os.environ.get("SMARTCITY_BOOTSTRAP_PASSWORD") or getpass.getpass(
        f"password for {username}: "
    )
    db = Database(settings.database_url_for("identity"), service="identity")
    try:
        violations = domain.username_violations(username)
        violations += domain.password_violations("password", password, username=username)
        if violations:
            raise InvalidArgument(violations)
        # The same schema as the service's: its outbox carries the account.created event.
        await db.migrate([*outbox.MIGRATIONS, *store.MIGRATIONS])
        account = Account(
            id=str(uuid.uuid4()),
            username=username,
            kind=domain.STAFF,
            department="bdb",
            roles=ADMIN_ROLES,
            created_us=now_us(),
        )
        personal = PersonalData(crypto.master_key(settings))
        profile = personal.seal_profile(Profile(display_name=username), owner=account.id)
        # no relay in a one-off command: the running service publishes on its next poll
        work = functools.partial(unit_of_work, db, service="identity")
        await create_account(work, account, password=password, by=None, profile_sealed=profile)
    except InvalidArgument as exc:
        for violation in exc.violations:
            print(f"create-admin: {_describe(violation)}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"create-admin: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await db.close()
    print(f"created {username} (Big Data Bureau: {', '.join(ADMIN_ROLES)}); id {account.id}")
    return 0


def _describe(violation: FieldViolation) -> str:
    return f"{violation.field} {violation.description}"
