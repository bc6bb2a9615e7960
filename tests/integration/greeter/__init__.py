"""The greeter: a service of the tests' own, to prove that adding a service to the platform is one
folder (this one) plus one line (`SPEC`, which `runtime.service_registry.SERVICES` would hold for
one of the platform's; the tests register it at run time)."""

from __future__ import annotations

from runtime.service_registry import ServiceSpec

SPEC = ServiceSpec(
    name="greeter",
    port=50069,
    metrics_port=9469,
    api="greeter.v1.GreeterService",
    stubs="greeter.api",
    module="greeter",
)
