"""Interface services (接口服务, Art. 13, 38): a provider registers a query interface on a
resource; a consumer department with a grant and an interface authorisation code queries it.
The exchange enforces the grant, the code and its rate, and masks every returned field the grant
does not cover, so that those values never leave the service; each query is kept as evidence.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import grpc
import orjson
from opentelemetry import metrics
from sqlalchemy.exc import IntegrityError

from runtime import errors, grpcclient, logs
from runtime.auth import Principal
from runtime.authcodes import AuthorisationCodeChecker, Verified
from runtime.errors import AlreadyExists, DomainError, NotFound, PermissionDenied
from runtime.service import ServiceRuntime
from runtime.storage import now_us
from runtime.ttlcache import TtlCache
from services.exchange import domain, events, openapi, store
from services.exchange.evidence import EvidenceLog
from services.exchange.share_catalog import ShareCatalog
from smartcity.exchange.v1 import exchange_pb2 as pb
from smartcity.keys.v1 import keys_pb2, keys_pb2_grpc

log = logs.get(__name__)
CALL_TIMEOUT = 5.0
USES_REPORT_SECONDS = 10.0
# Registrations never change once made: their definitions can stay in memory.
INTERFACE_CACHE_SECONDS = 60.0
# A live grant is kept in memory this long; a revocation clears it at once on every replica
# (smartcity.exchange.grant.revoked), a new grant needs no clearing (misses are not kept).
GRANT_CACHE_SECONDS = 1.0


def code_checker(rt: ServiceRuntime) -> AuthorisationCodeChecker:
    """Codes verified by the keys service with the caller's own token, then served from memory;
    a revocation announced by the keys service reaches this replica within a second."""
    keys = keys_pb2_grpc.KeysServiceStub(grpcclient.channel(rt.settings.grpc_target("keys")))

    async def verify(secret: str, interface_service: str, principal: Principal) -> Verified:
        try:
            reply = await grpcclient.call(
                keys.VerifyAuthorisationCode,
                keys_pb2.VerifyAuthorisationCodeRequest(
                    secret=secret, interface_service=interface_service
                ),
                timeout=CALL_TIMEOUT,
                metadata=(("authorization", f"Bearer {principal.token}"),),
            )
        except grpc.aio.AioRpcError as exc:
            if (unavailable := errors.from_upstream(exc, service="keys")) is not None:
                raise unavailable from None
            status = errors.status_from_error(exc)
            raise PermissionDenied(
                f"the interface authorisation code is refused: {status.message}"
            ) from None
        return Verified(reply.id, reply.rate_limit_per_minute, reply.expire_time.seconds)

    checker = AuthorisationCodeChecker(verify)
    rt.signals.update(checker.signal_handlers())
    return checker


async def report_code_uses(rt: ServiceRuntime, checker: AuthorisationCodeChecker) -> None:
    """Tell the keys service how often each code was used, every few seconds (the checker
    counts uses in memory; a failed report is kept for the next one)."""
    keys = keys_pb2_grpc.KeysServiceStub(grpcclient.channel(rt.settings.grpc_target("keys")))

    async def report(uses: dict[str, int]) -> None:
        assert rt.credentials is not None
        await rt.credentials.call(
            keys.ReportAuthorisationCodeUses,
            keys_pb2.ReportAuthorisationCodeUsesRequest(uses=uses),
            timeout=CALL_TIMEOUT,
        )

    while True:
        await asyncio.sleep(USES_REPORT_SECONDS)
        if rt.credentials is None:
            continue
        try:
            await checker.report_uses(report)
        except Exception as exc:
            log.warning("code_uses_not_reported", error=type(exc).__name__)


_METER = metrics.get_meter("smartcity.exchange")
_QUERIES = _METER.create_counter(
    "smartcity.exchange.interface_queries", description="Interface service queries, by outcome"
)
_DURATION = _METER.create_histogram(
    "smartcity.exchange.interface_query.duration", unit="ms", description="Query latency"
)


class Interfaces:
    def __init__(
        self,
        rt: ServiceRuntime,
        *,
        catalog: ShareCatalog,
        checker: AuthorisationCodeChecker,
        evidence: EvidenceLog,
    ) -> None:
        self._rt = rt
        self._catalog = catalog
        self._checker = checker
        self._evidence = evidence
        self._definitions: TtlCache[str, pb.InterfaceService] = TtlCache(
            seconds=INTERFACE_CACHE_SECONDS, size=10_000
        )
        self._grants: TtlCache[tuple[str, str], pb.Grant] = TtlCache(
            seconds=GRANT_CACHE_SECONDS, size=100_000
        )
        rt.signals[events.GRANT_REVOKED.subject] = self._grant_revoked

    def forget_grants(self) -> None:
        """After a revocation: every grant is looked up again."""
        self._grants.clear()

    async def _grant_revoked(self, data: bytes) -> None:
        self.forget_grants()

    async def create(
        self, principal: Principal, service: pb.InterfaceService
    ) -> pb.InterfaceService:
        entry = await self._catalog.entry(service.resource_id)
        domain.authorise_interface(principal, entry)
        service.name = domain.interface_name(service.name, entry)
        domain.validate_interface(service, entry)
        service.provider_department = entry.provider_department
        try:
            async with self._rt.unit_of_work() as uow:
                await store.insert_interface(uow.conn, service)
                await uow.audit(
                    "exchange.interface_service.created",
                    principal=principal,
                    resource_type="interface_service",
                    resource_id=service.name,
                )
                created = await store.get_interface(uow.conn, service.name)
        except IntegrityError:
            raise AlreadyExists(f"an interface service named {service.name!r} exists") from None
        assert created is not None
        return created

    async def query(
        self, principal: Principal, request: pb.QueryInterfaceServiceRequest
    ) -> pb.QueryInterfaceServiceResponse:
        started = time.perf_counter()
        outcome = "error"
        try:
            answer = await self._query(principal, request)
            outcome = "ok"
            return answer
        except DomainError as exc:
            outcome = exc.reason.lower()
            raise
        finally:
            # per interface: counts, errors and latency (exported once a meter provider is set)
            # an unknown name is not a label value: callers choose it, and labels must stay few
            name = "unknown" if outcome == "not_found" else request.name
            labels = {"interface_service": name, "outcome": outcome}
            _QUERIES.add(1, labels)
            _DURATION.record((time.perf_counter() - started) * 1000, labels)

    async def _query(
        self, principal: Principal, request: pb.QueryInterfaceServiceRequest
    ) -> pb.QueryInterfaceServiceResponse:
        service = await self._definition(request.name)
        try:
            grant = await self._grant(principal, service)
            limit = domain.check_query(request, service, granted=grant.fields)
            await self._checker.check(request.authorisation_code, service.name, principal)
        except PermissionDenied:
            await self._rt.audit_denied(
                action="exchange.interface_service.queried",
                principal=principal,
                resource_type="interface_service",
                resource_id=service.name,
            )
            raise
        parameters = dict(request.parameters)
        async with self._rt.db.read() as conn:
            rows = await store.find_records(
                conn, service.resource_id, where=parameters, limit=limit
            )
        answered, masked = domain.mask(rows, returned=service.returned_fields, granted=grant.fields)
        evidence_id = str(uuid.uuid4())
        self._evidence.add(
            {
                "id": evidence_id,
                "interface_service": service.name,
                "resource_id": service.resource_id,
                "consumer": domain.consumer_of(principal),
                "provider_department": service.provider_department,
                "purpose": request.purpose.strip(),
                "request_hash": domain.request_hash(service.name, parameters),
                "result_count": len(answered),
                "at_us": now_us(),
            }
        )
        return pb.QueryInterfaceServiceResponse(
            records=[pb.Record(fields=row) for row in answered],
            masked_fields=masked,
            evidence_id=evidence_id,
        )

    async def openapi(self, name: str) -> str:
        service = await self._definition(name)
        entry = await self._catalog.entry(service.resource_id)
        document = openapi.describe(service, entry.data_items, server_url=self._rt.settings.issuer)
        return orjson.dumps(document).decode()

    async def _definition(self, name: str) -> pb.InterfaceService:
        if (cached := self._definitions.get(name)) is not None:
            return cached
        async with self._rt.db.read() as conn:
            found = await store.get_interface(conn, name)
        if found is None:
            raise NotFound("interface service", name[:100])
        self._definitions.put(name, found)
        return found

    async def _grant(self, principal: Principal, service: pb.InterfaceService) -> pb.Grant:
        key = (domain.consumer_of(principal), service.resource_id)
        now = now_us()
        grant = self._grants.get(key)
        if grant is None or not domain.grant_active(grant, now_s=now / 1_000_000):
            async with self._rt.db.read() as conn:
                grant = await store.active_grant(conn, consumer=key[0], resource_id=key[1], now=now)
            if grant is not None:
                self._grants.put(key, grant)
        if grant is None:
            raise PermissionDenied(
                "the caller holds no live grant of this interface's resource; "
                "ask for it with a share request"
            )
        return grant
