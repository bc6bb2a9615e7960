"""Catalog tables and queries.

- `resources`: the working copy of each resource (its content as a protobuf body, plus the
  columns queries filter on); `resource_versions`: the content of every version, for diffs;
  `transitions`: the lifecycle history.
- `catalog_entries`: the version listed in the share and/or open catalog, ready to serve, with
  `search_terms` (term, entry, weight) as its full-text index: one code path on both engines.
- `demands`: the public's demands for open data; `data_refreshes` and `share_requests`: facts
  learnt from the exchange's events, for the scorecards.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from runtime.storage import (
    SEQUENCE,
    Migration,
    Reader,
    add_missing_columns,
    create_tables,
    now_us,
    page,
    page_newest_first,
    timestamp,
)
from services.catalog import domain, search
from smartcity.catalog.v1 import catalog_pb2 as pb

metadata = sa.MetaData()
_TERM = sa.String(search.MAX_TERM).with_variant(
    sa.String(search.MAX_TERM, collation="C"), "postgresql"
)

resources = sa.Table(
    "resources",
    metadata,
    # seq orders pages and is the cursor; id is what clients see.
    sa.Column("seq", SEQUENCE, primary_key=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("code", sa.String(40), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("provider_department", sa.String(20), nullable=False, index=True),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("share_type", sa.SmallInteger, nullable=False),
    sa.Column("open_type", sa.SmallInteger, nullable=False),
    sa.Column("update_cycle", sa.SmallInteger, nullable=False),
    sa.Column("data_grade", sa.SmallInteger, nullable=False),
    sa.Column("data_items", sa.JSON, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(36), nullable=False),
    # Idempotency: a retried create with the same request id returns the first result.
    sa.Column("request_id", sa.String(100), unique=True),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("updated_us", sa.BigInteger, nullable=False),
    # since catalog-0002: the lifecycle and the full content
    sa.Column("state", sa.SmallInteger, nullable=False, server_default="1"),
    sa.Column("body", sa.LargeBinary),
    sa.Column("classification", sa.String(6)),
    sa.Column("published_version", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("in_share", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("in_open", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("publish_us", sa.BigInteger),
    sa.Column("completeness", sa.Float, nullable=False, server_default="0"),
)

resource_versions = sa.Table(
    "resource_versions",
    metadata,
    sa.Column("resource_id", sa.String(36), primary_key=True),
    sa.Column("version", sa.BigInteger, primary_key=True),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("updated_us", sa.BigInteger, nullable=False),
)

transitions = sa.Table(
    "transitions",
    metadata,
    sa.Column("seq", SEQUENCE, primary_key=True),
    sa.Column("resource_id", sa.String(36), nullable=False, index=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("from_state", sa.SmallInteger, nullable=False),
    sa.Column("to_state", sa.SmallInteger, nullable=False),
    sa.Column("actor_department", sa.String(20), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("at_us", sa.BigInteger, nullable=False),
)

catalog_entries = sa.Table(
    "catalog_entries",
    metadata,
    # the resource's seq: one entry per resource, the listed version
    sa.Column("seq", SEQUENCE, primary_key=True, autoincrement=False),
    sa.Column("resource_id", sa.String(36), nullable=False, unique=True),
    sa.Column("provider_department", sa.String(20), nullable=False),
    sa.Column("classification", sa.String(6), nullable=False),
    sa.Column("share_type", sa.SmallInteger, nullable=False),
    sa.Column("open_type", sa.SmallInteger, nullable=False),
    sa.Column("update_cycle", sa.SmallInteger, nullable=False),
    sa.Column("data_grade", sa.SmallInteger, nullable=False),
    sa.Column("in_share", sa.Boolean, nullable=False),
    sa.Column("in_open", sa.Boolean, nullable=False),
    sa.Column("published_us", sa.BigInteger, nullable=False),
    # the listed version as the contract's Resource message, served as is (brief: without its
    # data items, for the BASIC view of searches)
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("brief", sa.LargeBinary, nullable=False),
    sa.Index("catalog_entries_open", "in_open", "published_us"),
    sa.Index("catalog_entries_share", "in_share", "published_us"),
)

search_terms = sa.Table(
    "search_terms",
    metadata,
    sa.Column("term", _TERM, primary_key=True),
    sa.Column("seq", SEQUENCE, primary_key=True, autoincrement=False),
    sa.Column("weight", sa.SmallInteger, nullable=False),
    sa.Index("search_terms_seq", "seq"),
    # one term's best matches first, read straight off the index
    sa.Index("search_terms_rank", "term", "weight", "seq"),
)

demands = sa.Table(
    "demands",
    metadata,
    sa.Column("seq", SEQUENCE, primary_key=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("suggested_department", sa.String(20), nullable=False),
    sa.Column("state", sa.SmallInteger, nullable=False),
    sa.Column("department", sa.String(20), nullable=False, index=True),
    sa.Column("due_us", sa.BigInteger),
    sa.Column("outcome", sa.SmallInteger, nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("resource_id", sa.String(36), nullable=False),
    # the account that asked: only ever compared with the caller, never shown
    sa.Column("requester", sa.String(36), nullable=False, index=True),
    sa.Column("requester_kind", sa.String(20), nullable=False),
    sa.Column("request_id", sa.String(140), unique=True),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("routed_us", sa.BigInteger),
    sa.Column("answer_us", sa.BigInteger),
)

data_refreshes = sa.Table(
    "data_refreshes",
    metadata,
    sa.Column("resource_id", sa.String(36), primary_key=True),
    sa.Column("provider_department", sa.String(20), nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("updated_us", sa.BigInteger, nullable=False),
)

share_requests = sa.Table(
    "share_requests",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("provider_department", sa.String(20), nullable=False, index=True),
    sa.Column("submitted_us", sa.BigInteger, nullable=False),
    sa.Column("decided_us", sa.BigInteger),
    sa.Column("outcome", sa.SmallInteger, nullable=False),
    sa.Column("late", sa.Boolean, nullable=False),
)


def _upgrade_resources(conn: Connection) -> None:
    """Resources registered before the lifecycle existed become drafts with their content kept;
    their department completes the new mandatory metadata before submitting them."""
    add_missing_columns(resources)(conn)
    for row in conn.execute(sa.select(resources).where(resources.c.body.is_(None))).all():
        m = row._mapping
        content = pb.Resource(
            name=m["name"],
            provider_department=m["provider_department"],
            summary=m["summary"],
            share_type=m["share_type"],
            open_type=m["open_type"],
            update_cycle=m["update_cycle"],
            data_grade=m["data_grade"],
            data_items=[pb.DataItem(**item) for item in m["data_items"]],
        )
        conn.execute(
            resources.update()
            .where(resources.c.seq == m["seq"])
            .values(body=content.SerializeToString(), state=domain.DRAFT)
        )


MIGRATIONS = [
    # A fresh database gets the whole table at once; 0002 then finds nothing to add.
    Migration("catalog-0001-resources", create_tables(resources)),
    Migration("catalog-0002-lifecycle", _upgrade_resources),
    Migration(
        "catalog-0003-catalogs-demands-scorecards",
        create_tables(
            resource_versions,
            transitions,
            catalog_entries,
            search_terms,
            demands,
            data_refreshes,
            share_requests,
        ),
    ),
]


# --- resources ---------------------------------------------------------------------------------


def _resource(m: Any) -> pb.Resource:
    out = pb.Resource.FromString(m["body"])
    out.id = m["id"]
    out.code = m["code"]
    out.version = m["version"]
    out.state = m["state"]
    out.published_version = m["published_version"]
    out.in_share_catalog = bool(m["in_share"])
    out.in_open_catalog = bool(m["in_open"])
    out.create_time.CopyFrom(timestamp(m["created_us"]))
    out.update_time.CopyFrom(timestamp(m["updated_us"]))
    if m["publish_us"] is not None:
        out.publish_time.CopyFrom(timestamp(m["publish_us"]))
    return out


def _content_columns(content: pb.Resource) -> dict[str, Any]:
    return {
        "name": content.name,
        "provider_department": content.provider_department,
        "summary": content.summary,
        "share_type": content.share_type,
        "open_type": content.open_type,
        "update_cycle": content.update_cycle,
        "data_grade": content.data_grade,
        # kept for the columns' NOT NULL; the body is the source of truth
        "data_items": [{"name": i.name, "type": i.type} for i in content.data_items],
        "classification": domain.classification_code(content.classification),
        "body": content.SerializeToString(),
        "completeness": domain.completeness(content),
    }


async def next_code(conn: AsyncConnection, classification: pb.Classification) -> str:
    """The next free resource code in a classification (the caller retries on a race)."""
    prefix = domain.classification_code(classification)
    last = await conn.scalar(
        sa.select(sa.func.max(resources.c.code)).where(resources.c.code.like(f"{prefix}/%"))
    )
    sequence = int(last.rsplit("/", 1)[1]) + 1 if last else 1
    return domain.resource_code(classification, sequence)


async def insert_resource(
    conn: AsyncConnection,
    content: pb.Resource,
    *,
    resource_id: str,
    code: str,
    created_by: str,
    request_id: str | None,
) -> pb.Resource:
    now = now_us()
    await conn.execute(
        resources.insert().values(
            id=resource_id,
            code=code,
            version=1,
            state=domain.DRAFT,
            created_by=created_by,
            request_id=request_id,
            created_us=now,
            updated_us=now,
            **_content_columns(content),
        )
    )
    await save_version(conn, resource_id, 1, content)
    created = await get_resource(conn, resource_id)
    assert created is not None
    return created


async def update_content(
    conn: AsyncConnection, resource_id: str, content: pb.Resource, *, version: int, state: int
) -> pb.Resource:
    await conn.execute(
        resources.update()
        .where(resources.c.id == resource_id)
        .values(version=version, state=state, updated_us=now_us(), **_content_columns(content))
    )
    await save_version(conn, resource_id, version, content)
    updated = await get_resource(conn, resource_id)
    assert updated is not None
    return updated


async def save_version(
    conn: AsyncConnection, resource_id: str, version: int, content: pb.Resource
) -> None:
    """The content of `version`: a draft's edits overwrite it until the next version starts."""
    values = {"body": content.SerializeToString(), "updated_us": now_us()}
    key = (resource_versions.c.resource_id == resource_id) & (
        resource_versions.c.version == version
    )
    done = await conn.execute(resource_versions.update().where(key).values(**values))
    if done.rowcount == 0:
        await conn.execute(
            resource_versions.insert().values(resource_id=resource_id, version=version, **values)
        )


async def get_version(conn: Reader, resource_id: str, version: int) -> pb.Resource | None:
    body = await conn.scalar(
        sa.select(resource_versions.c.body).where(
            (resource_versions.c.resource_id == resource_id)
            & (resource_versions.c.version == version)
        )
    )
    return None if body is None else pb.Resource.FromString(body)


async def set_state(
    conn: AsyncConnection, resource_id: str, state: int, **values: Any
) -> pb.Resource:
    await conn.execute(
        resources.update()
        .where(resources.c.id == resource_id)
        .values(state=state, updated_us=now_us(), **values)
    )
    changed = await get_resource(conn, resource_id)
    assert changed is not None
    return changed


# Built once: the hot read skips statement construction and cache-key generation per call.
_BY_ID = sa.select(resources).where(resources.c.id == sa.bindparam("id"))


_BY_ID_FOR_UPDATE = _BY_ID.with_for_update()


async def get_resource(
    conn: Reader, resource_id: str, *, for_update: bool = False
) -> pb.Resource | None:
    """One working copy; `for_update` locks its row until the transaction ends (PostgreSQL)."""
    query = _BY_ID_FOR_UPDATE if for_update else _BY_ID
    row = (await conn.execute(query, {"id": resource_id})).first()
    return None if row is None else _resource(row._mapping)


async def resource_seq(conn: Reader, resource_id: str) -> int:
    seq = await conn.scalar(sa.select(resources.c.seq).where(resources.c.id == resource_id))
    return int(seq or 0)


async def find_by_request_id(conn: Reader, request_id: str) -> pb.Resource | None:
    query = sa.select(resources).where(resources.c.request_id == request_id)
    row = (await conn.execute(query)).first()
    return None if row is None else _resource(row._mapping)


async def list_resources(
    conn: Reader,
    *,
    after_seq: int,
    limit: int,
    departments: Sequence[str] | None,
    provider_department: str = "",
    state: int = 0,
) -> tuple[list[pb.Resource], int | None]:
    """One page of working copies in creation order, and the seq to continue after (None on the
    last page). `departments` limits what the caller may see (None: everything)."""
    query = sa.select(resources)
    if departments is not None:
        query = query.where(resources.c.provider_department.in_(departments))
    if provider_department:
        query = query.where(resources.c.provider_department == provider_department)
    if state:
        query = query.where(resources.c.state == state)
    rows, next_after = await page(
        conn, query, position=resources.c.seq, after=after_seq, limit=limit
    )
    return [_resource(r._mapping) for r in rows], next_after


async def add_transition(
    conn: AsyncConnection,
    resource_id: str,
    *,
    version: int,
    from_state: int,
    to_state: int,
    actor_department: str,
    comment: str,
) -> None:
    await conn.execute(
        transitions.insert().values(
            resource_id=resource_id,
            version=version,
            from_state=from_state,
            to_state=to_state,
            actor_department=actor_department,
            comment=comment,
            at_us=now_us(),
        )
    )


async def history(conn: Reader, resource_id: str) -> list[pb.Transition]:
    rows = await conn.execute(
        sa.select(transitions)
        .where(transitions.c.resource_id == resource_id)
        .order_by(transitions.c.seq)
    )
    return [
        pb.Transition(
            version=m["version"],
            from_state=m["from_state"],
            to_state=m["to_state"],
            actor_department=m["actor_department"],
            comment=m["comment"],
            time=timestamp(m["at_us"]),
        )
        for m in (r._mapping for r in rows)
    ]


# --- the share and open catalogs ---------------------------------------------------------------


def _index_fields(resource: pb.Resource) -> list[tuple[str, int]]:
    """What search looks in, and how much a match there weighs."""
    fields = [(resource.name, 4), (resource.code, 4), (resource.summary, 1)]
    fields += [(word, 3) for word in resource.keywords]
    for item in resource.data_items:
        fields += [(item.name, 2), (item.description, 1)]
    return fields


async def list_entry(conn: AsyncConnection, resource: pb.Resource, *, published_us: int) -> None:
    """List `resource` (its published version, with output fields) in the catalogs, replacing
    the entry of an earlier version and its search terms."""
    seq = await resource_seq(conn, resource.id)
    await unlist_entry(conn, seq)
    await conn.execute(
        catalog_entries.insert().values(
            seq=seq,
            resource_id=resource.id,
            provider_department=resource.provider_department,
            classification=domain.classification_code(resource.classification),
            share_type=resource.share_type,
            open_type=resource.open_type,
            update_cycle=resource.update_cycle,
            data_grade=resource.data_grade,
            in_share=resource.in_share_catalog,
            in_open=resource.in_open_catalog,
            published_us=published_us,
            body=resource.SerializeToString(),
            brief=_brief(resource).SerializeToString(),
        )
    )
    terms = search.index_terms(_index_fields(resource))
    if terms:
        await conn.execute(
            search_terms.insert(),
            [{"term": t, "seq": seq, "weight": w} for t, w in terms.items()],
        )


def _brief(resource: pb.Resource) -> pb.Resource:
    brief = pb.Resource()
    brief.CopyFrom(resource)
    brief.ClearField("data_items")
    return brief


async def unlist_entry(conn: AsyncConnection, seq: int) -> None:
    await conn.execute(search_terms.delete().where(search_terms.c.seq == seq))
    await conn.execute(catalog_entries.delete().where(catalog_entries.c.seq == seq))


@dataclass(frozen=True)
class CatalogFilter:
    """What a search of one catalog narrows to; empty fields do not narrow."""

    open_catalog: bool
    terms: Sequence[str] = ()
    # the data items too (the FULL view)
    full: bool = False
    provider_department: str = ""
    classification: str = ""
    share_type: int = 0
    open_type: int = 0
    update_cycle: int = 0
    data_grade: int = 0

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        e = catalog_entries.c
        out: list[sa.ColumnElement[bool]] = [e.in_open if self.open_catalog else e.in_share]
        if self.provider_department:
            out.append(e.provider_department == self.provider_department)
        if self.classification:
            # digits only (validated), so no LIKE wildcard can come from the caller
            out.append(e.classification.like(f"{self.classification}%"))
        for column, value in (
            (e.share_type, self.share_type),
            (e.open_type, self.open_type),
            (e.update_cycle, self.update_cycle),
            (e.data_grade, self.data_grade),
        ):
            if value:
                out.append(column == value)
        return out


async def search_entries(
    conn: Reader, where: CatalogFilter, *, after: tuple[int, str] | None, limit: int
) -> tuple[list[pb.Resource], tuple[int, str] | None]:
    """One page of listed resources: every query term must match; best match first (the sum of
    the terms' weights), then newest. Without terms, newest published first. Returns the key to
    continue after (None on the last page).

    The rarest term drives the lookup and the others are probed by key, so a query costs what
    its rarest term costs; a one-term query reads its best matches straight off the index.
    """
    e = catalog_entries.c
    body = e.body if where.full else e.brief
    terms = list(where.terms)
    if not terms:
        rank: sa.ColumnElement[Any] = e.published_us
        position: sa.ColumnElement[Any] = e.seq
        query = sa.select(body.label("body"), position.label("seq"), rank.label("rank"))
    else:
        if len(terms) > 1:
            terms = await _rarest_first(conn, terms)
            if not terms:
                return [], None
        hits = [search_terms.alias(f"t{i}") for i in range(len(terms))]
        driver = hits[0]
        joined: sa.FromClause = driver
        for hit, term in zip(hits[1:], terms[1:], strict=True):
            joined = joined.join(hit, (hit.c.term == term) & (hit.c.seq == driver.c.seq))
        joined = joined.join(catalog_entries, e.seq == driver.c.seq)
        rank = functools.reduce(operator.add, [hit.c.weight for hit in hits])
        position = driver.c.seq
        query = (
            sa.select(body.label("body"), position.label("seq"), rank.label("rank"))
            .select_from(joined)
            .where(driver.c.term == terms[0])
        )
    query = query.where(*where.conditions())
    if after is not None:
        at, seq = after[0], int(after[1])
        query = query.where((rank < at) | ((rank == at) & (position < seq)))
    ordered = query.order_by(rank.desc(), position.desc()).limit(limit + 1)
    rows = (await conn.execute(ordered)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    found = [pb.Resource.FromString(r.body) for r in rows]
    return found, ((int(rows[-1].rank), str(rows[-1].seq)) if more else None)


async def _rarest_first(conn: Reader, terms: list[str]) -> list[str]:
    """The terms by how many entries hold them, fewest first; [] when one matches nothing."""
    t = search_terms.c
    rows: Any = await conn.execute(
        sa.select(t.term, sa.func.count()).where(t.term.in_(terms)).group_by(t.term)
    )
    counted: dict[str, int] = {term: int(n) for term, n in rows.all()}
    if len(counted) < len(terms):
        return []
    return sorted(terms, key=counted.__getitem__)


async def get_entry(conn: Reader, resource_id: str, *, open_catalog: bool) -> pb.Resource | None:
    e = catalog_entries.c
    listed = e.in_open if open_catalog else e.in_share
    body = await conn.scalar(sa.select(e.body).where((e.resource_id == resource_id) & listed))
    return None if body is None else pb.Resource.FromString(body)


# --- demands -----------------------------------------------------------------------------------


def _demand(m: Any, *, now: int) -> pb.Demand:
    out = pb.Demand(
        id=m["id"],
        title=m["title"],
        description=m["description"],
        suggested_department=m["suggested_department"],
        state=m["state"],
        department=m["department"],
        outcome=m["outcome"],
        answer=m["answer"],
        resource_id=m["resource_id"],
        requester_kind=m["requester_kind"],
        create_time=timestamp(m["created_us"]),
        overdue=domain.demand_overdue(
            state=m["state"], due_us=m["due_us"], answer_us=m["answer_us"], now=now
        ),
    )
    if m["due_us"] is not None:
        out.due_time.CopyFrom(timestamp(m["due_us"]))
    if m["answer_us"] is not None:
        out.answer_time.CopyFrom(timestamp(m["answer_us"]))
    return out


async def insert_demand(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(demands.insert().values(**values))


async def update_demand(conn: AsyncConnection, demand_id: str, **values: Any) -> None:
    await conn.execute(demands.update().where(demands.c.id == demand_id).values(**values))


async def get_demand(conn: Reader, demand_id: str) -> tuple[pb.Demand, str] | None:
    """The demand and the account that asked (for the caller's own checks only)."""
    row = (await conn.execute(sa.select(demands).where(demands.c.id == demand_id))).first()
    if row is None:
        return None
    return _demand(row._mapping, now=now_us()), row._mapping["requester"]


async def find_demand_by_request_id(conn: Reader, request_id: str) -> pb.Demand | None:
    row = (await conn.execute(sa.select(demands).where(demands.c.request_id == request_id))).first()
    return None if row is None else _demand(row._mapping, now=now_us())


async def list_demands(
    conn: Reader,
    *,
    after: int,
    limit: int,
    requester: str = "",
    state: int = 0,
    department: str = "",
    overdue: bool = False,
) -> tuple[list[pb.Demand], int | None]:
    """Newest first: the cursor is the seq to continue below (0 for the first page)."""
    d = demands.c
    now = now_us()
    query = sa.select(demands)
    if requester:
        query = query.where(d.requester == requester)
    if state:
        query = query.where(d.state == state)
    if department:
        query = query.where(d.department == department)
    if overdue:
        query = query.where(
            ((d.state == pb.DEMAND_STATE_ROUTED) & (d.due_us < now))
            | ((d.state == pb.DEMAND_STATE_ANSWERED) & (d.answer_us > d.due_us))
        )
    rows, below = await page_newest_first(conn, query, position=d.seq, before=after, limit=limit)
    return [_demand(r._mapping, now=now) for r in rows], below


# --- facts for the scorecards ------------------------------------------------------------------


async def record_refresh(
    conn: AsyncConnection, *, resource_id: str, department: str, version: int, updated_us: int
) -> None:
    """The latest data update of a resource; an older event arriving late changes nothing."""
    r = data_refreshes.c
    done = await conn.execute(
        data_refreshes.update()
        .where((r.resource_id == resource_id) & (r.updated_us < updated_us))
        .values(version=version, updated_us=updated_us, provider_department=department)
    )
    if done.rowcount == 0 and not await conn.scalar(
        sa.select(r.version).where(r.resource_id == resource_id)
    ):
        await conn.execute(
            data_refreshes.insert().values(
                resource_id=resource_id,
                provider_department=department,
                version=version,
                updated_us=updated_us,
            )
        )


async def record_share_request(
    conn: AsyncConnection,
    *,
    request_id: str,
    department: str,
    submitted_us: int,
    decided_us: int | None = None,
    outcome: int = 0,
    late: bool = False,
) -> None:
    """A share request as the exchange reported it: submitted, then decided (in any order)."""
    s = share_requests.c
    known = await conn.scalar(sa.select(s.id).where(s.id == request_id))
    if known is None:
        await conn.execute(
            share_requests.insert().values(
                id=request_id,
                provider_department=department,
                submitted_us=submitted_us,
                decided_us=decided_us,
                outcome=outcome,
                late=late,
            )
        )
    elif decided_us is not None:
        await conn.execute(
            share_requests.update()
            .where(s.id == request_id)
            .values(decided_us=decided_us, outcome=outcome, late=late)
        )


@dataclass
class ProviderFacts:
    """What the scorecard of one department is computed from."""

    department: str
    registered: int = 0
    completeness_sum: float = 0.0
    # (update cycle, last refresh us) of each listed resource
    published: list[tuple[int, int]] = field(default_factory=list)
    share_received: int = 0
    share_answered: int = 0
    share_granted: int = 0
    share_late: int = 0
    share_hours_sum: float = 0.0
    demands_routed: int = 0
    demands_answered: int = 0
    demands_on_time: int = 0
    demands_overdue: int = 0


async def provider_facts(conn: Reader, *, now: int) -> dict[str, ProviderFacts]:
    facts: dict[str, ProviderFacts] = {}

    def of(department: str) -> ProviderFacts:
        return facts.setdefault(department, ProviderFacts(department))

    r = resources.c
    rows: Any = await conn.execute(
        sa.select(r.provider_department, sa.func.count(), sa.func.sum(r.completeness))
        .where(r.state != domain.WITHDRAWN)
        .group_by(r.provider_department)
    )
    for department, count, total in rows.all():
        f = of(department)
        f.registered, f.completeness_sum = int(count), float(total or 0.0)
    e, d = catalog_entries.c, data_refreshes.c
    rows = await conn.execute(
        sa.select(e.provider_department, e.update_cycle, e.published_us, d.updated_us).join(
            data_refreshes, d.resource_id == e.resource_id, isouter=True
        )
    )
    for department, cycle, published_us, refreshed_us in rows.all():
        of(department).published.append((cycle, max(published_us, refreshed_us or 0)))
    s = share_requests.c
    rows = await conn.execute(
        sa.select(
            s.provider_department,
            sa.func.count(),
            sa.func.count(s.decided_us),
            sa.func.sum(sa.case((s.outcome == 1, 1), else_=0)),
            sa.func.sum(sa.case((s.late, 1), else_=0)),
            sa.func.sum(s.decided_us - s.submitted_us),
        ).group_by(s.provider_department)
    )
    for department, received, answered, granted, late, waited_us in rows.all():
        f = of(department)
        f.share_received, f.share_answered = int(received), int(answered)
        f.share_granted, f.share_late = int(granted or 0), int(late or 0)
        f.share_hours_sum = float(waited_us or 0) / 3_600_000_000
    m = demands.c
    answered = m.state == pb.DEMAND_STATE_ANSWERED
    rows = await conn.execute(
        sa.select(
            m.department,
            sa.func.count(),
            sa.func.sum(sa.case((answered, 1), else_=0)),
            sa.func.sum(sa.case((answered & (m.answer_us <= m.due_us), 1), else_=0)),
            sa.func.sum(
                sa.case(((m.state == pb.DEMAND_STATE_ROUTED) & (m.due_us < now), 1), else_=0)
            ),
        )
        .where(m.department != "")
        .group_by(m.department)
    )
    for department, routed, answered_n, on_time, overdue in rows.all():
        f = of(department)
        f.demands_routed, f.demands_answered = int(routed), int(answered_n or 0)
        f.demands_on_time, f.demands_overdue = int(on_time or 0), int(overdue or 0)
    return facts
