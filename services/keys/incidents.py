"""Security incidents (Art. 38): reported, contained, the affected users notified (an event that
reaches them), reported to the authority (a document generated from the timeline, its SM3 digest
kept), closed. Stages follow one another; every step is in the timeline and the audit chain."""

from __future__ import annotations

import secrets

import sqlalchemy as sa

from runtime import algorithms, logs
from runtime.auth import Principal
from runtime.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from runtime.pagination import decode_cursor, encode_cursor, page_size
from runtime.service import ServiceRuntime
from runtime.storage import Migration, Reader, create_tables, now_us, timestamp
from runtime.unit_of_work import UnitOfWork
from services.keys.events import USERS_NOTIFIED
from smartcity.keys.v1 import events_pb2, keys_pb2

log = logs.get(__name__)

metadata = sa.MetaData()
incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(24), nullable=False, unique=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("severity", sa.Integer, nullable=False),
    sa.Column("stage", sa.Integer, nullable=False),
    sa.Column("affected_resources", sa.JSON, nullable=False),
    sa.Column("affected_subjects", sa.BigInteger, nullable=False),
    sa.Column("affected_account_ids", sa.JSON, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
)
steps = sa.Table(
    "incident_steps",
    metadata,
    sa.Column("incident_id", sa.String(24), primary_key=True),
    sa.Column("stage", sa.Integer, primary_key=True),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("actor_id", sa.String(64), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
)
MIGRATIONS = [Migration("keys-0004-incidents", create_tables(incidents, steps))]

REPORTED = int(keys_pb2.INCIDENT_STAGE_REPORTED)
CONTAINED = int(keys_pb2.INCIDENT_STAGE_CONTAINED)
NOTIFIED = int(keys_pb2.INCIDENT_STAGE_USERS_NOTIFIED)
AUTHORITY = int(keys_pb2.INCIDENT_STAGE_AUTHORITY_REPORTED)
CLOSED = int(keys_pb2.INCIDENT_STAGE_CLOSED)
MUST_REPORT = {int(keys_pb2.INCIDENT_SEVERITY_HIGH), int(keys_pb2.INCIDENT_SEVERITY_CRITICAL)}
MAX_ACCOUNTS = 100_000
_STAGE_NAMES = {
    v.number: v.name.removeprefix("INCIDENT_STAGE_").lower()
    for v in keys_pb2.IncidentStage.DESCRIPTOR.values
}
_SEVERITY_NAMES = {
    v.number: v.name.removeprefix("INCIDENT_SEVERITY_").lower()
    for v in keys_pb2.IncidentSeverity.DESCRIPTOR.values
}


def _name(stage: int) -> str:
    return _STAGE_NAMES.get(stage, "unknown")


def _severity(severity: int) -> str:
    return _SEVERITY_NAMES.get(severity, "unknown")


def next_stages(current: int, *, severity: int, affects_people: bool) -> set[int]:
    """The stages an incident may move to from `current`. People affected must be notified
    before anything is reported or closed; high and critical incidents must be reported to the
    authority before they close."""
    following: dict[int, set[int]] = {
        REPORTED: {CONTAINED},
        CONTAINED: {NOTIFIED} if affects_people else {AUTHORITY, CLOSED},
        NOTIFIED: {AUTHORITY, CLOSED},
        AUTHORITY: {CLOSED},
    }
    after = set(following.get(current, set()))
    if severity in MUST_REPORT and current != AUTHORITY:
        after.discard(CLOSED)
    return after


def _validate(incident: keys_pb2.Incident) -> None:
    violations: list[FieldViolation] = []
    if not incident.title.strip() or len(incident.title) > 200:
        violations.append(FieldViolation("incident.title", "is required, at most 200 characters"))
    if len(incident.description) > 20_000:
        violations.append(FieldViolation("incident.description", "is over 20,000 characters"))
    if incident.severity == keys_pb2.INCIDENT_SEVERITY_UNSPECIFIED:
        violations.append(
            FieldViolation("incident.severity", "must be low, medium, high or critical")
        )
    if incident.affected_subjects < 0:
        violations.append(FieldViolation("incident.affected_subjects", "cannot be negative"))
    if len(incident.affected_account_ids) > MAX_ACCOUNTS:
        violations.append(
            FieldViolation("incident.affected_account_ids", f"at most {MAX_ACCOUNTS}")
        )
    if violations:
        raise InvalidArgument(violations)


def report_text(incident: keys_pb2.Incident) -> str:
    """The report to the authority, from the incident's own record: what, how bad, who is
    affected, and what was done when, by whom."""
    lines = [
        f"# Security incident report: {incident.title}",
        "",
        f"- Incident: {incident.id}",
        f"- Severity: {_severity(incident.severity)}",
        f"- Stage: {_name(incident.stage)}",
        f"- Opened: {incident.create_time.ToDatetime().isoformat(timespec='seconds')} UTC",
        f"- Affected people: {incident.affected_subjects}",
        f"- Affected accounts notified: {len(incident.affected_account_ids)}",
        "- Affected resources: " + (", ".join(incident.affected_resources) or "none"),
        "",
        "## Description",
        "",
        incident.description or "(none given)",
        "",
        "## Timeline",
        "",
    ]
    for step in incident.timeline:
        when = step.time.ToDatetime().isoformat(timespec="seconds")
        lines.append(f"- {when} UTC, {_name(step.stage)}, by {step.actor_id}: {step.note}")
    return "\n".join(lines) + "\n"


class Incidents:
    def __init__(self, rt: ServiceRuntime) -> None:
        self._rt = rt

    async def _load(self, conn: Reader, incident_id: str) -> keys_pb2.Incident:
        row = (
            await conn.execute(sa.select(incidents).where(incidents.c.id == incident_id))
        ).first()
        if row is None:
            raise NotFound("incident", incident_id)
        timeline = await conn.execute(
            sa.select(steps).where(steps.c.incident_id == incident_id).order_by(steps.c.stage)
        )
        return keys_pb2.Incident(
            id=row.id,
            title=row.title,
            description=row.description,
            severity=row.severity,
            stage=row.stage,
            affected_resources=list(row.affected_resources),
            affected_subjects=row.affected_subjects,
            affected_account_ids=list(row.affected_account_ids),
            create_time=timestamp(row.created_us),
            timeline=[
                keys_pb2.IncidentStep(
                    stage=s.stage, time=timestamp(s.at_us), actor_id=s.actor_id, note=s.note
                )
                for s in timeline.all()
            ],
        )

    async def get(self, incident_id: str) -> keys_pb2.Incident:
        async with self._rt.db.read() as conn:
            return await self._load(conn, incident_id)

    async def list(self, request: keys_pb2.ListIncidentsRequest) -> keys_pb2.ListIncidentsResponse:
        before = decode_cursor(request.page_token)
        limit = page_size(request.page_size)
        query = sa.select(incidents.c.seq, incidents.c.id).order_by(incidents.c.seq.desc())
        if before:
            query = query.where(incidents.c.seq < before)
        async with self._rt.db.read() as conn:
            rows = list((await conn.execute(query.limit(limit + 1))).all())
            found = [await self._load(conn, r.id) for r in rows[:limit]]
        after = int(rows[limit - 1].seq) if len(rows) > limit else None
        return keys_pb2.ListIncidentsResponse(incidents=found, next_page_token=encode_cursor(after))

    async def report(self, incident: keys_pb2.Incident, principal: Principal) -> keys_pb2.Incident:
        _validate(incident)
        incident_id = secrets.token_hex(8)
        async with self._rt.unit_of_work() as uow:
            await uow.conn.execute(
                incidents.insert().values(
                    id=incident_id,
                    title=incident.title.strip(),
                    description=incident.description,
                    severity=incident.severity,
                    stage=REPORTED,
                    affected_resources=list(incident.affected_resources),
                    affected_subjects=incident.affected_subjects,
                    affected_account_ids=sorted(set(incident.affected_account_ids)),
                    created_us=now_us(),
                )
            )
            await self._step(uow, incident_id, REPORTED, principal, "incident reported")
        log.warning(
            "incident_reported", incident_id=incident_id, severity=_severity(incident.severity)
        )
        return await self.get(incident_id)

    async def _step(
        self, uow: UnitOfWork, incident_id: str, stage: int, principal: Principal, note: str
    ) -> None:
        await uow.conn.execute(
            steps.insert().values(
                incident_id=incident_id,
                stage=stage,
                at_us=now_us(),
                actor_id=principal.subject,
                note=note,
            )
        )
        await uow.audit(
            f"keys.incident.{_name(stage)}",
            principal=principal,
            resource_type="incident",
            resource_id=incident_id,
        )

    async def advance(
        self, request: keys_pb2.AdvanceIncidentRequest, principal: Principal
    ) -> keys_pb2.Incident:
        note = request.note.strip()
        if not note or len(note) > 5000:
            raise InvalidArgument.of("note", "say what was done: required, at most 5,000 chars")
        async with self._rt.unit_of_work() as uow:
            incident = await self._load(uow.conn, request.id)
            people = incident.affected_subjects > 0 or bool(incident.affected_account_ids)
            allowed = next_stages(incident.stage, severity=incident.severity, affects_people=people)
            if request.stage not in allowed:
                names = ", ".join(sorted(_name(s) for s in allowed)) or "nothing: it is closed"
                raise FailedPrecondition(
                    f"the incident is {_name(incident.stage)}: it can move to {names}"
                )
            if request.stage == NOTIFIED:
                await uow.publish(
                    USERS_NOTIFIED,
                    events_pb2.IncidentUsersNotified(
                        incident_id=incident.id,
                        account_ids=incident.affected_account_ids,
                        severity=_severity(incident.severity),
                    ),
                    entity_id=incident.id,
                )
            if request.stage == AUTHORITY:
                digest = algorithms.sm3(report_text(incident).encode()).hex()
                note = f"{note} (report SM3 {digest})"
            await uow.conn.execute(
                incidents.update().where(incidents.c.id == incident.id).values(stage=request.stage)
            )
            await self._step(uow, incident.id, request.stage, principal, note)
        log.warning("incident_advanced", incident_id=incident.id, stage=_name(request.stage))
        return await self.get(incident.id)

    async def report_document(self, incident_id: str) -> keys_pb2.GetIncidentReportResponse:
        text = report_text(await self.get(incident_id))
        return keys_pb2.GetIncidentReportResponse(
            report=text, sm3=algorithms.sm3(text.encode()).hex()
        )
