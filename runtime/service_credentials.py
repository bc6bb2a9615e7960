"""A service's own identity when it calls another service for itself (not on a user's behalf):
client credentials (client id = the service's name) traded with identity for an access token of
the `service` audience, renewed before it expires.

The secret comes from `SMARTCITY_SERVICE_SECRET` (an administrator creates the client with
`POST /office/v1/clients`, kind `service`). In the embedded mode, without one, it is derived from
the demo password, and identity's demo data creates the matching clients.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable

from runtime.config import Settings

# (client id, secret) -> (access token, seconds it lives)
Login = Callable[[str, str], Awaitable[tuple[str, int]]]
RENEW_BEFORE_SECONDS = 60


def demo_secret(demo_password: str, service: str) -> str:
    """The embedded mode's secret of a service client: derived, so both sides know it."""
    digest = hmac.new(
        demo_password.encode(), f"smartcity-service:{service}".encode(), hashlib.sha256
    )
    return digest.hexdigest()


def secret_for(settings: Settings, service: str) -> str | None:
    if settings.service_secret:
        return settings.service_secret
    return demo_secret(settings.demo_password, service) if settings.demo else None


class ServiceCredentials:
    def __init__(self, *, service: str, secret: str, login: Login) -> None:
        self._service = service
        self._secret = secret
        self._login = login
        self._token = ""
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        if time.monotonic() < self._renew_at:
            return self._token
        async with self._lock:
            if time.monotonic() >= self._renew_at:
                token, lifetime = await self._login(self._service, self._secret)
                self._token = token
                self._renew_at = time.monotonic() + max(lifetime - RENEW_BEFORE_SECONDS, 1)
        return self._token

    async def metadata(self) -> tuple[tuple[str, str], ...]:
        """gRPC metadata that authenticates the call as this service."""
        return (("authorization", f"Bearer {await self.token()}"),)
