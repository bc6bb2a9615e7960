"""The service registry: one line per service of the platform, and every list of services derived
from it (runtime.config's, the launcher's processes, the gateway's upstream stubs and routes).

Adding a service is its folder under `services/` plus one line in `SERVICES`. By convention a
service's gRPC API is `smartcity.<name>.v1.<Name>Service`, generated into
`smartcity/<name>/v1/<name>_pb2_grpc.py`, and `python -m services.<name>` runs it; a line says
otherwise only where a service differs. The generated code is imported only when a stub or a
servicer is asked for: every process reads this table, few need every service's stubs.

A line can also be registered at run time (`register`), before the settings are loaded: a process
outside this repository's services (a test's own) is then launched, reached and traced as theirs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import grpc


@dataclass(frozen=True, kw_only=True)
class ServiceSpec:
    """One service as the platform knows it."""

    name: str
    # default gRPC port (`SMARTCITY_<NAME>_PORT`) and Prometheus port (`..._METRICS_PORT`)
    port: int
    metrics_port: int
    # seals data at rest under the master key (runtime.crypto.master_key): production needs one
    seals_data: bool = False
    # calls other services as itself (ServiceRuntime.credentials): production needs its secret
    calls_as_itself: bool = False
    # the gRPC service's full name; empty: `smartcity.<name>.v1.<Name>Service`
    api: str = ""
    # the module holding `<Name>ServiceStub` and `add_<Name>ServiceServicer_to_server`;
    # empty: the generated `smartcity.<name>.v1.<name>_pb2_grpc`
    stubs: str = ""
    # what `python -m` runs; empty: `services.<name>`
    module: str = ""

    @property
    def grpc_service(self) -> str:
        """The full name of the service's gRPC API, for health, reflection and routing."""
        return self.api or f"smartcity.{self.name}.v1.{self.name.capitalize()}Service"

    @property
    def main_module(self) -> str:
        return self.module or f"services.{self.name}"

    def stub(self, channel: grpc.aio.Channel) -> object:
        """The generated client stub of the service over `channel`."""
        stub_class: Callable[[grpc.aio.Channel], object] = getattr(
            self._stubs(), f"{self._short_name}Stub"
        )
        return stub_class(channel)

    def add_servicer(self, servicer: object, server: grpc.aio.Server) -> None:
        """Register `servicer` as the implementation of the service's API on `server`."""
        add = getattr(self._stubs(), f"add_{self._short_name}Servicer_to_server")
        add(servicer, server)

    @property
    def _short_name(self) -> str:
        return self.grpc_service.rpartition(".")[2]

    def _stubs(self) -> ModuleType:
        return importlib.import_module(
            self.stubs or f"smartcity.{self.name}.v1.{self.name}_pb2_grpc"
        )


# The platform's services, in start order: identity first (everyone verifies its tokens), keys
# before the services that sign with its keys.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(name="identity", port=50061, metrics_port=9461, seals_data=True),
    ServiceSpec(name="keys", port=50064, metrics_port=9464, seals_data=True),
    ServiceSpec(name="catalog", port=50062, metrics_port=9462),
    ServiceSpec(name="exchange", port=50063, metrics_port=9463, calls_as_itself=True),
    ServiceSpec(
        name="licences", port=50065, metrics_port=9465, seals_data=True, calls_as_itself=True
    ),
    ServiceSpec(name="partners", port=50066, metrics_port=9466, seals_data=True),
)

_registered: list[ServiceSpec] = list(SERVICES)


def specs() -> tuple[ServiceSpec, ...]:
    """Every service, the platform's and any registered at run time, in start order."""
    return tuple(_registered)


def names() -> tuple[str, ...]:
    return tuple(s.name for s in _registered)


def spec(name: str) -> ServiceSpec:
    """The service called `name`; KeyError when there is none."""
    for candidate in _registered:
        if candidate.name == name:
            return candidate
    raise KeyError(name)


def register(added: ServiceSpec) -> None:
    """Add a service at run time (after the platform's); a name is registered once."""
    if added.name in names():
        raise ValueError(f"a service named {added.name!r} is already registered")
    _registered.append(added)


def unregister(name: str) -> None:
    """Forget a service registered at run time (the platform's own stay)."""
    if any(s.name == name for s in SERVICES):
        raise ValueError(f"{name!r} is one of the platform's services")
    _registered[:] = [s for s in _registered if s.name != name]
