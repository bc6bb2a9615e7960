"""Run the greeter alone: `python -m greeter` (with tests/integration on the path), as
`python -m services.<name>` runs one of the platform's services."""

from __future__ import annotations

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


def _add_servicers(server: grpc.aio.Server, rt: ServiceRuntime) -> None:
    SPEC.add_servicer(Greeter(), server)


DEFINITION = ServiceDefinition(
    name=SPEC.name,
    grpc_services=[SPEC.grpc_service],
    migrations=[],
    add_servicers=_add_servicers,
    policies={f"/{SERVICE}/Greet": Policy(anonymous=True)},
)

if __name__ == "__main__":
    service_registry.register(SPEC)  # the line the platform's own services have in the table
    run(DEFINITION)
