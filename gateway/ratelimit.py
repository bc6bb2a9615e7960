"""Token buckets that slow password guessing and mass registration at the gateway.

Login is limited per client address and per account name, registration per client address.
State is in memory, per gateway process: it bounds guessing through one process; a deployment
with several replicas multiplies the allowance by their number.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web

from gateway.problems import Problem
from runtime.config import ConfigError

Clock = Callable[[], float]

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|min)\s*$")
_SECONDS = {"s": 1.0, "min": 60.0}


class RateLimiter:
    """Token buckets by key: `burst` requests at once, then `rate` per second.

    Keys are stored only as keyed hashes, so a memory dump shows no account names. Memory is
    bounded: beyond `max_keys` the least recently used buckets go, and those have had the longest
    to refill, so forgetting them costs the least.
    """

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        max_keys: int = 100_000,
        clock: Clock = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("rate must be positive, burst and max_keys at least 1")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        # Keyed per process: a dump cannot be matched against a list of likely user names.
        self._salt = secrets.token_bytes(16)
        # hashed key -> (tokens, time of last update), least recently used first
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _digest(self, key: str) -> bytes:
        return hashlib.blake2b(key.encode(), key=self._salt, digest_size=16).digest()

    def take(self, key: str) -> float:
        """Spend one token of `key`'s bucket: 0.0 when allowed, else the seconds to wait."""
        digest = self._digest(key)
        now = self._clock()
        tokens, last = self._buckets.pop(digest, (float(self.burst), now))
        # max(): a clock that steps back must not drain the bucket.
        tokens = min(float(self.burst), tokens + max(0.0, now - last) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[digest] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


def check(limiter: RateLimiter, key: str, *, what: str) -> None:
    """Raise 429 with `Retry-After` when `key` has no token left; `what` says what was limited,
    as in "login attempts from this client"."""
    wait = limiter.take(key)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise Problem(
            429,
            "Too many requests",
            f"too many {what}; retry after {seconds} second{'s' if seconds != 1 else ''}",
            headers={"Retry-After": str(seconds)},
        )


def client_address(request: web.Request, *, trust_forwarded_for: bool = False) -> str:
    """The address to limit a request by.

    `X-Forwarded-For` is anyone's to write: it counts only behind a proxy of our own, and then
    its last entry, the one that proxy appended. IPv6 clients are limited by their /64, which
    one subscriber usually holds whole.
    """
    address = request.remote or ""
    if trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        address = forwarded.rsplit(",", 1)[-1].strip() or address
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def parse_rate(variable: str, raw: str) -> tuple[float, int]:
    """A rate written "N/s" or "N/min" as (tokens per second, burst of N).

    Raises ConfigError (a ValueError) naming the variable.
    """
    match = _RATE.match(raw)
    if match is None or int(match.group(1)) < 1:
        raise ConfigError(
            f"{variable} must be a rate such as 5/min or 10/s (at least 1), got {raw!r}"
        )
    count = int(match.group(1))
    return count / _SECONDS[match.group(2)], count


def _limiter(
    environ: Mapping[str, str], variable: str, *, default: str, clock: Clock
) -> RateLimiter:
    rate, burst = parse_rate(variable, environ.get(variable) or default)
    return RateLimiter(rate=rate, burst=burst, clock=clock)


# Defaults for a government portal: a person mistyping a password never meets them; a script does.
LOGIN_PER_CLIENT = "30/min"
LOGIN_PER_ACCOUNT = "5/min"
REGISTER_PER_CLIENT = "5/min"


def _default(spec: str) -> Callable[[], RateLimiter]:
    return lambda: _limiter({}, "default", default=spec, clock=time.monotonic)


@dataclass(kw_only=True)
class LoginLimits:
    """The limits on signing in and registering that the gateway enforces before any upstream
    call: a guesser is slowed per address and, across addresses, per account."""

    login_per_client: RateLimiter = field(default_factory=_default(LOGIN_PER_CLIENT))
    login_per_account: RateLimiter = field(default_factory=_default(LOGIN_PER_ACCOUNT))
    register_per_client: RateLimiter = field(default_factory=_default(REGISTER_PER_CLIENT))
    trust_forwarded_for: bool = False

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str], *, clock: Clock = time.monotonic
    ) -> LoginLimits:
        """Defaults overridden by `SMARTCITY_RATE_LOGIN_PER_CLIENT`,
        `SMARTCITY_RATE_LOGIN_PER_ACCOUNT`, `SMARTCITY_RATE_REGISTER_PER_CLIENT` ("N/min" or
        "N/s") and `SMARTCITY_TRUST_FORWARDED_FOR` (true only behind the deployment's own proxy).
        """
        trust = (environ.get("SMARTCITY_TRUST_FORWARDED_FOR") or "false").lower()
        if trust not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            raise ConfigError(f"SMARTCITY_TRUST_FORWARDED_FOR must be true or false, got {trust!r}")
        return cls(
            login_per_client=_limiter(
                environ, "SMARTCITY_RATE_LOGIN_PER_CLIENT", default=LOGIN_PER_CLIENT, clock=clock
            ),
            login_per_account=_limiter(
                environ, "SMARTCITY_RATE_LOGIN_PER_ACCOUNT", default=LOGIN_PER_ACCOUNT, clock=clock
            ),
            register_per_client=_limiter(
                environ,
                "SMARTCITY_RATE_REGISTER_PER_CLIENT",
                default=REGISTER_PER_CLIENT,
                clock=clock,
            ),
            trust_forwarded_for=trust in ("true", "1", "yes", "on"),
        )

    def check_login(self, request: web.Request, account: str) -> None:
        """Raise 429 when this client or this account name has tried too often lately."""
        client = client_address(request, trust_forwarded_for=self.trust_forwarded_for)
        check(self.login_per_client, client, what="login attempts from this client")
        # Case-folded: "Alice" and "alice" must not be two budgets for one account.
        check(self.login_per_account, account.casefold(), what="login attempts for this account")

    def check_address(self, request: web.Request) -> None:
        """Raise 429 when this client has tried too often lately, whatever name it tried."""
        client = client_address(request, trust_forwarded_for=self.trust_forwarded_for)
        check(self.login_per_client, client, what="login attempts from this client")

    def check_registration(self, request: web.Request) -> None:
        """Raise 429 when this client has registered too often lately."""
        client = client_address(request, trust_forwarded_for=self.trust_forwarded_for)
        check(self.register_per_client, client, what="registrations from this client")
