"""Partner systems receive exactly the events they are entitled to, through the real platform: by
NATS with their own NKEY (the server itself refuses anything else), as signed webhooks (retried,
then parked; a slow endpoint delays nobody else), and as server-sent events resumable with
Last-Event-ID; a revoked entitlement stops every channel at once; an offline partner catches up
and replays; deliveries carry the platform's trace."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import nats
import nkeys
import orjson
import pytest
from aiohttp import web
from nats.js.api import AckPolicy

from conftest import (
    Platform,
    audit_records,
    eventually,
    open_body,
    publish,
    remember_secret,
    revoke_held_licences,
)
from runtime import natsauth
from runtime.processes import free_port
from services.identity import demo as people
from services.licences.demo import sample_fields
from services.partners import domain, signatures

pytestmark = pytest.mark.integration

REVOKED = "smartcity.licences.licence.revoked"
SUSPENDED = "smartcity.licences.licence.suspended"
ISSUED = "smartcity.licences.licence.issued"


async def new_partner(platform: Platform) -> tuple[str, str]:
    """A partner client of its own (client id, access token at /partner)."""
    admin = await platform.login("bdb.admin")
    client_id = f"bank-{uuid.uuid4().hex[:8]}"
    status, created, _ = await platform.request(
        "POST",
        "/office/v1/clients",
        token=admin,
        json={"client_id": client_id, "kind": "partner", "department": "msa"},
    )
    assert status == 201, created
    remember_secret(created["client_secret"])
    token = await platform.login(client_id, created["client_secret"], entry="partner")
    return client_id, token


async def entitle(platform: Platform, client_id: str, *event_types: str) -> None:
    admin = await platform.login("bdb.admin")
    for event_type in event_types:
        status, body, _ = await platform.request(
            "POST",
            f"/office/v1/partners/{client_id}/entitlements",
            token=admin,
            json={"event_type": event_type},
        )
        assert status == 201, body


async def licence_event(platform: Platform, action: str = "revoke") -> tuple[str, str]:
    """Issue a driving licence and suspend or revoke it: (licence id, the trace id of the
    gateway request that did it)."""
    psb = await platform.login("psb.officer")
    # one driving licence per person: the one the citizen holds is revoked first
    await revoke_held_licences(
        platform,
        "driving_licence",
        holder=await platform.login("demo.citizen", entry="public"),
        issuer=psb,
    )
    fields = sample_fields("driving_licence", people.CITIZEN.resident_id)
    status, licence, _ = await platform.request(
        "POST",
        "/office/v1/licences",
        token=psb,
        json={"licence_type": "driving_licence", "fields": fields},
    )
    assert status == 201, licence
    status, body, headers = await platform.request(
        "POST", f"/office/v1/licences/{licence['id']}/{action}", token=psb, json={"reason": "x"}
    )
    assert status == 200, body
    trace_id = headers["traceresponse"].split("-")[1]
    return str(licence["id"]), trace_id


def nkey_user() -> tuple[str, str]:
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    return seed.decode(), nkeys.from_seed(bytearray(seed)).public_key.decode()


@asynccontextmanager
async def receiver(
    answer: Any = None,
) -> AsyncIterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A partner's webhook endpoint on loopback: (its URL, the deliveries it received)."""
    received: list[tuple[dict[str, str], bytes]] = []

    async def hook(request: web.Request) -> web.StreamResponse:
        received.append((dict(request.headers), await request.read()))
        if answer is not None:
            return await answer(request)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/hook", received
    finally:
        await runner.cleanup()


def about(received: list[tuple[dict[str, str], bytes]], licence_id: str) -> list[dict[str, Any]]:
    """The CloudEvents received about one licence."""
    docs = [orjson.loads(body) for _, body in received]
    return [d for d in docs if d["data"]["licence_id"] == licence_id]


# --- NATS ------------------------------------------------------------------------------------


async def test_a_partner_reads_its_events_on_nats_and_the_server_refuses_the_rest(
    platform: Platform,
) -> None:
    client_id, token = await new_partner(platform)
    await entitle(platform, client_id, REVOKED)
    seed, public_key = nkey_user()
    status, access, _ = await platform.request(
        "PUT", "/partner/v1/events/nats-key", token=token, json={"public_key": public_key}
    )
    assert status == 200, access
    assert access["durable"] == domain.durable(client_id)

    # given: the partner is offline while two licences are revoked and one suspended
    revoked_first, _ = await licence_event(platform, "revoke")
    await licence_event(platform, "suspend")
    revoked_second, trace_id = await licence_event(platform, "revoke")

    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    inbox = access["inbox_prefix"]

    async def connect() -> Any:
        # the server reloaded its users when the key was registered: retry until it knows it
        last: Exception | None = None
        for _ in range(30):
            try:
                return await nats.connect(
                    # the partner's own credentials only: not the platform's in the URL
                    natsauth.without_credentials(platform.settings.nats_url),
                    nkeys_seed_str=seed,
                    inbox_prefix=inbox.encode(),
                    error_cb=on_error,
                    allow_reconnect=False,
                )
            except Exception as exc:
                last = exc
                await asyncio.sleep(0.2)
        raise AssertionError(f"the partner could not connect: {last!r}")

    nc = await connect()
    try:
        js = nc.jetstream()
        # when: it comes back and reads its durable consumer, it gets what it missed, in order
        sub = await js.pull_subscribe_bind(
            access["durable"], stream=access["stream"], inbox_prefix=f"{inbox}.".encode()
        )
        got: list[Any] = []

        async def caught_up() -> bool:
            with suppress(nats.errors.TimeoutError, TimeoutError):
                got.extend(await sub.fetch(20, timeout=1))
            return {revoked_first, revoked_second} <= {_licence(m) for m in got}

        assert await eventually(caught_up, timeout=15)
        mine = [m for m in got if _licence(m) in (revoked_first, revoked_second)]
        assert [_licence(m) for m in mine] == [revoked_first, revoked_second]
        for msg in got:
            assert msg.headers["ce-type"] == REVOKED  # never the suspension: not entitled
            await msg.ack()
        # the copy continues the trace of the request that revoked the licence
        assert mine[-1].headers["traceparent"].split("-")[1] == trace_id

        # and it replays from a sequence with the replay consumer the platform creates for it
        first_sequence = mine[0].metadata.sequence.stream
        again = await replay(platform, token, js, access, {"from_sequence": first_sequence})
        assert _licence(again[0]) == revoked_first
        await js.delete_consumer(access["stream"], access["replay_consumer"])

        # then: the server itself refuses anything outside its own subjects
        await nc.subscribe("smartcity.licences.>")
        await nc.subscribe(domain.delivery_filter("demo.partner"))
        await nc.flush()

        async def refused() -> bool:
            return sum("permissions violation" in e for e in errors) >= 2

        assert await eventually(refused, timeout=5), errors
    finally:
        await nc.close()

    # an NKEY the platform does not know is refused by the server
    stranger_seed, _ = nkey_user()
    with pytest.raises(Exception, match=r"(?i)authoriz"):
        await nats.connect(
            natsauth.without_credentials(platform.settings.nats_url),
            nkeys_seed_str=stranger_seed,
            allow_reconnect=False,
            max_reconnect_attempts=0,
            connect_timeout=3,
        )

    # a key that is not an NKEY, and another partner's key, are refused
    status, body, _ = await platform.request(
        "PUT", "/partner/v1/events/nats-key", token=token, json={"public_key": "UABC"}
    )
    assert status == 422 and body["errors"][0]["field"] == "public_key"
    _, other = await new_partner(platform)
    status, body, _ = await platform.request(
        "PUT", "/partner/v1/events/nats-key", token=other, json={"public_key": public_key}
    )
    assert status == 409, body


async def replay(
    platform: Platform, token: str, js: Any, access: dict[str, Any], start: dict[str, Any]
) -> list[Any]:
    """What a partner's replay consumer, created by the platform on its request from `start`,
    reads (its messages, unacknowledged): always a pull consumer on the partner's own subject."""
    status, answer, _ = await platform.request(
        "POST", "/partner/v1/events/nats-replay", token=token, json=start
    )
    assert status == 201, answer
    assert answer["replay_consumer"] == access["replay_consumer"]
    assert answer["stream"] == access["stream"] and answer["subject"] == access["subject"]
    info = await js.consumer_info(access["stream"], access["replay_consumer"])
    assert info.config.deliver_subject is None  # pull: the server publishes nowhere
    assert info.config.filter_subject == access["subject"]
    assert info.config.ack_policy == AckPolicy.EXPLICIT
    sub = await js.pull_subscribe_bind(
        stream=access["stream"],
        name=access["replay_consumer"],
        inbox_prefix=f"{access['inbox_prefix']}.".encode(),
    )
    return list(await sub.fetch(10, timeout=3))


def _licence(msg: Any) -> str:
    from smartcity.licences.v1 import events_pb2

    payload = events_pb2.LicenceChanged()
    payload.ParseFromString(msg.data)
    return str(payload.licence_id)


async def partner_on_nats(
    platform: Platform, *event_types: str
) -> tuple[dict[str, Any], Any, list[str], str]:
    """A new partner entitled to `event_types`, connected with its own NKEY: (its NATS access,
    the connection, what the server said it refused, its access token at /partner)."""
    client_id, token = await new_partner(platform)
    await entitle(platform, client_id, *event_types)
    seed, public_key = nkey_user()
    status, access, _ = await platform.request(
        "PUT", "/partner/v1/events/nats-key", token=token, json={"public_key": public_key}
    )
    assert status == 200, access
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    for _ in range(30):  # the server reloads its users when the key is registered
        with suppress(Exception):
            nc = await nats.connect(
                natsauth.without_credentials(platform.settings.nats_url),
                nkeys_seed_str=seed,
                inbox_prefix=access["inbox_prefix"].encode(),
                error_cb=on_error,
                allow_reconnect=False,
            )
            return access, nc, errors, token
        await asyncio.sleep(0.2)
    raise AssertionError("the partner could not connect")


async def test_one_partner_can_neither_read_nor_swallow_nor_see_anothers_events(
    platform: Platform,
) -> None:
    victim, victim_nc, _, _ = await partner_on_nats(platform, REVOKED)
    thief, thief_nc, refusals, thief_token = await partner_on_nats(platform, REVOKED)
    stream, durable = victim["stream"], victim["durable"]
    try:
        # given: an event for the victim, pulled by it and not acknowledged yet
        licence_id, _ = await licence_event(platform, "revoke")
        victim_js = victim_nc.jetstream()
        pulled = await victim_js.pull_subscribe_bind(
            durable, stream=stream, inbox_prefix=f"{victim['inbox_prefix']}.".encode()
        )
        got: list[Any] = []

        async def arrived() -> list[Any]:
            with suppress(nats.errors.TimeoutError, TimeoutError):
                got.extend(await pulled.fetch(20, timeout=1))
            return [m for m in got if _licence(m) == licence_id]

        [pending] = await eventually(arrived, timeout=15)
        for other in got:
            if other is not pending:
                await other.ack()

        # when: the thief tries every operation on the victim's consumers and on the stream
        theirs = victim["subject"]
        create = {"stream_name": stream, "action": "", "config": {"ack_policy": "explicit"}}
        attempts: dict[str, tuple[str, dict[str, Any]]] = {
            "pull": (f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}", {"batch": 10}),
            "consumer info": (f"$JS.API.CONSUMER.INFO.{stream}.{durable}", {}),
            "consumer create (redirect the victim's durable)": (
                f"$JS.API.CONSUMER.CREATE.{stream}.{durable}.{thief['subject']}",
                {**create, "config": {"durable_name": durable, "filter_subject": thief["subject"]}},
            ),
            "consumer create (on the victim's subject)": (
                f"$JS.API.CONSUMER.CREATE.{stream}.{thief['replay_consumer']}.{theirs}",
                {**create, "config": {"name": thief["replay_consumer"], "filter_subject": theirs}},
            ),
            "consumer create (with the victim's replay name)": (
                f"$JS.API.CONSUMER.CREATE.{stream}.{victim['replay_consumer']}.{thief['subject']}",
                {**create, "config": {"name": victim["replay_consumer"]}},
            ),
            "consumer delete": (f"$JS.API.CONSUMER.DELETE.{stream}.{durable}", {}),
            "consumer list": (f"$JS.API.CONSUMER.LIST.{stream}", {}),
            "stream info": (f"$JS.API.STREAM.INFO.{stream}", {"subjects_filter": ">"}),
            "direct get": (
                f"$JS.API.DIRECT.GET.{stream}",
                {"seq": pending.metadata.sequence.stream},
            ),
            "message get": (
                f"$JS.API.STREAM.MSG.GET.{stream}",
                {"seq": pending.metadata.sequence.stream},
            ),
        }

        async def attempt(subject: str, body: dict[str, Any]) -> bool:
            try:
                await thief_nc.request(subject, orjson.dumps(body), timeout=1.0)
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
                return False
            return True

        answered = await asyncio.gather(*(attempt(s, b) for s, b in attempts.values()))
        assert not any(answered), [n for n, a in zip(attempts, answered, strict=True) if a]
        # the acknowledgement of the victim's message, its exact subject
        await thief_nc.publish(pending.reply, b"")
        await thief_nc.subscribe(theirs)
        await thief_nc.subscribe(f"{victim['inbox_prefix']}.>")
        await thief_nc.flush()

        # then: the server refused each, by name
        refused = [*(s for s, _ in attempts.values()), pending.reply, theirs]

        async def all_refused() -> list[str]:
            said = "\n".join(refusals).lower()
            missing = [s for s in refused if f'"{s.lower()}"' not in said]
            return [] if missing else refused

        assert await eventually(all_refused, timeout=5), refusals

        # and the victim's event is still its own to acknowledge: nothing was swallowed
        info = await victim_js.consumer_info(stream, durable)
        assert info.num_ack_pending >= 1 and info.config.filter_subject == theirs
        await pending.ack_sync()

        # while the thief's own operations work: its durable, and its own replay consumer
        thief_js = thief_nc.jetstream()
        assert (await thief_js.consumer_info(stream, thief["durable"])).name == thief["durable"]
        mine = await replay(platform, thief_token, thief_js, thief, {"from_sequence": 1})
        assert licence_id in {_licence(m) for m in mine}
        await thief_js.delete_consumer(stream, thief["replay_consumer"])
    finally:
        for nc in (victim_nc, thief_nc):
            await nc.close()


async def test_a_partner_creates_no_consumer_and_its_replay_consumer_is_pull_only(
    platform: Platform,
) -> None:
    """The attack: a partner created its replay consumer itself as a push consumer delivering to
    a platform subject, and the server published its events there. Now partners create no
    consumer; the platform creates the replay consumer, pull only, on the partner's request."""
    access, nc, refusals, token = await partner_on_nats(platform, REVOKED)
    stream, name, own = access["stream"], access["replay_consumer"], access["subject"]
    platform_subject = "smartcity.catalog.resource.created"
    try:
        js = nc.jetstream()
        first, _ = await licence_event(platform, "revoke")
        second, _ = await licence_event(platform, "revoke")
        pulled = await js.pull_subscribe_bind(
            access["durable"], stream=stream, inbox_prefix=f"{access['inbox_prefix']}.".encode()
        )
        got: list[Any] = []

        async def arrived() -> bool:
            with suppress(nats.errors.TimeoutError, TimeoutError):
                got.extend(await pulled.fetch(20, timeout=1))
            return {first, second} <= {_licence(m) for m in got}

        assert await eventually(arrived, timeout=15)
        for msg in got:
            await msg.ack()
        [second_msg] = [m for m in got if _licence(m) == second]

        # when: the partner creates its replay consumer as a push consumer onto that subject,
        # by every create subject there is, before and after the platform created it
        push = {
            "name": name,
            "durable_name": name,
            "filter_subject": own,
            "deliver_subject": platform_subject,
            "deliver_policy": "all",
            "ack_policy": "none",
        }
        attempts = {
            f"$JS.API.CONSUMER.CREATE.{stream}.{name}.{own}": {"stream_name": stream},
            f"$JS.API.CONSUMER.CREATE.{stream}.{name}": {"stream_name": stream},
            f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{name}": {"stream_name": stream},
        }

        async def attack() -> list[str]:
            answered = []
            for subject, body in attempts.items():
                with suppress(nats.errors.TimeoutError, nats.errors.NoRespondersError):
                    await nc.request(subject, orjson.dumps({**body, "config": push}), timeout=1.0)
                    answered.append(subject)
            return answered

        assert await attack() == []
        with pytest.raises(nats.js.errors.NotFoundError):
            await js.consumer_info(stream, name)

        # and the replay consumer the platform creates on request is pull only, explicitly
        # acknowledged, on the partner's own subject, and delivers from the asked sequence
        again = await replay(
            platform, token, js, access, {"from_sequence": second_msg.metadata.sequence.stream}
        )
        assert [_licence(m) for m in again][:1] == [second]
        assert first not in {_licence(m) for m in again}
        info = await js.consumer_info(stream, name)
        assert info.config.inactive_threshold is not None
        assert 0 < info.config.inactive_threshold <= 300
        for msg in again:
            await msg.ack()
        assert await attack() == []  # nor turns it into a push consumer once it exists
        after = await js.consumer_info(stream, name)
        assert after.config.deliver_subject is None and after.config.filter_subject == own

        # then: the server refused each create by name: no consumer pushes anywhere
        async def all_refused() -> list[str]:
            said = "\n".join(r for r in refusals if "permissions violation" in r).lower()
            missing = [s for s in attempts if f'"{s.lower()}"' not in said]
            return [] if missing else list(attempts)

        assert await eventually(all_refused, timeout=5), refusals

        # the partner may still delete it, and asks for another replay (from a time)
        await js.delete_consumer(stream, name)
        status, body, _ = await platform.request(
            "POST", "/partner/v1/events/nats-replay", token=token, json={}
        )
        assert status == 422 and body["errors"][0]["field"] == "from_sequence", body
        status, body, _ = await platform.request(
            "POST",
            "/partner/v1/events/nats-replay",
            token=token,
            json={"from_time": "2020-01-01T00:00:00Z"},
        )
        assert status == 201, body
        assert (await js.consumer_info(stream, name)).config.deliver_subject is None
    finally:
        await nc.close()

    # a partner without a NATS key has nothing to replay on NATS
    _, stranger = await new_partner(platform)
    status, body, _ = await platform.request(
        "POST", "/partner/v1/events/nats-replay", token=stranger, json={"from_sequence": 1}
    )
    assert status == 404, body


# --- webhooks --------------------------------------------------------------------------------


async def test_webhooks_are_signed_retried_parked_and_a_slow_one_delays_nobody(
    platform: Platform,
) -> None:
    client_id, token = await new_partner(platform)
    await entitle(platform, client_id, REVOKED)

    async def failing(request: web.Request) -> web.StreamResponse:
        return web.Response(status=500)

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(6)  # past the platform's 5 s timeout
        return web.Response(status=204)

    async with (
        receiver() as (good_url, good),
        receiver(failing) as (bad_url, bad),
        receiver(slow) as (slow_url, _),
    ):
        hooks = {}
        closed = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
        endpoints = {"good": good_url, "bad": bad_url, "slow": slow_url, "closed": closed}
        for name, url in endpoints.items():
            status, created, _ = await platform.request(
                "POST", "/partner/v1/events/webhooks", token=token, json={"url": url}
            )
            assert status == 201, created
            remember_secret(created["secret"])
            hooks[name] = created
        started = time.monotonic()
        licence_id, trace_id = await licence_event(platform, "revoke")

        # then: the good endpoint has it, signed, fast, whatever the slow one does
        async def delivered() -> list[dict[str, Any]]:
            return about(good, licence_id)

        [event] = await eventually(delivered, timeout=10)
        assert time.monotonic() - started < 5.0
        headers, body = next((h, b) for h, b in good if orjson.loads(b)["id"] == event["id"])
        signatures.verify(hooks["good"]["secret"], headers, body, now=time.time())
        assert event["type"] == REVOKED and event["data"]["status"] == "revoked"
        assert (
            headers["traceparent"].split("-")[1] == trace_id == event["traceparent"].split("-")[1]
        )

        # the documented helper refuses a forged, an altered and a stale delivery
        forged = {**headers, "webhook-signature": "v1,AAAA"}
        for bad_headers, bad_body, now in (
            (forged, body, time.time()),
            (headers, body + b" ", time.time()),
            (headers, body, time.time() + 3600),
        ):
            with pytest.raises(signatures.WebhookVerificationError):
                signatures.verify(hooks["good"]["secret"], bad_headers, bad_body, now=now)

        # the failing endpoint was tried three times, then the delivery parked, visibly
        async def parked() -> list[dict[str, Any]]:
            status, page, _ = await platform.request(
                "GET", "/partner/v1/events/deliveries", token=token, params={"state": "parked"}
            )
            assert status == 200, page
            return [
                d for d in page["deliveries"] if d["webhook_id"] == hooks["bad"]["webhook"]["id"]
            ]

        [stuck] = await eventually(parked, timeout=15)
        assert stuck["attempts"] == 3 and stuck["last_status"] == 500
        assert len(about(bad, licence_id)) == 3

        # and the unreachable one too, saying so
        async def unreachable() -> list[dict[str, Any]]:
            _, page, _ = await platform.request(
                "GET", "/partner/v1/events/deliveries", token=token, params={"state": "parked"}
            )
            hook = hooks["closed"]["webhook"]["id"]
            return [d for d in page["deliveries"] if d["webhook_id"] == hook]

        [refused] = await eventually(unreachable, timeout=15)
        assert refused["last_status"] == 0 and "unreachable" in refused["last_error"]

        # a replay delivers it again from its sequence
        status, _, _ = await platform.request(
            "POST",
            f"/partner/v1/events/webhooks/{hooks['good']['webhook']['id']}/replay",
            token=token,
            json={"from_sequence": int(event["sequence"])},
        )
        assert status == 202

        async def twice() -> bool:
            return len(about(good, licence_id)) >= 2

        assert await eventually(twice, timeout=10)

    # endpoints that are not https on the internet are refused
    for url in ("ftp://example.com/x", "http://example.com/hook", "not a url"):
        status, body, _ = await platform.request(
            "POST", "/partner/v1/events/webhooks", token=token, json={"url": url}
        )
        assert status == 422 and body["errors"][0]["field"] == "url", (url, body)


async def test_a_partner_cannot_register_a_platform_identitys_nats_key(platform: Platform) -> None:
    # given a partner that knows a platform service's public NKEY (public keys are no secret)
    _, token = await new_partner(platform)
    theirs = natsauth.public_key(natsauth.seed(platform.data_dir / "nats", "keys"))
    # when it registers that key as its own
    status, body, _ = await platform.request(
        "PUT", "/partner/v1/events/nats-key", token=token, json={"public_key": theirs}
    )
    # then it is refused: the key twice would make the server refuse every later reload (and a
    # restart), and the service keeps its own rights
    assert status == 409, body
    assert "another NATS user" in body["detail"]
    assert (platform.data_dir / "nats" / natsauth.AUTH_FILE).read_text().count(theirs) == 1
    # and another partner's key still reaches the server
    access, nc, _, _ = await partner_on_nats(platform, REVOKED)
    await nc.close()
    assert access["public_key"] != theirs


# --- server-sent events ------------------------------------------------------------------------


async def read_events(response: Any, count: int) -> list[tuple[str, dict[str, Any]]]:
    """(id, CloudEvent) of the next `count` events of an SSE response, heartbeats skipped."""
    found: list[tuple[str, dict[str, Any]]] = []
    event_id, data = "", ""
    while len(found) < count:
        line = (await asyncio.wait_for(response.content.readline(), timeout=15)).decode()
        if line.startswith("id: "):
            event_id = line[4:].strip()
        elif line.startswith("data: "):
            data = line[6:].strip()
        elif line == "\n" and data:
            found.append((event_id, orjson.loads(data)))
            event_id, data = "", ""
    return found


async def test_a_stream_resumes_after_its_last_event_id(platform: Platform) -> None:
    client_id, token = await new_partner(platform)
    await entitle(platform, client_id, REVOKED)
    url = f"{platform.url}/partner/v1/events/stream"
    headers = {"Authorization": f"Bearer {token}"}
    async with platform.http.get(url, headers=headers) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/event-stream")
        first, _ = await licence_event(platform, "revoke")
        [(first_id, event)] = await read_events(response, 1)
        assert event["data"]["licence_id"] == first and event["type"] == REVOKED
        assert event["traceparent"].startswith("00-")  # the partner may join the trace
    # while disconnected, two more
    second, _ = await licence_event(platform, "revoke")
    third, _ = await licence_event(platform, "revoke")
    async with platform.http.get(url, headers={**headers, "Last-Event-ID": first_id}) as response:
        assert response.status == 200
        resumed = await read_events(response, 2)
    assert [e["data"]["licence_id"] for _, e in resumed] == [second, third]
    assert int(resumed[0][0]) > int(first_id)

    # a malformed Last-Event-ID, and no token
    status, body, _ = await platform.request(
        "GET", "/partner/v1/events/stream", token=token, headers={"Last-Event-ID": "abc"}
    )
    assert status == 400, body
    status, _, _ = await platform.request("GET", "/partner/v1/events/stream")
    assert status == 401


async def test_a_stream_ends_when_its_session_ends(platform: Platform) -> None:
    # given a partner following its events, which arrive
    client_id, token = await new_partner(platform)
    await entitle(platform, client_id, REVOKED)
    url = f"{platform.url}/partner/v1/events/stream"
    async with platform.http.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status == 200, await response.text()
        first, _ = await licence_event(platform, "revoke")
        [(_, event)] = await read_events(response, 1)
        assert event["data"]["licence_id"] == first
        # when its session ends (the token's holder signs out: the token may have been stolen)
        status, _, _ = await platform.request("POST", "/partner/v1/logout", token=token)
        assert status == 204
        await asyncio.sleep(1.0)  # every verifier hears of it within a heartbeat
        second, _ = await licence_event(platform, "revoke")
        # then the stream ends without the next event, though the token has not expired
        rest = await asyncio.wait_for(response.content.read(), timeout=20)
    assert second.encode() not in rest
    platform.forget_tokens("partner")


# --- entitlements ----------------------------------------------------------------------------


async def test_a_revoked_entitlement_stops_every_channel_at_once(platform: Platform) -> None:
    client_id, token = await new_partner(platform)
    await entitle(platform, client_id, REVOKED, SUSPENDED)
    async with receiver() as (url, received):
        status, created, _ = await platform.request(
            "POST", "/partner/v1/events/webhooks", token=token, json={"url": url}
        )
        assert status == 201
        remember_secret(created["secret"])
        stream_url = f"{platform.url}/partner/v1/events/stream"
        async with platform.http.get(
            stream_url, headers={"Authorization": f"Bearer {token}"}
        ) as stream:
            # when: the Bureau revokes the entitlement to revocations
            admin = await platform.login("bdb.admin")
            status, body, _ = await platform.request(
                "DELETE",
                f"/office/v1/partners/{client_id}/entitlements/{REVOKED}",
                token=admin,
            )
            assert status == 200, body
            revoked, _ = await licence_event(platform, "revoke")
            suspended, _ = await licence_event(platform, "suspend")

            # then: the suspension still arrives (the pipeline flows), the revocation never
            [(_, event)] = await read_events(stream, 1)
            assert event["data"]["licence_id"] == suspended

            async def webhook_has_suspension() -> bool:
                return bool(about(received, suspended))

            assert await eventually(webhook_has_suspension, timeout=10)
            assert not about(received, revoked)

    # the partner sees its own entitlements only; the Bureau's change is audited
    status, mine, _ = await platform.request("GET", "/partner/v1/events/entitlements", token=token)
    assert [e["event_type"] for e in mine["entitlements"]] == [SUSPENDED]
    auditor = await platform.login("bdb.auditor")

    async def audited() -> list[str]:
        records = await audit_records(platform, auditor, f"{client_id} {REVOKED}")
        return [r["record"]["action"] for r in records]

    actions = await eventually(audited, timeout=15)
    assert "partners.entitlement.granted" in actions


async def test_only_the_bureau_entitles_and_only_to_partner_event_types(
    platform: Platform,
) -> None:
    client_id, _token = await new_partner(platform)
    psb = await platform.login("psb.officer")
    path = f"/office/v1/partners/{client_id}/entitlements"
    status, _, _ = await platform.request("POST", path, token=psb, json={"event_type": REVOKED})
    assert status == 403
    admin = await platform.login("bdb.admin")
    for event_type in ("smartcity.identity.account.created", "smartcity.keys.audit.recorded"):
        status, body, _ = await platform.request(
            "POST", path, token=admin, json={"event_type": event_type}
        )
        assert status == 422 and body["errors"][0]["field"] == "event_type", body
    status, body, _ = await platform.request("DELETE", f"{path}/{REVOKED}", token=admin)
    assert status == 404, body
    # the AsyncAPI document describes the partner channels, no sign-in
    status, document, _ = await platform.request("GET", "/partner/v1/events/asyncapi.json")
    assert status == 200 and document["asyncapi"] == "3.0.0"
    assert any(REVOKED in c["address"] for c in document["channels"].values())


async def test_entitlements_are_granted_only_to_partner_clients_that_exist(
    platform: Platform,
) -> None:
    admin = await platform.login("bdb.admin")
    status, service, _ = await platform.request(
        "POST",
        "/office/v1/clients",
        token=admin,
        json={"client_id": f"svc-{uuid.uuid4().hex[:8]}", "kind": "service", "department": "msa"},
    )
    assert status == 201, service
    remember_secret(service["client_secret"])
    # an id nobody registered, a service client and a member of staff: none is a partner client
    unknown = f"bank-{uuid.uuid4().hex[:8]}"
    for client_id in (unknown, service["account"]["username"], "psb.officer"):
        path = f"/office/v1/partners/{client_id}/entitlements"
        status, body, _ = await platform.request(
            "POST", path, token=admin, json={"event_type": REVOKED}
        )
        assert status == 404, (client_id, body)
        assert client_id in body["detail"] and "partner client" in body["detail"], body
        # and nothing was granted
        status, listed, _ = await platform.request("GET", path, token=admin)
        assert status == 200 and listed["entitlements"] == [], listed
    # a partner client that exists is entitled
    client_id, _token = await new_partner(platform)
    await entitle(platform, client_id, REVOKED)


# --- data changes reach only the partners whose grants cover them ------------------------------

DATASET_UPDATED = "smartcity.exchange.dataset.updated"


async def stream_for(
    platform: Platform, token: str, *, since: str, seconds: float
) -> list[dict[str, Any]]:
    """The CloudEvents a partner's stream holds from `since` on, read for `seconds`."""
    found: list[dict[str, Any]] = []
    url = f"{platform.url}/partner/v1/events/stream"
    async with platform.http.get(
        url, headers={"Authorization": f"Bearer {token}"}, params={"from_time": since}
    ) as response:
        assert response.status == 200, await response.text()
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = await asyncio.wait_for(response.content.readline(), timeout=left)
            except TimeoutError:
                break
            if line.startswith(b"data: "):
                found.append(orjson.loads(line[6:]))
    return found


async def test_data_changes_reach_only_the_partners_whose_grants_cover_them(
    platform: Platform,
) -> None:
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    holder, holder_token = await new_partner(platform)
    stranger, stranger_token = await new_partner(platform)
    for client in (holder, stranger):
        await entitle(platform, client, DATASET_UPDATED)
    resource = await publish(platform, open_body("hrss", word=uuid.uuid4().hex[:6]))

    # given: the holder asks for the resource and is granted it at once (unconditional)
    async def granted() -> dict[str, Any] | None:
        status, body, _ = await platform.request(
            "POST",
            "/partner/v1/exchange/share-requests",
            token=holder_token,
            json={
                "resource_id": resource["id"],
                "purpose": "导航应用 navigation",
                "legal_basis": "《海口市智慧城市促进条例》第十四条",
                "fields": ["停车场名称", "泊位数"],
                "duration_days": 30,
            },
        )
        return body if status == 201 else None

    assert (await eventually(granted, timeout=15))["state"] == "granted"

    # when: the provider pushes records
    hrss = await platform.login("hrss.officer")
    status, body, _ = await platform.request(
        "POST",
        f"/office/v1/exchange/datasets/{resource['id']}/records",
        token=hrss,
        json={"records": [{"fields": {"停车场名称": "海秀公园停车场", "泊位数": "120"}}]},
    )
    assert status == 200, body

    # then: the holder hears of it, the stranger (entitled, but without a grant) never does
    async def heard() -> list[dict[str, Any]]:
        events = await stream_for(platform, holder_token, since=since, seconds=1.5)
        return [e for e in events if e["data"]["resource_id"] == resource["id"]]

    [event] = await eventually(heard, timeout=15)
    assert event["type"] == DATASET_UPDATED and event["data"]["record_count"] == "1"
    nothing = await stream_for(platform, stranger_token, since=since, seconds=1.5)
    assert [e for e in nothing if e["data"]["resource_id"] == resource["id"]] == []
