"""A service's own identity when it calls another service for itself (not on a user's behalf):
client credentials (client id = the service's name) traded with identity for an access token of
the `service` audience, renewed before it expires.

The secret comes from `SMARTCITY_SERVICE_SECRET` (an administrator creates the client with
`POST /office/v1/clients`, kind `service`). In the embedded mode, without one, it is derived from
the demo password, and identity's demo data creates the matching clients.

When the service cannot authenticate (its secret or account refused, its token refused by the
callee even after signing in again) the error says so and names the service
(`errors.ServiceUnauthenticated`); when identity does not answer, it names identity.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable

import grpc

from runtime import errors, grpcclient
from runtime.config import Settings
from runtime.grpcclient import Reply, Request
from runtime.rpc_types import UnaryMethod

# (client id, secret) -> (access token, seconds it lives)
Login = Callable[[str, str], Awaitable[tuple[str, int]]]
RENEW_BEFORE_SECONDS = 60
IDENTITY = "identity"


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
        """A live access token of this service; `errors.ServiceUnauthenticated` when identity
        refuses its credentials, `errors.UpstreamUnavailable` when identity does not answer."""
        if time.monotonic() < self._renew_at:
            return self._token
        async with self._lock:
            if time.monotonic() >= self._renew_at:
                try:
                    token, lifetime = await self._login(self._service, self._secret)
                except grpc.aio.AioRpcError as exc:
                    raise self._login_failed(exc) from None
                self._token = token
                self._renew_at = time.monotonic() + max(lifetime - RENEW_BEFORE_SECONDS, 1)
        return self._token

    def forget_token(self) -> None:
        """Sign in again at the next call (the callee refused the token: its session ended)."""
        self._renew_at = 0.0

    async def metadata(self) -> tuple[tuple[str, str], ...]:
        """gRPC metadata that authenticates the call as this service."""
        return (("authorization", f"Bearer {await self.token()}"),)

    async def call(
        self, method: UnaryMethod[Request, Reply], request: Request, *, timeout: float
    ) -> Reply:
        """Call `method` of another service as this service. A refused token (its session was
        ended) is replaced once; refused again, the call fails naming this service and the
        callee (`errors.ServiceUnauthenticated`). Any other failure is the callee's
        `grpc.aio.AioRpcError`, for the caller to map (`errors.from_upstream` first)."""
        try:
            return await self._call(method, request, timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
                raise
        self.forget_token()
        try:
            return await self._call(method, request, timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
                raise
            self.forget_token()
            callee = grpcclient.service_of(method) or "called"
            said = errors.status_from_error(exc).message
            raise errors.ServiceUnauthenticated(
                self._service, cause=f"the {callee} service refused its service token ({said})"
            ) from None

    async def _call(
        self, method: UnaryMethod[Request, Reply], request: Request, *, timeout: float
    ) -> Reply:
        metadata = await self.metadata()
        return await grpcclient.call(method, request, timeout=timeout, metadata=metadata)

    def _login_failed(self, exc: grpc.aio.AioRpcError) -> errors.DomainError:
        if exc.code() in errors.TRANSIENT:
            return errors.from_upstream(exc, service=IDENTITY) or errors.UpstreamUnavailable(
                IDENTITY
            )
        said = errors.status_from_error(exc).message or exc.code().name
        return errors.ServiceUnauthenticated(
            self._service, cause=f"{IDENTITY} refused its client credentials ({said})"
        )
