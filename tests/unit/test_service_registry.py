"""Every list of services is derived from the service registry: the config's lists, the
launcher's processes, the settings a process reads; a line registered at run time joins them."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from runtime import config, entrypoint, launcher, service_registry
from runtime.service_registry import ServiceSpec
from smartcity.catalog.v1 import catalog_pb2_grpc

EXTRA = ServiceSpec(name="parking", port=50080, metrics_port=9480, seals_data=True)


@pytest.fixture
def parking() -> Iterator[ServiceSpec]:
    service_registry.register(EXTRA)
    try:
        yield EXTRA
    finally:
        service_registry.unregister(EXTRA.name)


def test_the_configs_lists_are_the_registrys() -> None:
    platform = service_registry.SERVICES
    assert tuple(s.name for s in platform) == config.SERVICES
    assert {n: config.DEFAULT_PORTS[n] for n in config.SERVICES} == {
        s.name: s.port for s in platform
    }
    assert {n: config.DEFAULT_METRICS_PORTS[n] for n in config.SERVICES} == {
        s.name: s.metrics_port for s in platform
    }
    assert {s.name for s in platform if s.seals_data} == config.SEALS_DATA
    assert {s.name for s in platform if s.calls_as_itself} == config.CALLS_AS_ITSELF


def test_a_service_follows_the_naming_convention_unless_its_line_says_otherwise() -> None:
    catalog = service_registry.spec("catalog")
    assert catalog.grpc_service == "smartcity.catalog.v1.CatalogService"
    assert catalog.main_module == "services.catalog"
    with grpc.insecure_channel("127.0.0.1:1") as channel:  # never connected
        assert isinstance(catalog.stub(channel), catalog_pb2_grpc.CatalogServiceStub)


def test_a_registered_service_joins_every_list(parking: ServiceSpec) -> None:
    settings = config.load({"SMARTCITY_PARKING_PORT": "50081"})
    assert settings.port("parking") == 50081
    assert settings.metrics_port("parking") == 9480
    assert launcher.process_order()[-2:] == ("parking", "gateway")
    assert "SMARTCITY_PARKING_PORT" in entrypoint.settings_help("parking")
    # it seals data: production asks it for a master key
    with pytest.raises(config.ConfigError, match="SMARTCITY_MASTER_KEY"):
        config.check_production(config.load({"SMARTCITY_PRODUCTION": "true"}), process="parking")


def test_a_name_is_registered_once_and_the_platforms_stay(parking: ServiceSpec) -> None:
    with pytest.raises(ValueError, match="already registered"):
        service_registry.register(parking)
    with pytest.raises(ValueError, match="platform"):
        service_registry.unregister("catalog")
