"""The Big Data Bureau's evaluation of each provider's sharing work (Art. 15), computed from the
catalog's own records and the facts the exchange's events brought in."""

from __future__ import annotations

from runtime.auth import Principal
from runtime.service import ServiceRuntime
from runtime.storage import now_us, timestamp
from services.catalog import domain, store
from smartcity.catalog.v1 import catalog_pb2 as pb


def _card(f: store.ProviderFacts, *, now: int) -> pb.Scorecard:
    published = f.published
    fresh = sum(1 for cycle, last in published if domain.is_fresh(cycle, last, now=now))
    completeness = f.completeness_sum / f.registered if f.registered else 0.0
    freshness = fresh / len(published) if published else 1.0
    sharing = (f.share_answered - f.share_late) / f.share_received if f.share_received else 1.0
    demands = f.demands_on_time / f.demands_routed if f.demands_routed else 1.0
    return pb.Scorecard(
        department=f.department,
        score=domain.score(
            completeness=completeness, freshness=freshness, sharing=sharing, demands=demands
        ),
        resources_registered=f.registered,
        resources_published=len(published),
        metadata_completeness=round(completeness, 3),
        resources_fresh=fresh,
        freshness=round(freshness, 3),
        share_requests_received=f.share_received,
        share_requests_answered=f.share_answered,
        share_requests_granted=f.share_granted,
        share_requests_late=f.share_late,
        share_request_mean_hours=round(f.share_hours_sum / f.share_answered, 2)
        if f.share_answered
        else 0.0,
        demands_routed=f.demands_routed,
        demands_answered=f.demands_answered,
        demands_on_time=f.demands_on_time,
        demands_overdue=f.demands_overdue,
        compute_time=timestamp(now),
    )


async def scorecards(
    rt: ServiceRuntime, principal: Principal, department: str
) -> list[pb.Scorecard]:
    """The Bureau sees every provider ranked; any other department sees its own (ranked among
    all, so that it knows where it stands)."""
    now = now_us()
    async with rt.db.read() as conn:
        facts = await store.provider_facts(conn, now=now)
    own = principal.department
    if not domain.is_bureau(principal):
        department = own
    facts.setdefault(department or own, store.ProviderFacts(department or own))
    ranked = domain.rank([_card(f, now=now) for f in facts.values()])
    return [c for c in ranked if not department or c.department == department]
