"""Presentations (亮证) and their verification (验证), online here and offline anywhere.

A holder's presentation is the issuer-signed credential, the disclosures of the claims they chose,
and a binding signed with the platform's SM2 key that gives it an id and a life of minutes.

Online verification trusts nothing it is shown: the credential's SM2 signature is checked against
the trust list (once per credential and process: the bytes never change), the whole presentation
must be one this platform made (its SM3 digest is on record: a binding cannot be reused with other
parts, and no signature has to be checked per request), the licence's status is read from the
database on every call (a revocation is seen at once), and the first verifier to check a
presentation is remembered: another verifier presenting it again, and any anonymous verifier
after the first verification (anonymous verifiers cannot show they came first), is told it was
replayed. The
first verification and the holder's log entry are written behind the answer, in batches
(`runtime.writebehind`): across replicas, a replay inside one write interval (50 ms) is only
logged. Verifying reads one row and writes nothing while the verifier waits.

The trust list and the status list are published for offline verifiers
(`smartcity licence verify`; the algorithm is in `credential`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runtime import logs
from runtime.auth import Principal
from runtime.errors import FailedPrecondition, NotFound
from runtime.service import ServiceRuntime
from runtime.storage import now_us, timestamp
from runtime.ttlcache import TtlCache
from runtime.writebehind import WriteBehind
from services.licences import credential, domain, store, types
from services.licences.credential import CredentialError, PresentationAltered, TrustList
from services.licences.licences import Licences
from services.licences.upstream import Upstream
from smartcity.licences.v1 import licences_pb2 as pb

log = logs.get(__name__)

R = pb.VerificationResult
RESULTS = {
    domain.SUSPENDED: R.VERIFICATION_RESULT_SUSPENDED,
    domain.REVOKED: R.VERIFICATION_RESULT_REVOKED,
    domain.SUPERSEDED: R.VERIFICATION_RESULT_SUPERSEDED,
    domain.EXPIRED: R.VERIFICATION_RESULT_EXPIRED,
}
# Verdicts on the presentation itself, not the licence: audited as refusals.
REFUSALS = frozenset(
    {
        R.VERIFICATION_RESULT_FORGED,
        R.VERIFICATION_RESULT_MALFORMED,
        R.VERIFICATION_RESULT_PRESENTATION_EXPIRED,
        R.VERIFICATION_RESULT_REPLAYED,
    }
)
MAX_SKEW_SECONDS = 30
TRUST_LIST_SECONDS = 300.0
STATUS_LIST_TTL = 300  # seconds an offline verifier may rely on a downloaded list
PURGE_EVERY_SECONDS = 3600.0
# How a valid answer about another platform's licence begins: its status was not checked.
STATUS_UNKNOWN = "status_unknown"


class TrustSource:
    """The trust list, built from the keys service's public keys and kept for five minutes;
    a credential naming a key version it lacks refreshes it once."""

    def __init__(self, upstream: Upstream, *, external: Sequence[Mapping[str, Any]] = ()) -> None:
        self._up = upstream
        # other platforms' issuers, checked at start (services.licences.external)
        self._external = list(external)
        self._list: TrustList | None = None
        self._built = 0.0
        self._lock = asyncio.Lock()

    async def get(self, *, fresh: bool = False) -> TrustList:
        if (
            self._list is not None
            and not fresh
            and time.monotonic() - self._built < TRUST_LIST_SECONDS
        ):
            return self._list
        async with self._lock:
            if self._list is None or fresh or time.monotonic() - self._built >= TRUST_LIST_SECONDS:
                self._list = await self._build()
                self._built = time.monotonic()
        return self._list

    async def _keys(self, name: str) -> list[dict[str, object]]:
        newest = await self._up.public_key(name)
        found = [newest]
        for version in range(1, newest.version):
            try:
                found.append(await self._up.public_key(name, version))
            except FailedPrecondition:
                continue  # a destroyed version verifies nothing any more
        return [
            {
                "name": k.name,
                "version": k.version,
                "algorithm": k.algorithm,
                "public_key_pem": k.public_key_pem,
            }
            for k in sorted(found, key=lambda k: k.version)
        ]

    async def _build(self) -> TrustList:
        departments = sorted({t.department for t in types.TYPES.values()})
        issuers: list[Mapping[str, Any]] = [
            {
                "department": d,
                "licence_types": [t.key for t in types.TYPES.values() if t.department == d],
                "keys": await self._keys(domain.licence_key(d)),
            }
            for d in departments
        ]
        issuers.extend(self._external)
        platform = {"keys": await self._keys(domain.PLATFORM_KEY)}
        return TrustList.from_json({"issuers": issuers, "platform": platform})


@dataclass(frozen=True, slots=True)
class Verified:
    """A first verification, to be written behind: its claim and the holder's log entry."""

    presentation_id: str
    verifier: str
    use: dict[str, Any]


class Presentations:
    def __init__(
        self, rt: ServiceRuntime, upstream: Upstream, licences: Licences, trust: TrustSource
    ) -> None:
        self._rt = rt
        self._up = upstream
        self._licences = licences
        self._trust = trust
        # credential text -> why it is forged ("" when its signature verifies)
        self._credentials: TtlCache[str, str] = TtlCache(seconds=3600.0, size=20_000)
        self._status_list: tuple[tuple[int, int], str] | None = None
        # presentation id -> its first verifier, claimed here and not yet (or just) written
        self._claimed: TtlCache[str, str] = TtlCache(
            seconds=domain.PRESENTATION_TTL[1] + MAX_SKEW_SECONDS, size=200_000
        )
        self._uses: WriteBehind[Verified] = WriteBehind(self._write_uses, name="licence-uses")
        self._status_lock = asyncio.Lock()

    # --- presenting ------------------------------------------------------------------------

    async def create(
        self, principal: Principal, request: pb.CreatePresentationRequest
    ) -> pb.CreatePresentationResponse:
        row = await self._licences.readable(principal, request.licence_id)
        if row.holder not in domain.holders_of(principal):
            # its issuer may read it, but only its holder presents it
            raise NotFound("licence", request.licence_id[:100])
        status = domain.effective_status(row.status, row.valid_until, on=domain.today())
        if status != domain.VALID:
            raise FailedPrecondition(f"a {status} licence cannot be presented")
        disclosures: dict[str, str] = self._licences.contents.open(row)["disclosures"]
        names = domain.chosen_claims(request.disclose, list(disclosures), field="disclose")
        ttl = domain.presentation_ttl(request.ttl_seconds)
        prefix = credential.presentation_prefix(row.credential, [disclosures[n] for n in names])
        presentation_id = str(uuid.uuid4())
        issued = int(time.time())
        payload = credential.binding_payload(
            prefix=prefix,
            presentation_id=presentation_id,
            licence_id=row.id,
            issued_at=issued,
            expires_at=issued + ttl,
        )
        signature = await self._up.sign_as_platform(
            key=domain.PLATFORM_KEY, message=credential.binding_signing_input(payload)
        )
        text = prefix + credential.compact(payload, signature)
        async with self._rt.unit_of_work() as uow:
            await store.add_presentation(
                uow.conn,
                id=presentation_id,
                licence_id=row.id,
                digest=credential.sm3(text.encode()).hex(),
                claims=names,
                created_us=issued * 1_000_000,
                expires_us=(issued + ttl) * 1_000_000,
            )
            await uow.audit(
                "licence.presented",
                principal=principal,
                resource_type="licence",
                resource_id=row.id,
            )
        return pb.CreatePresentationResponse(
            presentation=text,
            presentation_id=presentation_id,
            expire_time=timestamp((issued + ttl) * 1_000_000),
            disclosed=names,
        )

    # --- verifying -------------------------------------------------------------------------

    async def verify(self, principal: Principal | None, text: str) -> pb.VerifyPresentationResponse:
        verdict = await self._verify(principal, text)
        if verdict.result in REFUSALS:
            await self._rt.audit_denied(
                action="licence.verify",
                principal=principal,
                resource_type="presentation",
                resource_id=verdict.presentation_id,
            )
        return verdict

    async def _verify(
        self, principal: Principal | None, text: str
    ) -> pb.VerifyPresentationResponse:
        try:
            presented = credential.parse_presentation(text)
        except PresentationAltered as exc:
            return _verdict(R.VERIFICATION_RESULT_FORGED, str(exc))
        except CredentialError as exc:
            return _verdict(R.VERIFICATION_RESULT_MALFORMED, str(exc))
        cred = presented.credential
        binding = presented.binding_payload
        about = {
            "licence_id": str(cred.payload["id"]),
            "licence_type": str(cred.payload["lt"]),
            "issuer_department": str(cred.payload["iss"]),
            "presentation_id": str(binding["jti"]),
            "expire_time": timestamp(int(binding["exp"]) * 1_000_000),
        }
        forged = await self._credential_forged(cred)
        if forged:
            return _verdict(R.VERIFICATION_RESULT_FORGED, forged, **about)
        external = await self._external_verdict(principal, presented, about)
        if external is not None:
            return external
        return await self._verify_own(principal, text, presented, about)

    async def _verify_own(
        self,
        principal: Principal | None,
        text: str,
        presented: credential.Presentation,
        about: dict[str, Any],
    ) -> pb.VerifyPresentationResponse:
        """This platform's presentation: made here, on record, its licence's status read now."""
        cred, binding = presented.credential, presented.binding_payload
        async with self._rt.db.read() as conn:
            record = await store.presented(conn, str(binding["jti"]))
        if record is None or record.digest != credential.sm3(text.encode()).hex():
            return _verdict(
                R.VERIFICATION_RESULT_FORGED,
                "the presentation was not made by this platform",
                **about,
            )
        if record.credential != cred.compact:
            return _verdict(
                R.VERIFICATION_RESULT_FORGED, "the credential is not the licence on record", **about
            )
        now = time.time()
        if now > int(binding["exp"]) + MAX_SKEW_SECONDS:
            return _verdict(
                R.VERIFICATION_RESULT_PRESENTATION_EXPIRED,
                "the presentation has expired: ask the holder for a new one",
                **about,
            )
        verifier = domain.verifier_of(principal)
        if self._claim(principal, presented, record, verifier) != verifier:
            return _verdict(
                R.VERIFICATION_RESULT_REPLAYED,
                "the presentation was already verified by another verifier",
                **about,
            )
        status = domain.effective_status(record.status, record.valid_until, on=domain.today())
        if status in RESULTS:
            why = f"the licence is {status}"
            if status == domain.SUPERSEDED and record.status_reason:
                # the issuer's reason (换领, 补领, a renewal's): the verifier knows to ask for
                # the licence that replaced it
                why += f": {record.status_reason}"
            return _verdict(RESULTS[status], why, **about)
        if domain.today().isoformat() < record.valid_from:
            return _verdict(
                R.VERIFICATION_RESULT_NOT_YET_VALID, "the licence is not valid yet", **about
            )
        verdict = _verdict(R.VERIFICATION_RESULT_VALID, "", **about)
        verdict.valid_until = record.valid_until or ""
        for d in presented.disclosures:
            verdict.disclosed[d.name] = domain.claim_text(d.value)
        return verdict

    async def _external_verdict(
        self,
        principal: Principal | None,
        presented: credential.Presentation,
        about: dict[str, Any],
    ) -> pb.VerifyPresentationResponse | None:
        """The verdict on another platform's presentation (None: the issuer is this platform's).

        Its own platform's keys bound it (there is no record of it here), so its binding, its
        life and the licence's dates are checked as an offline verifier does. Its status list is
        that platform's and is not fetched (no outbound traffic): a valid answer says its status
        is unknown."""
        trust = await self._trust.get()
        issuer = trust.issuers.get(presented.credential.issuer)
        if issuer is None or not issuer.external:
            return None
        forged = credential.verify_binding_signature(presented, trust)
        binding = presented.binding_payload
        if forged is None and not (
            0 <= int(binding["exp"]) - int(binding["iat"]) <= credential.MAX_PRESENTATION_LIFE
        ):
            forged = "the presentation claims a life its platform never gives one"
        if forged is not None:
            return _verdict(R.VERIFICATION_RESULT_FORGED, forged, **about)
        now = time.time()
        if now < int(binding["iat"]) - MAX_SKEW_SECONDS:
            return _verdict(
                R.VERIFICATION_RESULT_PRESENTATION_EXPIRED,
                "the presentation is dated in the future",
                **about,
            )
        if now > int(binding["exp"]) + MAX_SKEW_SECONDS:
            return _verdict(
                R.VERIFICATION_RESULT_PRESENTATION_EXPIRED,
                "the presentation has expired: ask the holder for a new one",
                **about,
            )
        # Replays are seen per replica only: there is no record of it to claim in the database.
        presentation_id = str(binding["jti"])
        verifier = domain.verifier_of(principal)
        first = self._claimed.get(presentation_id)
        if first is not None and first != verifier:
            return _verdict(
                R.VERIFICATION_RESULT_REPLAYED,
                "the presentation was already verified by another verifier",
                **about,
            )
        self._claimed.put(presentation_id, verifier)
        today = domain.today().isoformat()
        until = presented.credential.payload["exp"]
        if until is not None and today > str(until):
            return _verdict(R.VERIFICATION_RESULT_EXPIRED, "the licence has expired", **about)
        if today < str(presented.credential.payload["nbf"]):
            return _verdict(
                R.VERIFICATION_RESULT_NOT_YET_VALID, "the licence is not valid yet", **about
            )
        verdict = _verdict(
            R.VERIFICATION_RESULT_UNKNOWN_STATUS,
            f"{STATUS_UNKNOWN}: the licence is another platform's (issuer "
            f"{presented.credential.issuer}); its signatures and dates hold, but its status "
            "(revoked, suspended, superseded) is on that platform's status list, which is not "
            "checked online",
            **about,
        )
        verdict.valid_until = str(until or "")
        for d in presented.disclosures:
            verdict.disclosed[d.name] = domain.claim_text(d.value)
        return verdict

    async def _credential_forged(self, cred: credential.Credential) -> str:
        known = self._credentials.get(cred.compact)
        if known is not None:
            return known
        trust = await self._trust.get()
        issuer = trust.issuers.get(str(cred.payload["iss"]))
        if issuer is not None and (cred.key_name, cred.key_version) not in issuer.keys:
            trust = await self._trust.get(fresh=True)  # a version newer than the list
        forged = credential.verify_credential_signature(cred, trust) or ""
        self._credentials.put(cred.compact, forged)
        return forged

    def _claim(
        self,
        principal: Principal | None,
        presented: credential.Presentation,
        record: store.PresentedLicence,
        verifier: str,
    ) -> str:
        """Who verified this presentation first: as on record, else as claimed in this replica
        since, else this verifier, whose claim and use are then written behind."""
        presentation_id = str(presented.binding_payload["jti"])
        first = record.verifier or self._claimed.get(presentation_id)
        if first is not None:
            return first
        self._claimed.put(presentation_id, verifier)
        self._uses.add(
            Verified(
                presentation_id=presentation_id,
                verifier=verifier,
                use={
                    "id": str(uuid.uuid4()),
                    "licence_id": str(presented.credential.payload["id"]),
                    "licence_type": record.licence_type,
                    "holder": record.holder,
                    "kind": "verified",
                    "user": domain.party_of(principal),
                    "claims": [d.name for d in presented.disclosures],
                    "used_us": now_us(),
                },
            )
        )
        return verifier

    async def _write_uses(self, verified: list[Verified]) -> None:
        claims = [(v.presentation_id, v.verifier, v.use["used_us"]) for v in verified]
        async with self._rt.db.begin() as conn:
            first = await store.claim_first_verifications(conn, claims)
            # every verification is a use the holder sees, first or not
            await store.add_uses(conn, [v.use for v in verified])
        if 0 <= first < len(verified):  # (-1: the driver does not count executemany)
            # another replica's verifier came first, inside one write-behind interval
            log.warning("presentations_verified_twice", count=len(verified) - first)

    async def flush_uses(self) -> None:
        """Write the pending verifications now (before a holder lists their uses)."""
        await self._uses.flush()

    def run_uses(self) -> Coroutine[Any, Any, None]:
        return self._uses.run()

    # --- published lists -------------------------------------------------------------------

    async def trust_list(self) -> TrustList:
        return await self._trust.get()

    async def status_list(self) -> tuple[str, int]:
        """The signed status list; signed again only after a licence was issued or changed."""
        version = await self._status_version()
        cached = self._status_list
        if cached is not None and cached[0] == version:
            return cached[1], version[0]
        async with self._status_lock:
            if self._status_list is None or self._status_list[0] != version:
                async with self._rt.db.read() as conn:
                    # read after the version: the list is at least as new as `version`
                    version = await self._status_version()
                    statuses = await store.statuses(conn)
                compressed = credential.encode_status_list(
                    {i: domain.STATUS_CODES[s] for i, s in statuses.items()}, size=version[1] + 1
                )
                payload = credential.status_list_payload(
                    compressed=compressed,
                    issued_at=int(time.time()),
                    ttl=STATUS_LIST_TTL,
                    sequence=version[0],
                )
                signature = await self._up.sign_as_platform(
                    key=domain.PLATFORM_KEY, message=credential.sm3(payload)
                )
                self._status_list = (version, credential.compact(payload, signature))
            return self._status_list[1], self._status_list[0][0]

    async def _status_version(self) -> tuple[int, int]:
        """(status changes, highest index): the list changes when either does."""
        async with self._rt.db.read() as conn:
            changes = await store.counter(conn, store.STATUS_CHANGES)
            highest = await store.counter(conn, store.SERIAL)
        return changes, highest

    async def purge(self) -> None:
        """Forget presentations a day after they expired (their uses stay in the log)."""
        while True:
            await asyncio.sleep(PURGE_EVERY_SECONDS)
            try:
                async with self._rt.db.begin() as conn:
                    await store.purge_presentations(
                        conn, expired_before_us=now_us() - 86_400_000_000
                    )
            except Exception as exc:
                log.warning("presentation_purge_failed", error=type(exc).__name__)


def _verdict(result: int, reason: str, **about: object) -> pb.VerifyPresentationResponse:
    return pb.VerifyPresentationResponse(result=result, reason=reason, **about)  # type: ignore[arg-type]
