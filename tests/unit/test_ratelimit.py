"""Token-bucket limits on login and registration, with a clock the test turns by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import observe
from gateway.problems import Problem
from gateway.ratelimit import LoginLimits, RateLimiter, check, client_address, parse_rate


@dataclass
class HandClock:
    """A second clock implementation: time moves only when the test says so."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- the bucket ---------------------------------------------------------------------------


def test_burst_is_allowed_then_the_next_request_waits_for_one_token() -> None:
    clock = HandClock()
    limiter = RateLimiter(rate=5 / 60, burst=5, clock=clock)
    assert [limiter.take("alice") for _ in range(5)] == [0.0] * 5
    assert limiter.take("alice") == pytest.approx(12.0)


def test_tokens_refill_with_time_up_to_the_burst() -> None:
    clock = HandClock()
    limiter = RateLimiter(rate=1.0, burst=3, clock=clock)
    for _ in range(3):
        limiter.take("k")
    assert limiter.take("k") == pytest.approx(1.0)
    clock.advance(0.5)
    assert limiter.take("k") == pytest.approx(0.5)
    clock.advance(0.5)
    assert limiter.take("k") == 0.0
    clock.advance(3600)  # a long rest refills to the burst, no further
    assert [limiter.take("k") for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(1.0)]


def test_refused_requests_do_not_spend_tokens() -> None:
    clock = HandClock()
    limiter = RateLimiter(rate=1.0, burst=1, clock=clock)
    limiter.take("k")
    for _ in range(10):
        assert limiter.take("k") > 0
    clock.advance(1.0)
    assert limiter.take("k") == 0.0


def test_keys_have_separate_buckets() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, clock=HandClock())
    assert limiter.take("alice") == 0.0
    assert limiter.take("bob") == 0.0
    assert limiter.take("alice") > 0


def test_a_clock_stepping_back_does_not_drain_or_fill_the_bucket() -> None:
    clock = HandClock()
    limiter = RateLimiter(rate=1.0, burst=2, clock=clock)
    limiter.take("k")
    clock.advance(-100)
    assert limiter.take("k") == 0.0
    assert limiter.take("k") > 0


def test_memory_is_bounded_by_evicting_the_least_recently_used_keys() -> None:
    limiter = RateLimiter(rate=1 / 60, burst=1, max_keys=3, clock=HandClock())
    for name in ("a", "b", "c"):
        limiter.take(name)
    limiter.take("a")  # refused, and now the most recently used
    for name in ("d", "e"):
        limiter.take(name)
    assert len(limiter) == 3
    assert limiter.take("a") > 0  # kept
    assert limiter.take("b") == 0.0  # forgotten: a fresh bucket


def test_account_names_are_not_kept_in_memory() -> None:
    limiter = RateLimiter(rate=1.0, burst=1)
    limiter.take("zhang.wei@haikou.example")
    assert "zhang.wei" not in repr(vars(limiter))


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_a_limiter_that_could_never_allow_is_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate=rate, burst=burst)


# --- the 429 problem ----------------------------------------------------------------------


def test_check_raises_429_with_retry_after_rounded_up() -> None:
    clock = HandClock()
    limiter = RateLimiter(rate=5 / 60, burst=5, clock=clock)
    for _ in range(5):
        check(limiter, "alice", what="login attempts for this account")
    clock.advance(0.5)
    with pytest.raises(Problem) as raised:
        check(limiter, "alice", what="login attempts for this account")
    problem = raised.value
    assert problem.status_code == 429
    assert problem.title == "Too many requests"
    assert problem.headers["Retry-After"] == "12"  # 11.5 s, rounded up
    assert problem.detail == ("too many login attempts for this account; retry after 12 seconds")


def test_retry_after_is_at_least_one_second() -> None:
    clock = HandClock()
    limiter = RateLimiter(rate=1000.0, burst=1, clock=clock)
    check(limiter, "k", what="requests")
    with pytest.raises(Problem) as raised:
        check(limiter, "k", what="requests")
    assert raised.value.headers["Retry-After"] == "1"
    assert raised.value.detail.endswith("retry after 1 second")


# --- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "rate", "burst"),
    [("5/min", 5 / 60, 5), ("10/s", 10.0, 10), (" 30 / min ", 0.5, 30), ("1000/s", 1000.0, 1000)],
)
def test_rates_are_written_per_second_or_per_minute(raw: str, rate: float, burst: int) -> None:
    assert parse_rate("SMARTCITY_RATE_LOGIN_PER_CLIENT", raw) == (pytest.approx(rate), burst)


@pytest.mark.parametrize(
    "variable",
    [
        "SMARTCITY_RATE_LOGIN_PER_CLIENT",
        "SMARTCITY_RATE_LOGIN_PER_ACCOUNT",
        "SMARTCITY_RATE_REGISTER_PER_CLIENT",
    ],
)
@pytest.mark.parametrize("raw", ["5", "5/hour", "0/s", "-1/s", "five/min", "1.5/s"])
def test_malformed_rate_is_refused_naming_the_variable(variable: str, raw: str) -> None:
    with pytest.raises(ValueError, match=variable) as raised:
        LoginLimits.from_environ({variable: raw})
    assert repr(raw) in str(raised.value)


def test_defaults_suit_a_government_portal() -> None:
    limits = LoginLimits.from_environ({})
    assert (limits.login_per_client.rate * 60, limits.login_per_client.burst) == (30, 30)
    assert (limits.login_per_account.rate * 60, limits.login_per_account.burst) == (5, 5)
    assert (limits.register_per_client.rate * 60, limits.register_per_client.burst) == (5, 5)
    assert limits.trust_forwarded_for is False
    assert LoginLimits().login_per_account.burst == 5


def test_tests_can_relax_the_limits() -> None:
    limits = LoginLimits.from_environ(
        {
            "SMARTCITY_RATE_LOGIN_PER_CLIENT": "10000/s",
            "SMARTCITY_RATE_LOGIN_PER_ACCOUNT": "10000/s",
            "SMARTCITY_RATE_REGISTER_PER_CLIENT": "10000/s",
        }
    )
    assert all(limits.login_per_client.take("127.0.0.1") == 0.0 for _ in range(1000))


def test_trusting_forwarded_for_is_a_boolean_setting() -> None:
    assert LoginLimits.from_environ({"SMARTCITY_TRUST_FORWARDED_FOR": "true"}).trust_forwarded_for
    with pytest.raises(ValueError, match="SMARTCITY_TRUST_FORWARDED_FOR"):
        LoginLimits.from_environ({"SMARTCITY_TRUST_FORWARDED_FOR": "sometimes"})


# --- through a real server ----------------------------------------------------------------


@asynccontextmanager
async def gateway(limits: LoginLimits) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async def login(request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        limits.check_login(request, body["username"])
        return web.json_response({"access_token": "t"})

    async def register(request: web.Request) -> web.StreamResponse:
        limits.check_registration(request)
        return web.json_response({}, status=201)

    async def address(request: web.Request) -> web.StreamResponse:
        # Request.clone gives the real request another peer, as a second client would have.
        peer = request.clone(remote=request.query["peer"])
        key = client_address(peer, trust_forwarded_for=limits.trust_forwarded_for)
        return web.json_response({"key": key})

    app = web.Application(middlewares=[observe])
    app.router.add_post("/office/v1/login", login)
    app.router.add_post("/public/v1/registrations", register)
    app.router.add_get("/address", address)
    async with TestClient(TestServer(app)) as client:
        yield client


def limits(*, trust_forwarded_for: bool = False, clock: HandClock | None = None) -> LoginLimits:
    clock = clock or HandClock()
    return LoginLimits(
        login_per_client=RateLimiter(rate=3 / 60, burst=3, clock=clock),
        login_per_account=RateLimiter(rate=2 / 60, burst=2, clock=clock),
        register_per_client=RateLimiter(rate=2 / 60, burst=2, clock=clock),
        trust_forwarded_for=trust_forwarded_for,
    )


async def test_login_beyond_the_client_limit_gets_429_with_retry_after() -> None:
    async with gateway(limits()) as client:
        for name in ("a", "b", "c"):
            response = await client.post("/office/v1/login", json={"username": name})
            assert response.status == 200
        response = await client.post("/office/v1/login", json={"username": "d"})
        assert response.status == 429
        assert response.content_type == "application/problem+json"
        assert response.headers["Retry-After"] == "20"
        problem = orjson.loads(await response.read())
        assert problem["detail"] == (
            "too many login attempts from this client; retry after 20 seconds"
        )


async def test_forwarded_for_is_ignored_unless_trusted() -> None:
    async with gateway(limits()) as client:
        statuses = [
            (
                await client.post(
                    "/office/v1/login",
                    json={"username": f"user{i}"},
                    headers={"X-Forwarded-For": f"203.0.113.{i}"},
                )
            ).status
            for i in range(4)
        ]
        assert statuses == [200, 200, 200, 429]


async def test_trusted_forwarded_for_limits_by_the_address_our_proxy_appended() -> None:
    async with gateway(limits(trust_forwarded_for=True)) as client:
        statuses = [
            (
                await client.post(
                    "/office/v1/login",
                    json={"username": f"user{i}"},
                    # the first entry is the client's to forge; the last is our proxy's
                    headers={"X-Forwarded-For": f"198.51.100.7, 203.0.113.{i}"},
                )
            ).status
            for i in range(5)
        ]
        assert statuses == [200] * 5


async def test_one_account_is_limited_across_clients() -> None:
    async with gateway(limits(trust_forwarded_for=True)) as client:
        statuses = []
        for i, name in enumerate(("Alice", "alice", "ALICE")):
            response = await client.post(
                "/office/v1/login",
                json={"username": name},
                headers={"X-Forwarded-For": f"203.0.113.{i}"},
            )
            statuses.append(response.status)
        assert statuses == [200, 200, 429]
        problem = orjson.loads(await response.read())
        assert problem["detail"].startswith("too many login attempts for this account;")


async def test_registration_is_limited_per_client() -> None:
    clock = HandClock()
    async with gateway(limits(clock=clock)) as client:
        statuses = [(await client.post("/public/v1/registrations")).status for _ in range(3)]
        assert statuses == [201, 201, 429]
        clock.advance(30)
        assert (await client.post("/public/v1/registrations")).status == 201


@pytest.mark.parametrize(
    ("peer", "key"),
    [
        ("192.0.2.10", "192.0.2.10"),
        ("::ffff:192.0.2.10", "192.0.2.10"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
    ],
)
async def test_clients_are_keyed_by_address_and_ipv6_by_its_64(peer: str, key: str) -> None:
    async with gateway(limits()) as client:
        response = await client.get("/address", params={"peer": peer})
        assert orjson.loads(await response.read()) == {"key": key}
