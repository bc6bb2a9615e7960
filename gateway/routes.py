"""The routes of the gateway's entry points, in one table: each registered service's
(runtime.service_registry), from the gateway's `<service>_routes` module beside this one where it
has one, in the registry's order; identity's OAuth 2.0 endpoints follow identity's own routes."""

from __future__ import annotations

import importlib

from gateway import oauth_routes
from gateway.endpoints import Route
from runtime import service_registry

# Routes of a service kept in a module of their own besides `<service>_routes`.
_MORE: dict[str, tuple[Route, ...]] = {"identity": oauth_routes.ROUTES}


def service_routes(service: str) -> tuple[Route, ...]:
    """A service's routes: `gateway/<service>_routes.py`'s `ROUTES`, none without that module."""
    module_name = f"gateway.{service}_routes"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:  # a broken import inside the module is a bug, not absence
            raise
        return _MORE.get(service, ())
    declared: tuple[Route, ...] = module.ROUTES
    return (*declared, *_MORE.get(service, ()))


def table() -> tuple[Route, ...]:
    """Every registered service's routes."""
    return tuple(r for s in service_registry.names() for r in service_routes(s))


ROUTES: tuple[Route, ...] = table()
