"""Checking interface authorisation codes on the hot path (the exchange checks one per call).

The keys service verifies a code once per consumer and interface service; after that the answer
is served from memory until the code expires, the cache entry ages out, or the keys service
announces the code's revocation on `AUTHORISATION_CODE_REVOKED_SUBJECT`: every replica following
that subject drops it within a second. Uses are counted in memory and reported in batches, and
each code's rate limit is enforced here, per replica.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from runtime.auth import PARTNER, Principal
from runtime.bus import contracts
from runtime.errors import ResourceExhausted
from smartcity.keys.v1 import events_pb2 as keys_events

AUTHORISATION_CODE_REVOKED_SUBJECT = contracts.event_type(
    keys_events.AuthorisationCodeRevoked
).subject


@dataclass(frozen=True)
class Verified:
    """What the keys service said of a code: its id, rate limit and expiry (epoch seconds)."""

    code_id: str
    rate_limit_per_minute: int
    expires_at: float


# (code, interface service, principal) -> Verified, or raises the keys service's refusal.
Verifier = Callable[[str, str, Principal], Awaitable[Verified]]
UsesReporter = Callable[[dict[str, int]], Awaitable[None]]


@dataclass
class _Bucket:
    tokens: float
    updated: float


class AuthorisationCodeChecker:
    def __init__(
        self,
        verify: Verifier,
        *,
        cache_seconds: float = 60.0,
        cache_size: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._verify = verify
        self._cache_seconds = cache_seconds
        self._cache_size = cache_size
        self._clock = clock
        # hash of (code, service, consumer) -> (verified, cached at)
        self._cache: OrderedDict[bytes, tuple[Verified, float]] = OrderedDict()
        self._buckets: dict[str, _Bucket] = {}
        self._uses: dict[str, int] = {}

    @staticmethod
    def _key(secret: str, interface_service: str, principal: Principal) -> bytes:
        consumer = principal.client if principal.kind == PARTNER else principal.department
        return hashlib.sha256(f"{secret}\0{interface_service}\0{consumer}".encode()).digest()

    async def check(self, secret: str, interface_service: str, principal: Principal) -> str:
        """The code's id if it opens `interface_service` for this caller now; else the keys
        service's refusal (PermissionDenied naming why), or ResourceExhausted past the rate."""
        key = self._key(secret, interface_service, principal)
        now = self._clock()
        cached = self._cache.get(key)
        if (
            cached is None
            or now - cached[1] > self._cache_seconds
            or cached[0].expires_at <= time.time()
        ):
            verified = await self._verify(secret, interface_service, principal)
            self._cache[key] = (verified, now)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            verified = cached[0]
            # Counted here: a cache miss was counted by the keys service itself.
            self._uses[verified.code_id] = self._uses.get(verified.code_id, 0) + 1
        self._take(verified, now)
        return verified.code_id

    def _take(self, verified: Verified, now: float) -> None:
        rate = verified.rate_limit_per_minute / 60.0
        burst = float(verified.rate_limit_per_minute)
        bucket = self._buckets.get(verified.code_id)
        if bucket is None:
            bucket = self._buckets[verified.code_id] = _Bucket(burst, now)
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens < 1.0:
            wait = int((1.0 - bucket.tokens) / rate) + 1
            raise ResourceExhausted(
                "the authorisation code's rate limit is reached", retry_after=wait
            )
        bucket.tokens -= 1.0

    def revoke(self, code_id: str) -> None:
        """Drop every cached answer for this code (revoked, or its secret replaced)."""
        for key in [k for k, (v, _) in self._cache.items() if v.code_id == code_id]:
            del self._cache[key]

    def signal_handlers(self) -> dict[str, Callable[[bytes], Awaitable[None]]]:
        """Follow the keys service's revocations (payload: `AuthorisationCodeRevoked`)."""

        async def revoked(data: bytes) -> None:
            from smartcity.keys.v1 import events_pb2

            event = events_pb2.AuthorisationCodeRevoked()
            event.ParseFromString(data)
            self.revoke(event.id)

        return {AUTHORISATION_CODE_REVOKED_SUBJECT: revoked}

    async def report_uses(self, report: UsesReporter) -> int:
        """Hand the uses counted since the last report to `report`; kept if it fails."""
        uses, self._uses = self._uses, {}
        if not uses:
            return 0
        try:
            await report(uses)
        except Exception:
            for code_id, count in uses.items():
                self._uses[code_id] = self._uses.get(code_id, 0) + count
            raise
        return sum(uses.values())
