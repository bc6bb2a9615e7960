"""The first administrator of a production deployment, created from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BASE_ENV
from runtime.storage import Database
from services.identity import store

pytestmark = pytest.mark.integration


def create_admin(data_dir: Path, username: str, password: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **BASE_ENV,
        "SMARTCITY_DATA_DIR": str(data_dir),
        "SMARTCITY_BOOTSTRAP_PASSWORD": password,
    }
    return subprocess.run(
        [sys.executable, "-m", "services.identity", "create-admin", username],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_create_admin_makes_a_bureau_administrator_once(tmp_path: Path) -> None:
    password = "first administrator's password"
    done = create_admin(tmp_path, "city.admin", password)
    assert done.returncode == 0, done.stderr
    assert "created city.admin" in done.stdout
    assert password not in done.stdout + done.stderr
    db = Database(
        f"sqlite+aiosqlite:///{tmp_path / 'identity' / 'identity.db'}", service="identity"
    )
    try:
        async with db.read() as conn:
            row = await store.account_row(conn, username="city.admin")
        assert row is not None
        account = store.account_from_row(row)
        assert account.kind == "staff" and account.department == "bdb"
        assert set(account.roles) == {"bdb_admin", "security_officer"}
        assert not account.totp_enrolled  # enrolled at the first sign-in
    finally:
        await db.close()
    again = create_admin(tmp_path, "city.admin", password)
    assert again.returncode == 1 and "taken" in again.stderr


def test_create_admin_refuses_a_short_password_naming_the_rule(tmp_path: Path) -> None:
    done = create_admin(tmp_path, "city.admin", "short")
    assert done.returncode == 2
    assert "password must be at least 10 characters" in done.stderr
