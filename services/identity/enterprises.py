"""Enterprises (legal persons, identified by the unified social credit code, GB 32100) and the
citizens who act for them: the legal representative registers the enterprise and authorises and
withdraws agents; withdrawing one ends their sessions for the enterprise at once."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError

from runtime import identifiers, logs
from runtime.auth import Principal
from runtime.errors import (
    AlreadyExists,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from runtime.service import ServiceRuntime
from runtime.storage import timestamp
from services.identity import domain, store
from services.identity.personal import PersonalData
from services.identity.sessions import Sessions
from smartcity.identity.v1 import identity_pb2

log = logs.get(__name__)

CREDIT_CODE = "credit_code"


class Enterprises:
    def __init__(self, rt: ServiceRuntime, personal: PersonalData, sessions: Sessions) -> None:
        self._rt = rt
        self._personal = personal
        self._sessions = sessions

    async def _represented(self, principal: Principal, enterprise_id: str) -> store.Row:
        """The enterprise, if the caller is its legal representative (acting as themselves)."""
        async with self._rt.db.read() as conn:
            row = await store.enterprise_row(conn, enterprise_id) if enterprise_id else None
        if row is None:
            raise NotFound("enterprise", enterprise_id)
        if row.legal_representative_id != principal.subject or principal.enterprise:
            raise PermissionDenied("only the enterprise's legal representative manages its agents")
        return row

    async def register_enterprise(
        self, request: identity_pb2.RegisterEnterpriseRequest, principal: Principal
    ) -> identity_pb2.RegisterEnterpriseResponse:
        violations: list[FieldViolation] = []
        try:
            code = identifiers.parse_credit_code(request.credit_code).code
        except identifiers.IdentifierError as exc:
            violations.append(FieldViolation("credit_code", exc.reason, exc.rule))
        name = request.name.strip()
        if not name or len(name) > 200:
            violations.append(FieldViolation("name", "is required, at most 200 characters"))
        if violations:
            raise InvalidArgument(violations)
        enterprise_id = str(uuid.uuid4())
        code_hash = self._personal.identity_number_hash(code, kind=CREDIT_CODE)
        try:
            async with self._rt.db.begin() as conn:
                if await store.credit_code_registered(conn, code_hash):
                    raise AlreadyExists("an enterprise with this credit code is already registered")
                await store.add_enterprise(
                    conn,
                    id=enterprise_id,
                    credit_code_hash=code_hash,
                    credit_code_sealed=self._personal.seal_identity_number(
                        code, kind=CREDIT_CODE, owner=enterprise_id
                    ),
                    name=name,
                    legal_representative_id=principal.subject,
                )
                row = await store.enterprise_row(conn, enterprise_id)
        except IntegrityError:
            raise AlreadyExists(
                "an enterprise with this credit code is already registered"
            ) from None
        log.info("enterprise_registered", enterprise_id=enterprise_id, by=principal.subject)
        if row is None:
            raise NotFound("enterprise", enterprise_id)
        # as stored, and as the representative's list of enterprises shows it
        return identity_pb2.RegisterEnterpriseResponse(
            enterprise=self._message(row, relation="legal_representative")
        )

    async def list_my_enterprises(
        self, request: identity_pb2.ListMyEnterprisesRequest, principal: Principal
    ) -> identity_pb2.ListMyEnterprisesResponse:
        async with self._rt.db.read() as conn:
            found = await store.enterprises_of(conn, principal.subject)
        return identity_pb2.ListMyEnterprisesResponse(
            enterprises=[self._message(row, relation=relation) for row, relation in found]
        )

    def _message(self, row: store.Row, *, relation: str) -> identity_pb2.Enterprise:
        return identity_pb2.Enterprise(
            id=row.id,
            credit_code=self._personal.open_identity_number(
                row.credit_code_sealed, kind=CREDIT_CODE, owner=row.id
            ),
            name=row.name,
            relation=relation,
            create_time=timestamp(row.created_us),
        )

    async def authorise_agent(
        self, request: identity_pb2.AuthoriseAgentRequest, principal: Principal
    ) -> identity_pb2.AuthoriseAgentResponse:
        enterprise = await self._represented(principal, request.enterprise_id)
        async with self._rt.db.read() as conn:
            agent_row = await store.account_row(conn, username=request.agent_username)
        agent = store.account_from_row(agent_row) if agent_row is not None else None
        if agent is None or agent.kind != domain.CITIZEN:
            raise InvalidArgument.of("agent_username", "is not a citizen account")
        if agent.id == principal.subject:
            raise InvalidArgument.of(
                "agent_username", "the legal representative acts for it already"
            )
        async with self._rt.db.begin() as conn:
            added = await store.add_agent(
                conn,
                enterprise_id=enterprise.id,
                account_id=agent.id,
                authorised_by=principal.subject,
            )
        if not added:
            raise AlreadyExists("the account is already an agent of this enterprise")
        log.info("agent_authorised", enterprise_id=enterprise.id, agent_id=agent.id)
        return identity_pb2.AuthoriseAgentResponse(agent_id=agent.id)

    async def revoke_agent(
        self, request: identity_pb2.RevokeAgentRequest, principal: Principal
    ) -> identity_pb2.RevokeAgentResponse:
        enterprise = await self._represented(principal, request.enterprise_id)
        async with self._rt.db.begin() as conn:
            removed = await store.remove_agent(
                conn, enterprise_id=enterprise.id, account_id=request.agent_id
            )
        if not removed:
            raise NotFound("agent", request.agent_id)
        await self._sessions.end_all(
            request.agent_id, reason="agent_revoked", enterprise_id=enterprise.id
        )
        log.info("agent_revoked", enterprise_id=enterprise.id, agent_id=request.agent_id)
        return identity_pb2.RevokeAgentResponse()
