"""The routes of the gateway's entry points, in one table: identity's (and its OAuth 2.0 token
endpoint), keys', the catalog's, the exchange's and the licences' (see the `*_routes` modules
beside this one)."""

from __future__ import annotations

from gateway import (
    catalog_routes,
    exchange_routes,
    identity_routes,
    keys_routes,
    licences_routes,
    oauth_routes,
    partners_routes,
)
from gateway.endpoints import Route

ROUTES: tuple[Route, ...] = (
    *identity_routes.ROUTES,
    *oauth_routes.ROUTES,
    *keys_routes.ROUTES,
    *catalog_routes.ROUTES,
    *exchange_routes.ROUTES,
    *licences_routes.ROUTES,
    *partners_routes.ROUTES,
)
