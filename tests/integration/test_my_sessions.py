"""A person sees where they are signed in and signs out everywhere (GET and DELETE
/public/v1/me/sessions): only their own open sessions are listed, their own one marked; ending
them ends every one, the caller's too, and their tokens are refused at once."""

from __future__ import annotations

import time
from typing import Any

from conftest import DEMO_PASSWORD, Platform, eventually
from runtime import identifiers


def _resident_id(sequence: int) -> str:
    first17 = f"460105198801{1 + sequence % 28:02d}{100 + sequence % 900}"
    return first17 + identifiers.resident_id_check_char(first17)


async def _citizen(platform: Platform) -> str:
    username = f"sessions{time.time_ns() % 10**12}"
    status, body, _ = await platform.request(
        "POST",
        "/public/v1/accounts",
        json={
            "username": username,
            "password": DEMO_PASSWORD,
            "resident_id_number": _resident_id(time.time_ns() // 1000),
            "display_name": "李四",
        },
    )
    assert status == 201, body
    return username


async def _login(platform: Platform, username: str) -> dict[str, Any]:
    status, body, _ = await platform.request(
        "POST", "/public/v1/login", json={"username": username, "password": DEMO_PASSWORD}
    )
    assert status == 200, body
    return dict(body)


async def test_a_citizen_lists_their_sessions_and_signs_out_everywhere(
    platform: Platform,
) -> None:
    # given a citizen signed in twice (two devices), and someone else signed in
    username = await _citizen(platform)
    phone, laptop = await _login(platform, username), await _login(platform, username)
    other = await _login(platform, await _citizen(platform))

    # when they ask where they are signed in
    status, listed, headers = await platform.request(
        "GET", "/public/v1/me/sessions", token=laptop["access_token"]
    )

    # then both their sessions are listed, newest first, the laptop's marked as theirs
    assert status == 200, listed
    assert headers["Cache-Control"] == "no-store"
    sessions = listed["sessions"]
    assert len(sessions) == 2
    assert [s.get("current", False) for s in sessions] == [True, False]
    assert all(s["audience"] == "public" and s["expire_time"] for s in sessions)
    assert "id" not in sessions[0] and "account_id" not in sessions[0]

    # when they sign out everywhere
    status, ended, _ = await platform.request(
        "DELETE", "/public/v1/me/sessions", token=laptop["access_token"]
    )
    assert status == 200, ended
    assert ended == {"ended": 2}

    # then neither device's tokens work any more, and the other person is still signed in
    async def refused() -> bool:
        codes = [
            (await platform.request("GET", "/public/v1/me", token=t["access_token"]))[0]
            for t in (phone, laptop)
        ]
        return codes == [401, 401]

    await eventually(refused, timeout=5)
    for device in (phone, laptop):
        status, body, _ = await platform.request(
            "POST", "/public/v1/refresh", json={"refresh_token": device["refresh_token"]}
        )
        assert status == 401, body
    status, mine, _ = await platform.request(
        "GET", "/public/v1/me/sessions", token=other["access_token"]
    )
    assert status == 200 and len(mine["sessions"]) == 1 and mine["sessions"][0]["current"]


async def test_only_a_signed_in_person_lists_or_ends_sessions(platform: Platform) -> None:
    for method in ("GET", "DELETE"):
        status, body, _ = await platform.request(method, "/public/v1/me/sessions")
        assert status == 401, body
    partner = await platform.login("demo.partner", entry="partner")
    status, body, _ = await platform.request("GET", "/public/v1/me/sessions", token=partner)
    assert status in (401, 403), body
