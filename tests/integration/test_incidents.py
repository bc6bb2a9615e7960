"""Security incidents (Art. 38) on the real platform: a security officer reports one, contains it,
notifies the affected users (an event reaches them), reports to the authority with a document
generated from the timeline, and closes it; the stages cannot be skipped."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from conftest import Platform, eventually

pytestmark = pytest.mark.integration


async def advance(platform: Platform, token: str, incident_id: str, stage: str) -> tuple[int, Any]:
    status, body, _ = await platform.request(
        "POST",
        f"/office/v1/incidents/{incident_id}/advance",
        token=token,
        json={"stage": stage, "note": f"done: {stage}"},
    )
    return status, body


async def test_an_incident_runs_from_report_to_closure_and_reaches_the_affected_users(
    platform: Platform,
) -> None:
    officer = await platform.login("bdb.admin")  # a security officer
    nc = await platform.nats_as("observer")
    heard: list[Any] = []

    async def on_message(message: Any) -> None:
        heard.append(message)

    try:
        await nc.subscribe("smartcity.keys.incident.users_notified", cb=on_message)
        await nc.flush(timeout=5)
        status, incident, headers = await platform.request(
            "POST",
            "/office/v1/incidents",
            token=officer,
            json={
                "title": "Exchange interface queried with a leaked authorisation code",
                "description": "A partner's code was used from an unknown address.",
                "severity": "high",
                "affected_resources": ["psb.vehicle-query"],
                "affected_subjects": 2,
                "affected_account_ids": ["acc-1", "acc-2"],
            },
        )
        assert status == 201, incident
        assert incident["stage"] == "reported" and headers["Location"].endswith(incident["id"])
        incident_id = incident["id"]
        # stages cannot be skipped: closing now, or reporting before notifying, is refused
        for stage in ("closed", "authority_reported"):
            status, problem = await advance(platform, officer, incident_id, stage)
            assert status == 409 and "contained" in problem["detail"], problem
        status, _ = await advance(platform, officer, incident_id, "contained")
        assert status == 200
        # people are affected: they are notified before anything is reported or closed
        status, problem = await advance(platform, officer, incident_id, "authority_reported")
        assert status == 409 and "users_notified" in problem["detail"]
        status, _ = await advance(platform, officer, incident_id, "users_notified")
        assert status == 200

        async def notified() -> bool:
            return any(b"acc-1" in m.data and b"acc-2" in m.data for m in heard)

        await eventually(notified, timeout=10)
        # a high-severity incident is reported to the authority before it closes
        status, problem = await advance(platform, officer, incident_id, "closed")
        assert status == 409, problem
        status, report = await advance(platform, officer, incident_id, "authority_reported")
        assert status == 200
        assert "report SM3" in report["timeline"][-1]["note"]
        status, closed = await advance(platform, officer, incident_id, "closed")
        assert status == 200 and closed["stage"] == "closed"
        assert [s["stage"] for s in closed["timeline"]] == [
            "reported",
            "contained",
            "users_notified",
            "authority_reported",
            "closed",
        ]
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nc.close(), timeout=5)
    # the report is generated from the timeline
    auditor = await platform.login("bdb.auditor")
    async with platform.http.get(
        f"{platform.url}/office/v1/incidents/{incident_id}/report",
        headers={"Authorization": f"Bearer {auditor}"},
    ) as response:
        assert response.status == 200 and response.content_type == "text/markdown"
        text = await response.text()
        assert len(response.headers["Digest-SM3"]) == 64
    assert "Severity: high" in text and "users_notified" in text and "Affected people: 2" in text

    # every step is in the audit chain
    async def audited() -> bool:
        _, page, _ = await platform.request(
            "GET", f"/office/v1/audit/records?resource_id={incident_id}", token=auditor
        )
        return len(page["records"]) == 5

    await eventually(audited, timeout=10)


async def test_only_security_officers_handle_incidents(platform: Platform) -> None:
    auditor = await platform.login("bdb.auditor")
    status, problem, _ = await platform.request(
        "POST", "/office/v1/incidents", token=auditor, json={"title": "x", "severity": "low"}
    )
    assert status == 403, problem
    officer = await platform.login("bdb.admin")
    status, problem, _ = await platform.request(
        "POST", "/office/v1/incidents", token=officer, json={"title": ""}
    )
    assert status == 422
    assert {e["field"] for e in problem["errors"]} == {"title", "severity"}
