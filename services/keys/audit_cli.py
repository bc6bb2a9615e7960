"""`smartcity audit verify`: check the audit chain from the keys service's database, without the
service running (an auditor's own check). Exit status 0 when intact, 1 when broken.

`smartcity assessment`: the cryptographic assessment of the keys service's keys, as JSON, from
the same database (an assessor's own copy, without going through the office entry point)."""

from __future__ import annotations

import argparse
import sys

import orjson
from google.protobuf import json_format

from runtime import config, loop
from runtime.storage import Database, now_us
from services.keys import assessment, audit, store


async def _verify() -> audit.Verdict:
    settings = config.load()
    db = Database(settings.database_url_for("keys"), service="keys")
    try:
        return await audit.verify_chain(db)
    finally:
        await db.close()


async def _assess() -> str:
    settings = config.load()
    db = Database(settings.database_url_for("keys"), service="keys")
    try:
        async with db.read() as conn:
            found, versions = await store.every_key(conn)
    finally:
        await db.close()
    report = assessment.assess(found, versions, now_us=now_us())
    return json_format.MessageToJson(report, preserving_proto_field_name=True)


def assess(args: list[str]) -> int:
    if args:
        print("usage: smartcity assessment", file=sys.stderr)
        return 2
    print(loop.run(_assess()))
    return 0


def run(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="smartcity audit", description=__doc__)
    parser.add_argument("command", choices=["verify"])
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    parsed = parser.parse_args(args)
    if parsed.command != "verify":
        return 2
    verdict = loop.run(_verify())
    if parsed.json:
        print(orjson.dumps(verdict.__dict__).decode())
    elif verdict.intact:
        print(
            f"audit chain intact: {verdict.records} records, {verdict.checkpoints} signed "
            "checkpoints"
        )
    else:
        print(
            f"audit chain BROKEN at record {verdict.first_broken}: {verdict.problem} "
            f"({verdict.records} records before it hold)",
            file=sys.stderr,
        )
    return 0 if verdict.intact else 1
