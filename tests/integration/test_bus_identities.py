"""Each process has its own NATS identity with least privilege, and consumers believe an event only
from its subject's owner: against the real nats-server of a running platform, with the
identities `smartcity up` made, and against a server configured as deploy/ configures one."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest

from conftest import Platform, eventually, resource_body
from runtime import natsauth
from runtime.bus.events import cloudevent_headers
from runtime.launcher import nats_server_binary
from runtime.processes import ProcessSpec, Supervisor, free_port, tcp_open
from services import registry
from services.catalog import events as catalog_events
from smartcity.catalog.v1 import events_pb2

pytestmark = pytest.mark.integration

DEPLOY_NATS = Path(__file__).resolve().parents[2] / "deploy" / "nats"


class Refusals:
    """What the server told a connection it refused."""

    def __init__(self) -> None:
        self.said: list[str] = []

    async def record(self, exc: Exception) -> None:
        self.said.append(str(exc).lower())

    async def of(self, *subjects: str) -> bool:
        """True once the server has refused each subject, by name (within 5 s)."""

        async def all_said() -> bool:
            text = "\n".join(self.said)
            return all(f'"{s.lower()}"' in text for s in subjects)

        return bool(await eventually(all_said, timeout=5))


async def answered(call: Awaitable[Any]) -> bool:
    try:
        await call
    except (nats.errors.TimeoutError, nats.errors.NoRespondersError, TimeoutError):
        return False
    return True


def headers(event_type: Any, *, source: str, entity_id: str) -> dict[str, str]:
    return cloudevent_headers(
        event_id=str(uuid.uuid4()),
        subject=event_type.subject,
        source=source,
        entity_id=entity_id,
        time_us=int(time.time() * 1_000_000),
        content_type=event_type.content_type,
    )


async def test_a_services_identity_may_publish_and_read_only_its_own(platform: Platform) -> None:
    refusals = Refusals()
    licences = await platform.nats_as("licences", error_cb=refusals.record)
    try:
        js = licences.jetstream()
        created = catalog_events.RESOURCE_CREATED
        forged = events_pb2.ResourceCreated(resource_id=str(uuid.uuid4())).SerializeToString()
        source = "/smartcity/catalog"  # it even claims to be the catalog
        attempts = {
            # the catalog's event, which the exchange would list
            created.subject: js.publish(
                created.subject,
                forged,
                headers=headers(created, source=source, entity_id="x"),
                timeout=1,
            ),
            # another's stream: delete it, or change it
            "$JS.API.STREAM.DELETE.CATALOG": licences.request(
                "$JS.API.STREAM.DELETE.CATALOG", b"", timeout=1
            ),
            "$JS.API.STREAM.UPDATE.CATALOG": licences.request(
                "$JS.API.STREAM.UPDATE.CATALOG", b"{}", timeout=1
            ),
            # another's consumer: the exchange's
            "$JS.API.CONSUMER.MSG.NEXT.CATALOG.exchange-resource-created": licences.request(
                "$JS.API.CONSUMER.MSG.NEXT.CATALOG.exchange-resource-created", b"{}", timeout=1
            ),
        }
        results = await asyncio.gather(*(answered(a) for a in attempts.values()))
        assert not any(results), dict(zip(attempts, results, strict=True))
        # identity's announcement that sessions ended, forged on core NATS
        await licences.publish("smartcity.identity.session.ended", b"")
        # hearing what is not its own: every event, another's replies
        await licences.subscribe("smartcity.>")
        await licences.subscribe("_INBOX.exchange.>")
        await licences.flush()
        assert await refusals.of(
            *attempts, "smartcity.identity.session.ended", "smartcity.>", "_INBOX.exchange.>"
        )
        # while its own stream answers it
        assert (await js.stream_info("LICENCES")).config.name == "LICENCES"
    finally:
        await licences.close()

    # the gateway and the tests' observer publish nothing at all
    for identity in ("gateway", natsauth.OBSERVER):
        said = Refusals()
        nc = await platform.nats_as(identity, error_cb=said.record)
        try:
            await nc.publish("smartcity.identity.signing_key.rotated", b"")
            await nc.flush()
            assert await said.of("smartcity.identity.signing_key.rotated"), identity
        finally:
            await nc.close()


def _refused_in_log(platform: Platform, process: str, event_id: str) -> list[dict[str, Any]]:
    lines = (platform.data_dir / "logs" / f"{process}.log").read_text(errors="replace")
    found = []
    for line in lines.splitlines():
        if event_id in line and "event_refused" in line:
            found.append(orjson.loads(line))
    return found


async def test_a_forged_event_with_a_wrong_source_is_refused_by_the_consumer(
    platform: Platform,
) -> None:
    # given: an event on the catalog's subject that says another service sent it (anything
    # that holds the catalog's identity could publish it)
    catalog = await platform.nats_as("catalog")
    created = catalog_events.RESOURCE_CREATED
    forged_id = str(uuid.uuid4())
    forged_headers = headers(created, source="/smartcity/licences", entity_id=forged_id)
    try:
        payload = events_pb2.ResourceCreated(resource_id=forged_id, provider_department="psb")
        await catalog.jetstream().publish(
            created.subject, payload.SerializeToString(), headers=forged_headers, timeout=5
        )
    finally:
        await catalog.close()
    # when: a genuine resource is created after it
    officer = await platform.login("psb.officer")
    status, genuine, _ = await platform.request(
        "POST", "/office/v1/catalog/resources", token=officer, json=resource_body()
    )
    assert status == 201, genuine
    admin = await platform.login("bdb.admin")

    async def genuine_known() -> dict[str, Any]:
        known = await platform.exchange_resources(admin)
        return known if genuine["id"] in known else {}

    # then: the exchange learnt the genuine one (after the forged one, in stream order) and
    # refused the forged one, saying so
    known = await eventually(genuine_known, timeout=15)
    assert forged_id not in known

    async def logged() -> list[dict[str, Any]]:
        return _refused_in_log(platform, "exchange", forged_headers["ce-id"])

    [line] = await eventually(logged, timeout=10)
    assert line["consumer"] == "exchange-resource-created" and "source" in line["reason"]


async def test_the_deployments_nats_gives_each_process_only_its_rights(tmp_path: Path) -> None:
    """deploy/nats/users.conf as the compose file's server reads it: keys from the environment."""
    keys = {p.name: natsauth.new_identity() for p in registry.participants()}
    port = free_port()
    conf = tmp_path / "nats-server.conf"
    (tmp_path / "users.conf").write_text((DEPLOY_NATS / "users.conf").read_text())
    conf.write_text(
        f"listen: 127.0.0.1:{port}\n"
        f'jetstream {{ store_dir: "{tmp_path / "js"}" }}\n'
        'authorization {\n  include "users.conf"\n}\n'
    )
    env = {registry.nkey_variable(name): public for name, (_, public) in keys.items()}
    supervisor = Supervisor()
    spec = ProcessSpec(
        name="nats",
        argv=[nats_server_binary(), "-c", str(conf)],
        ready=lambda: tcp_open(port),
        log_path=tmp_path / "nats.log",
        env=env,
    )
    try:
        # a key missing from the environment: the server does not start at all
        without = {k: v for k, v in env.items() if k != registry.nkey_variable("catalog")}
        missing = dataclasses.replace(spec, env=without, ready_timeout=5.0)
        with pytest.raises(Exception, match="exited"):
            await supervisor.start(missing)
        await supervisor.start(spec)
        url = f"nats://127.0.0.1:{port}"

        async def as_(name: str, refusals: Refusals) -> Any:
            return await nats.connect(
                url,
                nkeys_seed_str=keys[name][0],
                inbox_prefix=natsauth.inbox_prefix(name),
                error_cb=refusals.record,
                allow_reconnect=False,
            )

        said = Refusals()
        catalog = await as_("catalog", said)
        try:
            js = catalog.jetstream()
            # its own stream and subjects: yes
            await js.add_stream(name="CATALOG", subjects=["smartcity.catalog.>"])
            ack = await js.publish(created_subject(), b"", timeout=5)
            assert ack.stream == "CATALOG"
            # the exchange's: no
            assert not await answered(
                js.publish("smartcity.exchange.grant.revoked", b"", timeout=1)
            )
            assert await said.of("smartcity.exchange.grant.revoked")
        finally:
            await catalog.close()
        # a key the server does not know: refused at the door
        stranger, _ = natsauth.new_identity()
        with pytest.raises(Exception, match=r"(?i)authoriz"):
            await nats.connect(
                url, nkeys_seed_str=stranger, allow_reconnect=False, max_reconnect_attempts=0
            )
    finally:
        await supervisor.stop_all()


def created_subject() -> str:
    return catalog_events.RESOURCE_CREATED.subject
