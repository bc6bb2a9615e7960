"""The audit chain on the real platform: actions in identity, keys and the catalog reach the chain
through each service's outbox; the chain verifies, and an edit made behind the service's back in
its database is caught, naming the first broken record, from the office entry point and the CLI.
A record is chained only from the service it names: forgeries with another service's NATS
identity are refused by the server or by the chain."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import orjson
import pytest

from conftest import Platform, eventually, resource_body
from runtime import audit
from runtime.bus.events import cloudevent_headers
from smartcity.keys.v1 import events_pb2

pytestmark = pytest.mark.integration


async def records_of(platform: Platform, token: str, resource_id: str) -> list[dict[str, Any]]:
    status, page, _ = await platform.request(
        "GET", f"/office/v1/audit/records?resource_id={resource_id}", token=token
    )
    assert status == 200, page
    return list(page["records"])


def cli_verify(platform: Platform) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", "audit", "verify", "--json"],
        env={**os.environ, **platform.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_actions_are_chained_verified_and_tampering_is_caught(platform: Platform) -> None:
    admin = await platform.login("bdb.admin")
    auditor = await platform.login("bdb.auditor")
    # given audited actions in three services
    expire = (datetime.now(UTC) + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    status, issued, _ = await platform.request(
        "POST",
        "/office/v1/authorisation-codes",
        token=admin,
        json={"consumer": "department:msa", "interface_services": ["msa.q"], "expire_time": expire},
    )
    assert status == 201
    code_id = issued["code"]["id"]
    officer = await platform.login("psb.officer")
    status, resource, _ = await platform.request(
        "POST",
        "/office/v1/catalog/resources",
        token=officer,
        json=resource_body(),
    )
    assert status == 201
    status, me, _ = await platform.request("GET", "/office/v1/me", token=admin)

    # then each reaches the chain, naming who did what to which resource
    async def chained() -> list[dict[str, Any]]:
        found = await records_of(platform, auditor, code_id)
        found += await records_of(platform, auditor, resource["id"])
        return found if len(found) == 2 else []

    found = await eventually(chained, timeout=15)
    actions = {r["record"]["action"]: r for r in found}
    assert set(actions) == {"keys.authorisation_code.issued", "catalog.resource.created"}
    issued_record = actions["keys.authorisation_code.issued"]["record"]
    assert issued_record["actor_id"] == me["id"] and issued_record["actor_type"] == "staff"
    assert issued_record["outcome"] == "succeeded" and issued_record["trace_id"]
    # the whole chain verifies, from the office and from the CLI
    status, verdict, _ = await platform.request("POST", "/office/v1/audit/verify", token=auditor)
    assert status == 200 and verdict["intact"] is True, verdict
    assert verdict["records"] >= 2
    done = cli_verify(platform)
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["intact"] is True

    # when someone edits a record in the database behind the service's back
    target = actions["catalog.resource.created"]["sequence"]
    database = platform.data_dir / "keys" / "keys.db"
    with sqlite3.connect(database, timeout=10) as db:
        (original,) = db.execute(
            "SELECT record FROM audit_chain WHERE sequence = ?", (target,)
        ).fetchone()
        forged = bytes(original).replace(b"succeeded", b"denied!!!")
        assert forged != bytes(original)
        db.execute("UPDATE audit_chain SET record = ? WHERE sequence = ?", (forged, target))
    try:
        # then verification names that record, over the office entry point and the CLI
        status, verdict, _ = await platform.request(
            "POST", "/office/v1/audit/verify", token=auditor
        )
        assert status == 200 and verdict["intact"] is False
        assert verdict["first_broken_sequence"] == target
        assert "content" in verdict["problem"]
        done = cli_verify(platform)
        assert done.returncode == 1
        assert orjson.loads(done.stdout)["first_broken"] == target
    finally:
        with sqlite3.connect(database, timeout=10) as db:
            db.execute("UPDATE audit_chain SET record = ? WHERE sequence = ?", (original, target))
    status, verdict, _ = await platform.request("POST", "/office/v1/audit/verify", token=auditor)
    assert verdict["intact"] is True


async def test_a_forged_audit_record_is_not_chained(platform: Platform) -> None:
    # given: records forged with the catalog's NATS identity (all its holder can publish)
    admin_id = (
        await platform.request("GET", "/office/v1/me", token=await platform.login("bdb.admin"))
    )[1]["id"]
    forged: dict[str, str] = {}  # what each forgery claims -> its resource id
    refusals: list[str] = []

    async def on_error(exc: Exception) -> None:
        refusals.append(str(exc))

    catalog = await platform.nats_as("catalog", error_cb=on_error)
    try:
        js = catalog.jetstream()
        claims = {
            # identity's record, on identity's subject: the server refuses the catalog
            "on identity's subject": (
                "identity",
                audit.event_type("identity"),
                "/smartcity/identity",
            ),
            # identity's record, on the catalog's own subject
            "naming identity": ("identity", audit.event_type("catalog"), "/smartcity/catalog"),
            # the catalog's record that says identity sent it
            "from identity's source": (
                "catalog",
                audit.event_type("catalog"),
                "/smartcity/identity",
            ),
        }
        for claim, (service, event_type, source) in claims.items():
            resource_id = f"forged-{uuid.uuid4().hex[:12]}"
            forged[claim] = resource_id
            record = events_pb2.AuditRecord(
                service=service,
                action=f"{service}.account.disabled",
                actor_id=admin_id,
                actor_type="staff",
                actor_department="bdb",
                resource_type="account",
                resource_id=resource_id,
                outcome="succeeded",
            )
            headers = cloudevent_headers(
                event_id=str(uuid.uuid4()),
                subject=event_type.subject,
                source=source,
                entity_id=resource_id,
                time_us=int(time.time() * 1_000_000),
                content_type=event_type.content_type,
            )
            with contextlib.suppress(nats.errors.TimeoutError):
                await js.publish(
                    event_type.subject, record.SerializeToString(), headers=headers, timeout=2
                )
    finally:
        await catalog.close()
    assert any('"smartcity.identity.audit.recorded"' in r for r in refusals), refusals

    # when: the catalog audits a genuine action after them
    officer = await platform.login("psb.officer")
    status, resource, _ = await platform.request(
        "POST", "/office/v1/catalog/resources", token=officer, json=resource_body()
    )
    assert status == 201
    auditor = await platform.login("bdb.auditor")

    async def genuine_chained() -> list[dict[str, Any]]:
        return await records_of(platform, auditor, resource["id"])

    # then: the genuine record is chained, naming the service that published it ...
    [genuine] = await eventually(genuine_chained, timeout=15)
    assert genuine["record"]["service"] == "catalog"
    # ... and none of the forged ones, which the stream holds before it
    for claim, resource_id in forged.items():
        assert await records_of(platform, auditor, resource_id) == [], claim
    status, verdict, _ = await platform.request("POST", "/office/v1/audit/verify", token=auditor)
    assert status == 200 and verdict["intact"] is True, verdict


async def test_audit_records_are_for_auditors_and_carry_no_personal_data(
    platform: Platform,
) -> None:
    officer = await platform.login("psb.officer")
    status, problem, _ = await platform.request("GET", "/office/v1/audit/records", token=officer)
    assert status == 403, problem
    auditor = await platform.login("bdb.auditor")
    status, page, _ = await platform.request(
        "GET", "/office/v1/audit/records?page_size=100", token=auditor
    )
    assert status == 200
    text = orjson.dumps(page).decode()
    for personal in ("display_name", "phone", "resident_id", "password"):
        assert personal not in text


def test_the_assessment_cli_lists_every_key_from_the_database(platform: Platform) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "assessment"],
        env={**os.environ, **platform.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = orjson.loads(done.stdout)
    names = {k["name"] for k in report["keys"]}
    assert {"psb.licence-signing", "audit.checkpoints"} <= names
    assert all(k["holder"] == "keys" for k in report["keys"])
