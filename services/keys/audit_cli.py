"""`smartcity audit verify`: check the audit chain from the keys service's database, without the
service running (an auditor's own check). Exit status 0 when intact, 1 when broken.

`smartcity assessment`: the cryptographic assessment of the keys service's keys, as JSON, from
the same database (an assessor's own copy, without going through the office entry point).

Both read `DIR/keys/keys.db` under `--data-dir` (or `SMARTCITY_DATABASE_URL`), never create it:
a database that is not there is one line naming where it was looked for, and exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson
from google.protobuf import json_format

from runtime import command_line, loop
from runtime.storage import now_us
from services.keys import assessment, audit, store

_DATA_DIR_HOLDS = "the keys service's database is DIR/keys/keys.db"


async def _verify(data_dir: Path | None) -> audit.Verdict:
    settings = command_line.settings(data_dir)
    async with command_line.reading_database(settings, "keys") as db:
        return await audit.verify_chain(db)


async def _assess(data_dir: Path | None) -> str:
    settings = command_line.settings(data_dir)
    async with command_line.reading_database(settings, "keys") as db, db.read() as conn:
        found, versions = await store.every_key(conn)
    report = assessment.assess(found, versions, now_us=now_us())
    return json_format.MessageToJson(report, preserving_proto_field_name=True)


def assess(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="smartcity assessment",
        description="The cryptographic assessment of every key of the keys service (Art. 39), "
        "as JSON, read from its database.",
    )
    command_line.add_data_dir(parser, holds=_DATA_DIR_HOLDS)
    parsed = command_line.parse(parser, args)
    if isinstance(parsed, int):
        return parsed
    print(loop.run(_assess(parsed.data_dir)))
    return 0


def run(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="smartcity audit",
        description="Check the audit chain from the keys service's database, without the "
        "service running. Exit status 0 when intact, 1 when broken.",
    )
    parser.add_argument("command", choices=["verify"])
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    command_line.add_data_dir(parser, holds=_DATA_DIR_HOLDS)
    parsed = command_line.parse(parser, args)
    if isinstance(parsed, int):
        return parsed
    verdict = loop.run(_verify(parsed.data_dir))
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
