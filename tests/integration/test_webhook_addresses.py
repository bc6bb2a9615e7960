"""No webhook reaches inside the city's network, through the real platform: with local testing's
`SMARTCITY_WEBHOOK_ALLOW_PRIVATE` off, as production runs, a partner cannot register an internal
address, and an endpoint that points inside by the time of delivery (registered while local
testing allowed it, or a host name that now resolves to this machine) gets no connection: its
deliveries are logged "refused: private address" and parked, and nothing is probed."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from test_partners import REVOKED, entitle, licence_event, new_partner

from conftest import Platform, eventually, remember_secret, start_platform

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(scope="module")
async def lab(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    """A platform of its own: its partners service is restarted with the setting off."""
    settings, env, supervisor = await start_platform(tmp_path_factory.mktemp("webhooks"))
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            yield Platform(settings, env, supervisor, http)
    finally:
        await supervisor.stop_all()


class Inside:
    """A real TCP listener on 127.0.0.1, standing for what lives inside the network."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()

    async def __aenter__(self) -> Inside:
        self._server = await asyncio.start_server(self._accepted, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


async def register(platform: Platform, token: str, url: str) -> tuple[int, Any]:
    status, body, _ = await platform.request(
        "POST", "/partner/v1/events/webhooks", token=token, json={"url": url}
    )
    if status == 201:
        remember_secret(body["secret"])
    return status, body


async def test_with_local_testing_off_no_webhook_reaches_an_internal_address(
    lab: Platform,
) -> None:
    client_id, token = await new_partner(lab)
    await entitle(lab, client_id, REVOKED)
    async with Inside() as inside:
        # given: endpoints inside, registered while local testing allowed them, by literal
        # address and by a host name that resolves to this machine
        hooks = {}
        for url in (f"https://127.0.0.1:{inside.port}/hook", f"https://localhost:{inside.port}/"):
            status, created = await register(lab, token, url)
            assert status == 201, created
            hooks[created["webhook"]["id"]] = url

        # when: the partners service runs as production does, and an event is due
        spec = lab.spec("partners")
        await lab.supervisor.stop("partners")
        await lab.supervisor.start(
            dataclasses.replace(spec, env={**spec.env, "SMARTCITY_WEBHOOK_ALLOW_PRIVATE": "false"})
        )
        await licence_event(lab, "revoke")

        # then: every attempt is refused without a connection, and the log says why
        async def parked() -> list[dict[str, Any]]:
            _, page, _ = await lab.request(
                "GET", "/partner/v1/events/deliveries", token=token, params={"state": "parked"}
            )
            found = [d for d in page.get("deliveries", []) if d["webhook_id"] in hooks]
            return found if len(found) == len(hooks) else []

        for delivery in await eventually(parked, timeout=20):
            assert delivery["last_error"] == "refused: private address", delivery
            assert delivery["last_status"] == 0 and delivery["attempts"] == 3

        # and nothing inside can be registered any more: every form is refused, naming `url`
        port = inside.port
        refused = {
            f"https://127.0.0.1:{port}/hook": "public-address",
            f"https://[::1]:{port}/hook": "public-address",
            f"https://[::ffff:127.0.0.1]:{port}/hook": "public-address",
            f"https://[::ffff:7f00:1]:{port}/hook": "public-address",
            f"https://127.1:{port}/hook": "public-address",
            f"https://0.0.0.0:{port}/hook": "public-address",
            "https://169.254.169.254/latest/meta-data/": "public-address",
            "https://[fd00:ec2::254]/latest/meta-data/": "public-address",
            "https://100.100.100.200/latest/meta-data/": "public-address",
            "https://10.0.0.5/hook": "public-address",
            "https://[fd12::1]/hook": "public-address",
            f"https://localhost:{port}/hook": "public-address",
            f"http://127.0.0.1:{port}/hook": "webhook-url",
        }
        for url, rule in refused.items():
            status, body = await register(lab, token, url)
            assert status == 422, (url, body)
            [error] = body["errors"]
            assert error["field"] == "url" and error["rule"] == rule, (url, error)
        await asyncio.sleep(0.2)
        assert inside.connections == 0
