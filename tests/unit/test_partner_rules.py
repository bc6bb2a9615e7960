"""Partner delivery rules: subjects and permissions per partner, entitlement scopes, NKEYs,
webhook endpoints, retry delays, signatures, and the NATS users file."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace

import nkeys
import pytest

from runtime import natsauth
from runtime.errors import InvalidArgument
from services.partners import domain, signatures
from services.partners.catalog import ALL, GRANTED, OWN, PARTNER_EVENTS


def test_one_partners_subjects_are_never_a_prefix_of_anothers() -> None:
    # "demo" and "demo.partner" would share "smartcity.partners.delivery.demo.>" with dots
    assert domain.delivery_filter("demo") == "smartcity.partners.delivery.demo.>"
    assert domain.delivery_filter("demo.partner") == "smartcity.partners.delivery.demo~partner.>"
    subject = domain.delivery_subject("demo.partner", "smartcity.licences.licence.revoked")
    assert not subject.startswith("smartcity.partners.delivery.demo.")
    assert domain.durable("demo.partner") == "partner-demo~partner"


def test_a_partners_nats_user_may_touch_only_its_own_subjects() -> None:
    permissions = domain.nats_permissions("bank")
    assert permissions["subscribe"]["allow"] == [
        "smartcity.partners.delivery.bank.>",
        "_INBOX_bank.>",
    ]
    published = permissions["publish"]["allow"]
    assert "$JS.API.CONSUMER.DELETE.PARTNERS.replay-bank" in published
    assert not any(p.startswith("smartcity.") or "STREAM" in p for p in published)
    # it creates no consumer: a create request's body (a push consumer's deliver subject) is
    # beyond what permissions see; the partners service creates its replay consumer for it
    assert not any(".CREATE." in p for p in published)
    # every consumer it may touch is named exactly: no wildcard where a consumer's name goes
    named = {p.split(".PARTNERS.")[1].split(".")[0] for p in published}
    assert named == {"partner-bank", "replay-bank"}


def _consumer_operations(client_id: str) -> list[tuple[str, str]]:
    """What a partner does with its own consumers and subjects."""
    stream, own = domain.STREAM, domain.delivery_filter(client_id)
    operations = [("subscribe", own), ("subscribe", f"{domain.inbox_prefix(client_id)}.x")]
    for consumer in (domain.durable(client_id), domain.replay_consumer(client_id)):
        operations += [
            ("publish", f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"),
            ("publish", f"$JS.API.CONSUMER.INFO.{stream}.{consumer}"),
            ("publish", f"$JS.ACK.{stream}.{consumer}.1.7.3.1700000000000000000.0"),
            ("publish", f"$JS.ACK.hub.ACCHASH.{stream}.{consumer}.1.7.3.1700000000000000000.0.x"),
        ]
    replay = domain.replay_consumer(client_id)
    return [*operations, ("publish", f"$JS.API.CONSUMER.DELETE.{stream}.{replay}")]


def _never_allowed(client_id: str) -> list[tuple[str, str]]:
    """What no partner may do, even to what is its own: create any consumer (its replay
    consumer included: a push consumer would publish its events onto any subject), manage its
    durable, read the stream."""
    stream, durable = domain.STREAM, domain.durable(client_id)
    own, replay = domain.delivery_filter(client_id), domain.replay_consumer(client_id)
    return [
        ("publish", f"$JS.API.CONSUMER.CREATE.{stream}.{replay}.{own}"),
        ("publish", f"$JS.API.CONSUMER.CREATE.{stream}.{replay}"),
        ("publish", f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{replay}"),
        (
            "publish",
            f"$JS.API.CONSUMER.CREATE.{stream}.{durable}.{domain.delivery_filter(client_id)}",
        ),
        ("publish", f"$JS.API.CONSUMER.DELETE.{stream}.{durable}"),
        ("publish", f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{durable}"),
        ("publish", f"$JS.API.CONSUMER.CREATE.{stream}"),
        ("publish", f"$JS.API.CONSUMER.LIST.{stream}"),
        ("publish", f"$JS.API.STREAM.INFO.{stream}"),
        ("publish", f"$JS.API.DIRECT.GET.{stream}"),
        ("publish", f"$JS.API.STREAM.MSG.GET.{stream}"),
        ("publish", "smartcity.partners.delivery.x.y"),
    ]


@pytest.mark.parametrize(
    ("mine", "theirs"),
    [
        ("bank", "other"),
        ("bank", "bank.x"),
        ("bank.x", "bank"),
        ("bank", "replay-bank"),
        ("partner-bank", "bank"),
        ("bank", "bank-replay"),
    ],
)
def test_no_partner_may_touch_anothers_consumers(mine: str, theirs: str) -> None:
    rights = domain.nats_permissions(mine)
    for action, subject in _consumer_operations(theirs) + _never_allowed(theirs):
        assert not natsauth.allowed(rights, action, subject), (mine, action, subject)
    for action, subject in _never_allowed(mine):
        assert not natsauth.allowed(rights, action, subject), (mine, action, subject)
    for action, subject in _consumer_operations(mine):
        assert natsauth.allowed(rights, action, subject), (mine, action, subject)


def test_scopes_decide_which_entitled_partner_receives_an_event() -> None:
    own = PARTNER_EVENTS["smartcity.exchange.grant.revoked"]
    granted = PARTNER_EVENTS["smartcity.exchange.dataset.updated"]
    everyone = PARTNER_EVENTS["smartcity.licences.licence.revoked"]
    assert (own.scope, granted.scope, everyone.scope) == (OWN, GRANTED, ALL)
    mine = SimpleNamespace(consumer="partner:bank")
    assert domain.in_scope(own, mine, "bank", holds_grant=False)
    assert not domain.in_scope(own, mine, "other", holds_grant=False)
    assert not domain.in_scope(
        own, SimpleNamespace(consumer="department:psb"), "bank", holds_grant=True
    )
    assert domain.in_scope(granted, object(), "bank", holds_grant=True)
    assert not domain.in_scope(granted, object(), "bank", holds_grant=False)
    assert domain.in_scope(everyone, object(), "anyone", holds_grant=False)


def test_only_partner_event_types_can_be_entitled() -> None:
    for internal in ("smartcity.identity.account.created", "smartcity.keys.audit.recorded", "x"):
        with pytest.raises(InvalidArgument):
            domain.partner_event(internal)
    assert all(not s.startswith(("smartcity.identity.", "smartcity.keys.")) for s in PARTNER_EVENTS)


def test_an_nkey_is_checked_down_to_its_checksum() -> None:
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    pair = nkeys.from_seed(bytearray(seed))
    public = pair.public_key.decode()
    assert domain.check_nkey(public) == public
    assert domain.encode_nkey(bytes(pair._keys.verify_key)) == public  # our encoding agrees
    broken = public[:-1] + ("A" if public[-1] != "A" else "B")
    for bad in (broken, "UABC", "N" + public[1:], seed.decode()):
        with pytest.raises(InvalidArgument):
            domain.check_nkey(bad)


@pytest.mark.parametrize(
    ("url", "allow_http", "host"),
    [
        ("https://bank.example.com/hooks", False, "bank.example.com"),
        ("https://[::ffff:127.0.0.1]:8443/hook", False, "::ffff:7f00:1"),  # as aiohttp sees it
        ("https://bücher.example/hook", False, "xn--bcher-kva.example"),
        ("http://127.0.0.1:8000/hook", True, "127.0.0.1"),
        ("http://bank.example.com/hook", False, None),
        ("https://user:pw@bank.example.com/hook", False, None),
        ("https://:pw@bank.example.com/hook", True, None),
        ("ftp://bank.example.com/", True, None),
        ("not a url", True, None),
        ("https://" + "a" * 2000 + ".example/", False, None),
    ],
)
def test_a_webhook_url_is_absolute_https_without_credentials(
    url: str, allow_http: bool, host: str | None
) -> None:
    if host is not None:
        assert domain.webhook_host(url, allow_http=allow_http) == host
    else:
        with pytest.raises(InvalidArgument) as refused:
            domain.webhook_host(url, allow_http=allow_http)
        assert [v.field for v in refused.value.violations] == ["url"]


def test_retries_back_off_exponentially_to_ten_minutes() -> None:
    assert [domain.retry_delay(n, base_seconds=1.0) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert domain.retry_delay(30, base_seconds=1.0) == 600.0


def test_a_signed_delivery_verifies_and_any_change_does_not() -> None:
    secret = signatures.new_secret()
    body = b'{"id":"e1"}'
    now = int(time.time())
    headers = {
        "webhook-id": "e1",
        "webhook-timestamp": str(now),
        "webhook-signature": signatures.sign(secret, msg_id="e1", timestamp=now, body=body),
    }
    signatures.verify(secret, headers, body, now=now)
    # a rotating secret: several signatures, one of them right
    signatures.verify(
        secret,
        {**headers, "webhook-signature": "v1,AAAA " + headers["webhook-signature"]},
        body,
        now=now,
    )
    for changed, changed_body, at in (
        ({**headers, "webhook-id": "e2"}, body, now),
        (headers, body + b" ", now),
        (headers, body, now + 301),
        ({**headers, "webhook-timestamp": "soon"}, body, now),
        ({k: v for k, v in headers.items() if k != "webhook-signature"}, body, now),
    ):
        with pytest.raises(signatures.WebhookVerificationError):
            signatures.verify(secret, changed, changed_body, now=at)
    with pytest.raises(signatures.WebhookVerificationError):
        signatures.verify(signatures.new_secret(), headers, body, now=now)


def test_the_nats_users_file_keeps_the_platforms_users_and_the_partners(tmp_path: Path) -> None:
    path = str(tmp_path / "auth.conf")
    catalog = natsauth.User("catalog", "UCATALOG", {"publish": {"allow": ["x"]}})
    bank = natsauth.User("partner bank", "UBANK", domain.nats_permissions("bank"))
    assert natsauth.update(path, platform=[catalog])
    assert natsauth.update(path, partners=[bank])
    assert not natsauth.update(path, platform=[catalog])  # the same: no reload needed
    content = (tmp_path / "auth.conf").read_text()
    assert "UCATALOG" in content and "UBANK" in content and "password" not in content
    assert natsauth.load_users(path) == {"platform": [catalog], "partners": [bank]}
    assert natsauth.without_credentials("nats://smartcity:secret@127.0.0.1:4222") == (
        "nats://127.0.0.1:4222"
    )


def test_a_partner_user_with_a_platform_users_key_is_left_out_of_the_file(tmp_path: Path) -> None:
    path = str(tmp_path / "auth.conf")
    catalog = natsauth.User("catalog", "UCATALOG", {"publish": {"allow": ["x"]}})
    thief = natsauth.User("partner thief", "UCATALOG", domain.nats_permissions("thief"))
    natsauth.update(path, platform=[catalog], partners=[thief])
    # a key twice would make the server refuse the file; the platform's user keeps its rights
    assert (tmp_path / "auth.conf").read_text().count("UCATALOG") == 1
    assert natsauth.load_users(path) == {"platform": [catalog], "partners": []}
    assert natsauth.platform_keys(path) == {"UCATALOG"}
