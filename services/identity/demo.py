"""Demo data for the embedded mode (`make run`): the demo staff accounts.

Never in production and never on PostgreSQL (see `runtime.config`).
"""

from __future__ import annotations

import uuid

from runtime import logs
from runtime.service import ServiceRuntime
from services.identity import domain, store
from services.identity.servicer import hash_password

log = logs.get(__name__)


async def seed(rt: ServiceRuntime) -> None:
    """Create the demo accounts that do not exist yet, with the configured demo password."""
    created = []
    for demo in domain.DEMO_ACCOUNTS:
        async with rt.db.begin() as conn:
            if await store.username_exists(conn, demo.username):
                continue
            account = domain.Account(
                id=str(uuid.uuid4()),
                username=demo.username,
                kind=domain.STAFF,
                department=demo.department,
                roles=demo.roles,
            )
            await store.add_account(
                conn, account, password_hash=hash_password(rt.settings.demo_password)
            )
            created.append(account.id)
    if created:
        log.info("demo_accounts_created", count=len(created))
