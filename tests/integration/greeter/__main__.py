"""Run the greeter alone: `python -m greeter` (with tests/integration on the path), as
`python -m services.<name>` runs one of the platform's services."""

from __future__ import annotations

import os

import grpc
from google.protobuf.wrappers_pb2 import StringValue

from greeter import SPEC
from greeter.api import SERVICE
from runtime import service_registry
from runtime.auth import Policy
from runtime.service import ServiceDefinition, ServiceRuntime, run


class Greeter:
    async def Greet(self, request: StringValue, context: grpc.aio.ServicerContext) -> StringValue:
        return StringValue(value=f"Hello, {request.value}")


def _servicer(rt: ServiceRuntime) -> Greeter:
    return Greeter()


async def _start(rt: ServiceRuntime) -> None:
    # a start that fails once the database is open, for the test that it is closed again
    if os.environ.get("GREETER_FAIL_ON_START"):
        raise RuntimeError("the greeter fails to start, as asked")


DEFINITION = ServiceDefinition(
    name=SPEC.name,
    migrations=[],
    servicer=_servicer,
    policies={f"/{SERVICE}/Greet": Policy(anonymous=True)},
    on_start=_start,
)

if __name__ == "__main__":
    service_registry.register(SPEC)  # the line the platform's own services have in the table
    run(DEFINITION)
